//! Compiles proto/wirebench/v1/shop.proto with protox (pure Rust, so no protoc binary is
//! needed) and hands the descriptor set to tonic-prost-build for code generation. The
//! encoded descriptor set is also written out for gRPC server reflection.

use std::path::PathBuf;

use protox::prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "wirebench/v1/shop.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("shop_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
