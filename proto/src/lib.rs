//! Generated gRPC types and service stubs for `wirebench.v1` (see `proto/wirebench/v1/shop.proto`),
//! and the WebSocket protocol's binary messages (`proto/wirebench/v1/ws.proto`).

pub mod convert;
pub mod json;

/// The `wirebench.v1` package: prost's messages (with serde in the proto3 JSON mapping,
/// from pbjson) and the Shop service's client and server with prost's codec.
#[allow(missing_debug_implementations, clippy::all)]
pub mod v1 {
    tonic::include_proto!("wirebench.v1");
    include!(concat!(env!("OUT_DIR"), "/wirebench.v1.serde.rs"));
}

/// The Shop server again, over the same messages, with the gRPC JSON codec
/// ([`json::JsonCodec`], content type `application/grpc+json`).
#[allow(missing_debug_implementations, clippy::all)]
pub mod json_v1 {
    include!(concat!(env!("OUT_DIR"), "/json/wirebench.v1.rs"));
}

/// The encoded `FileDescriptorSet` of shop.proto and ws.proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("shop_descriptor");
