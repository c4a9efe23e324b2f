//! gRPC's JSON codec: messages in the proto3 JSON mapping (serde from pbjson) instead of
//! protobuf's binary encoding, in the same length-prefixed gRPC frames. A call says so with
//! `content-type: application/grpc+json`.

use std::marker::PhantomData;

use bytes::{Buf, BufMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// The content type of a gRPC call whose messages are JSON.
pub const CONTENT_TYPE: &str = "application/grpc+json";

/// Encodes `T` and decodes `U` as JSON.
#[derive(Debug)]
pub struct JsonCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for JsonCodec<T, U> {
    fn default() -> Self {
        JsonCodec(PhantomData)
    }
}

impl<T, U> Codec for JsonCodec<T, U>
where
    T: Serialize + Send + 'static,
    U: DeserializeOwned + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = JsonEncoder<T>;
    type Decoder = JsonDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        JsonEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        JsonDecoder(PhantomData)
    }
}

/// Writes one message as JSON.
#[derive(Debug)]
pub struct JsonEncoder<T>(PhantomData<T>);

impl<T: Serialize> Encoder for JsonEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        serde_json::to_writer(dst.writer(), &item).map_err(|e| Status::internal(e.to_string()))
    }
}

/// Reads one message from JSON.
#[derive(Debug)]
pub struct JsonDecoder<U>(PhantomData<U>);

impl<U: DeserializeOwned> Decoder for JsonDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // The whole message (a split of tonic's buffer, not a copy).
        let message = src.copy_to_bytes(src.remaining());
        decode(&message).map(Some)
    }
}

/// One message from its JSON bytes; bytes that are not the message are `INVALID_ARGUMENT`.
pub fn decode<U: DeserializeOwned>(bytes: &[u8]) -> Result<U, Status> {
    serde_json::from_slice(bytes).map_err(|e| Status::invalid_argument(format!("not a JSON message: {e}")))
}

#[cfg(test)]
mod tests {
    use crate::v1 as pb;

    #[test]
    fn messages_follow_the_proto3_json_mapping() {
        let order = pb::Order {
            id: 7,
            user_id: 2,
            status: pb::OrderStatus::Paid as i32,
            total_cents: 1250,
            currency: "EUR".into(),
            created_at: Some(pbjson_types::Timestamp { seconds: 0, nanos: 0 }),
            ..pb::Order::default()
        };
        let text = serde_json::to_string(&order).unwrap();
        assert_eq!(
            text,
            r#"{"id":"7","userId":"2","status":"ORDER_STATUS_PAID","totalCents":"1250","currency":"EUR","createdAt":"1970-01-01T00:00:00+00:00"}"#
        );
        let back: pb::Order = super::decode(text.as_bytes()).unwrap();
        assert_eq!(back, order);
        assert!(super::decode::<pb::Order>(b"{\"id\":").is_err());
    }
}
