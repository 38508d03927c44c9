//! Fetching a key's documents from the upstream a loader names: REST (`http://`, `https://`:
//! GET, the key as a query parameter named after the key column, a JSON array or NDJSON
//! body) or gRPC (`grpc://`, `grpcs://`: the `quiver.loader.Loader/Load` stream of
//! `proto/quiver/loader.proto`). The whole fetch, connection included, has the loader's
//! timeout.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use futures::TryStreamExt;
use indexed_store::LoaderSpec;
use serde_json::Value as Json;

use super::documents::parse_body;
use super::grpc::{loader_client::LoaderClient, LoadRequest};
use crate::error::LoadProblem;

/// One HTTP client for every REST loader: connections are pooled across loads.
static HTTP: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

/// The documents the upstream returns for `key` (None: the whole table).
pub(crate) async fn fetch(
    spec: &LoaderSpec,
    table: &str,
    key: Option<&str>,
    headers: &HashMap<String, String>,
) -> Result<Vec<Json>, LoadProblem> {
    let forwarded: HashMap<String, String> = spec
        .forward_headers
        .iter()
        .filter_map(|h| headers.get(h).map(|v| (h.clone(), v.clone())))
        .collect();
    let timeout = Duration::from_secs(spec.timeout_secs);
    let fetch = async {
        if spec.url.starts_with("grpc://") || spec.url.starts_with("grpcs://") {
            fetch_grpc(spec, table, key, forwarded).await
        } else {
            fetch_rest(spec, key, forwarded).await
        }
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .unwrap_or(Err(LoadProblem::Timeout(spec.timeout_secs)))
}

async fn fetch_rest(
    spec: &LoaderSpec,
    key: Option<&str>,
    headers: HashMap<String, String>,
) -> Result<Vec<Json>, LoadProblem> {
    let mut request = HTTP.get(&spec.url);
    if let (Some(column), Some(key)) = (&spec.key_column, key) {
        request = request.query(&[(column, key)]);
    }
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| LoadProblem::Unreachable(error_chain(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| LoadProblem::Unreachable(error_chain(&e)))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let shown: String = text.chars().take(200).collect();
        return Err(LoadProblem::Status(format!(
            "HTTP {status}: {}",
            shown.trim()
        )));
    }
    parse_body(&body)
}

async fn fetch_grpc(
    spec: &LoaderSpec,
    table: &str,
    key: Option<&str>,
    headers: HashMap<String, String>,
) -> Result<Vec<Json>, LoadProblem> {
    let (endpoint, collection) = grpc_target(&spec.url, table);
    let channel = tonic::transport::Endpoint::from_shared(endpoint)
        .map_err(|e| LoadProblem::Unreachable(e.to_string()))?
        .connect()
        .await
        .map_err(|e| LoadProblem::Unreachable(error_chain(&e)))?;
    let mut request = tonic::Request::new(LoadRequest {
        collection,
        key: key.unwrap_or_default().to_owned(),
        metadata: headers.clone(),
    });
    for (name, value) in &headers {
        if let (Ok(name), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(name.as_bytes()),
            value.parse(),
        ) {
            request.metadata_mut().insert(name, value);
        }
    }
    let status =
        |s: tonic::Status| LoadProblem::Status(format!("gRPC {:?}: {}", s.code(), s.message()));
    let mut stream = LoaderClient::new(channel)
        .load(request)
        .await
        .map_err(status)?
        .into_inner();
    let mut documents = Vec::new();
    while let Some(response) = stream.try_next().await.map_err(status)? {
        let doc = serde_json::from_str(&response.document).map_err(|e| {
            LoadProblem::Malformed(format!(
                "document {} does not parse: {e}",
                documents.len() + 1
            ))
        })?;
        documents.push(doc);
    }
    Ok(documents)
}

/// The HTTP/2 endpoint and the collection of a `grpc://host:port/collection` URL (the
/// table's name when the path is empty).
fn grpc_target(url: &str, table: &str) -> (String, String) {
    let (scheme, rest) = match url.strip_prefix("grpcs://") {
        Some(rest) => ("https", rest),
        None => ("http", url.trim_start_matches("grpc://")),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let collection = match path.trim_matches('/') {
        "" => table.to_owned(),
        p => p.to_owned(),
    };
    (format!("{scheme}://{authority}"), collection)
}

/// An error and its sources in one line ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::grpc_target;

    #[test]
    fn grpc_urls_name_an_endpoint_and_a_collection() {
        assert_eq!(
            grpc_target("grpc://127.0.0.1:9000/crm_accounts", "accounts"),
            ("http://127.0.0.1:9000".into(), "crm_accounts".into())
        );
        assert_eq!(
            grpc_target("grpcs://up.example:443", "accounts"),
            ("https://up.example:443".into(), "accounts".into())
        );
    }
}
