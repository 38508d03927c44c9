//! Generates the gRPC client and server of `proto/quiver/loader.proto` (the loader contract)
//! with tonic's manual builder: the two messages are written by hand with prost's derive in
//! `src/table/loader/grpc.rs`, so building needs no `protoc`.

fn main() {
    let load = tonic_build::manual::Method::builder()
        .name("load")
        .route_name("Load")
        .input_type("crate::table::loader::grpc::LoadRequest")
        .output_type("crate::table::loader::grpc::LoadResponse")
        .codec_path("tonic_prost::ProstCodec")
        .server_streaming()
        .build();
    let service = tonic_build::manual::Service::builder()
        .name("Loader")
        .package("quiver.loader")
        .comment("What a gRPC upstream serves for a Quiver table's loader.")
        .method(load)
        .build();
    tonic_build::manual::Builder::new().compile(&[service]);
    println!("cargo:rerun-if-changed=build.rs");
}
