//! The gRPC loader contract (`proto/quiver/loader.proto`): its messages, and the client and
//! server tonic generates for it (a Rust upstream implements [`loader_server::Loader`]).

use std::collections::HashMap;

/// What Quiver asks an upstream for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LoadRequest {
    /// The collection named in the loader URL's path.
    #[prost(string, tag = "1")]
    pub collection: String,
    /// The loader key's value as text; empty when the table loads whole.
    #[prost(string, tag = "2")]
    pub key: String,
    /// The forwarded headers of the query that caused the load.
    #[prost(map = "string, string", tag = "3")]
    pub metadata: HashMap<String, String>,
}

/// One row, as a JSON object.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LoadResponse {
    /// A JSON object (UTF-8 text).
    #[prost(string, tag = "1")]
    pub document: String,
}

#[allow(missing_docs, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/quiver.loader.Loader.rs"));
}

pub use generated::{loader_client, loader_server};
