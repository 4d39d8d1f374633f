//! Compiles the .proto files under `protos/` with protox (a pure-Rust protobuf
//! compiler, so no `protoc` is needed) and generates prost messages and tonic
//! services into OUT_DIR.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "spoor/model.proto",
        "otlp/trace_service.proto",
        "zipkin/zipkin.proto",
        "jaeger/model.proto",
        "jaeger/collector.proto",
        "jaeger/query.proto",
        "jaeger/sampling.proto",
        "jaeger/api_v3.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed=protos/{f}");
    }
    let fds = protox::compile(files, ["protos"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("descriptors.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .bytes(".")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
