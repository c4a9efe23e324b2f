//! Generated gRPC types and service stubs for `wirebench.v1` (see `proto/wirebench/v1/shop.proto`).

pub mod convert;

/// The `wirebench.v1` package.
#[allow(missing_debug_implementations, clippy::all)]
pub mod v1 {
    tonic::include_proto!("wirebench.v1");
}

/// The encoded `FileDescriptorSet` of shop.proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("shop_descriptor");
