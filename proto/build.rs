//! Compiles proto/wirebench/v1/shop.proto and ws.proto (the WebSocket protocol's binary
//! frames) with protox (pure Rust, so no protoc binary is
//! needed) and hands the descriptor set to three generators:
//!
//! - tonic-prost-build: the messages and the Shop service (client and server) with prost's
//!   codec;
//! - pbjson-build: serde for every message in the proto3 JSON mapping (lowerCamelCase names,
//!   64-bit integers as strings, enums by name, RFC 3339 timestamps), the encoding of the
//!   gRPC JSON codec;
//! - tonic-prost-build again, the Shop server only, with that JSON codec (`json_v1`), over
//!   the same message types.
//!
//! The encoded descriptor set is also written out for gRPC server reflection.

use std::path::PathBuf;

use protox::prost::Message as _;

/// Well-known types with serde (pbjson-types), so the JSON mapping reaches timestamps.
const TIMESTAMP: (&str, &str) = (".google.protobuf.Timestamp", "::pbjson_types::Timestamp");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["wirebench/v1/shop.proto", "wirebench/v1/ws.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(protos, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let encoded = fds.encode_to_vec();
    std::fs::write(out.join("shop_descriptor.bin"), &encoded)?;
    tonic_prost_build::configure()
        .extern_path(TIMESTAMP.0, TIMESTAMP.1)
        .build_client(true)
        .build_server(true)
        .compile_fds(fds.clone())?;
    pbjson_build::Builder::new().register_descriptors(&encoded)?.build(&[".wirebench.v1"])?;
    let json = out.join("json");
    std::fs::create_dir_all(&json)?;
    tonic_prost_build::configure()
        .out_dir(&json)
        .extern_path(".wirebench.v1", "crate::v1")
        .extern_path(TIMESTAMP.0, TIMESTAMP.1)
        .codec_path("crate::json::JsonCodec")
        .build_client(false)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
