//! The codecs of the gRPC client's streaming calls: prost's, or the JSON codec
//! (`application/grpc+json`), with the time spent decoding messages on the connection's
//! decode clock.

use std::marker::PhantomData;

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use wirebench_proto::json::{JsonCodec, JsonDecoder, JsonEncoder};

/// How a connection's messages encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageCodec {
    /// Protobuf's binary encoding (`application/grpc`).
    Protobuf,
    /// The proto3 JSON mapping (`application/grpc+json`).
    Json,
}

impl MessageCodec {
    /// The `content-type` of a call.
    pub fn content_type(self) -> &'static str {
        match self {
            MessageCodec::Protobuf => "application/grpc",
            MessageCodec::Json => wirebench_proto::json::CONTENT_TYPE,
        }
    }

    /// One message's bytes.
    pub fn encode<T: Message + Serialize>(self, msg: &T) -> Vec<u8> {
        match self {
            MessageCodec::Protobuf => msg.encode_to_vec(),
            MessageCodec::Json => serde_json::to_vec(msg).expect("messages serialize"),
        }
    }

    /// One message from its bytes.
    pub fn decode<U: Message + Default + DeserializeOwned>(self, bytes: &[u8]) -> Result<U, String> {
        match self {
            MessageCodec::Protobuf => U::decode(bytes).map_err(|e| e.to_string()),
            MessageCodec::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        }
    }
}

/// The codec a streaming call runs, timed.
pub(super) struct TimedCodec<T, U> {
    codec: MessageCodec,
    _messages: PhantomData<(T, U)>,
}

impl<T, U> TimedCodec<T, U> {
    pub(super) fn new(codec: MessageCodec) -> Self {
        TimedCodec { codec, _messages: PhantomData }
    }
}

impl<T, U> Codec for TimedCodec<T, U>
where
    T: Message + Serialize + Send + 'static,
    U: Message + Default + DeserializeOwned + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = Either<tonic_prost::ProstEncoder<T>, JsonEncoder<T>>;
    type Decoder = TimedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        match self.codec {
            MessageCodec::Protobuf => Either::Protobuf(tonic_prost::ProstEncoder::default()),
            MessageCodec::Json => Either::Json(JsonCodec::<T, U>::default().encoder()),
        }
    }

    fn decoder(&mut self) -> Self::Decoder {
        let inner = match self.codec {
            MessageCodec::Protobuf => Either::Protobuf(tonic_prost::ProstDecoder::default()),
            MessageCodec::Json => Either::Json(JsonCodec::<T, U>::default().decoder()),
        };
        TimedDecoder { inner }
    }
}

/// One of the two codecs' halves.
pub(super) enum Either<P, J> {
    Protobuf(P),
    Json(J),
}

impl<T, P, J> Encoder for Either<P, J>
where
    P: Encoder<Item = T, Error = tonic::Status>,
    J: Encoder<Item = T, Error = tonic::Status>,
{
    type Item = T;
    type Error = tonic::Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        match self {
            Either::Protobuf(e) => e.encode(item, dst),
            Either::Json(e) => e.encode(item, dst),
        }
    }
}

pub(super) struct TimedDecoder<U> {
    inner: Either<tonic_prost::ProstDecoder<U>, JsonDecoder<U>>,
}

impl<U: Message + Default + DeserializeOwned> Decoder for TimedDecoder<U> {
    type Item = U;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, tonic::Status> {
        wirebench_wire::decoding(|| match &mut self.inner {
            Either::Protobuf(d) => d.decode(buf),
            Either::Json(d) => d.decode(buf),
        })
    }
}
