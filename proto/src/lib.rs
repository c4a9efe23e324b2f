//! Generated gRPC types and service stubs for `wirebench.v1` (see `proto/wirebench/v1/shop.proto`).

#![allow(missing_debug_implementations, clippy::all)]

/// The `wirebench.v1` package.
pub mod v1 {
    tonic::include_proto!("wirebench.v1");
}

/// The encoded `FileDescriptorSet` of shop.proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("shop_descriptor");
