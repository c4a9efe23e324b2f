//! gRPC-Web over HTTP/1.1 keep-alive, the way a browser reaches gRPC (grpc-web's JavaScript
//! client in binary mode): each call a POST of `application/grpc-web+proto` whose body is the
//! length-prefixed request message; the answer's body holds the messages, then a trailer
//! frame (flag `0x80`) whose text carries `grpc-status`. The server is the gRPC server,
//! translated by tonic-web. No client or bidirectional streaming: a browser cannot stream a
//! request body, so gRPC-Web has neither.

use std::sync::Arc;
use wirebench_wire::Dial;

use bytes::{Bytes, BytesMut};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use prost::Message;
use wirebench_proto::v1 as pb;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::unary::{self, Unary};
use super::{GrpcBodies, PREFIX, orders, path};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::clients::http_conn::{Sender, hyper_error};
use crate::clients::{Call, Client, ClientError, Marks, Operations, Protocol, Transport};
use wirebench_wire::dissect::DocRules;
use wirebench_wire::docs::{Doc, Prefix};
use wirebench_wire::http1::Http1;
use wirebench_wire::{Dir, Dissector, WireCounters};

/// The content type a browser's binary gRPC-Web call names.
pub const CONTENT_TYPE: &str = "application/grpc-web+proto";

/// A gRPC-Web frame flag: the frame holds the trailers, as text.
const TRAILERS: u8 = 0x80;

/// The gRPC-Web variant.
#[derive(Debug)]
pub struct GrpcWeb;

pub static GRPC_WEB: GrpcWeb = GrpcWeb;

/// gRPC's message prefix: a flag byte, then a 4-byte big-endian length; a flag with the
/// high bit set marks gRPC-Web's trailer frame.
pub const MESSAGE_PREFIX: Prefix = Prefix { tag: 1, len: 4, trailer: 0x80 };

/// gRPC-Web bodies: gRPC's framed messages, with the method's records.
#[derive(Debug, Default, Clone, Copy)]
pub struct GrpcWebDocs;

impl DocRules for GrpcWebDocs {
    fn doc(&mut self, dir: Dir, route: &str, _: &[u8]) -> Doc {
        let method = route.rsplit('/').next().unwrap_or_default();
        match GrpcBodies::protobuf_doc(dir, method) {
            Doc::Protobuf(paths) => Doc::Prefixed(MESSAGE_PREFIX, paths),
            other => other,
        }
    }
}

impl Protocol for GrpcWeb {
    fn name(&self) -> &'static str {
        "grpc-web"
    }

    fn describe(&self) -> &'static str {
        "gRPC-Web (application/grpc-web+proto) over HTTP/1.1 keep-alive, as a browser calls gRPC: the gRPC server's messages, trailers in the body"
    }

    fn server(&self) -> &'static str {
        "grpc"
    }

    fn encoding(&self) -> &'static str {
        "protobuf"
    }

    fn family(&self) -> &'static str {
        "gRPC"
    }

    fn role(&self) -> crate::clients::Role {
        crate::clients::Role::Variant
    }

    fn transport(&self) -> Transport {
        Transport::Http1
    }

    fn unsupported(&self, op: Operation) -> Option<&'static str> {
        matches!(op, Operation::ImportOrders | Operation::TrackOrders).then_some(
            "gRPC-Web has no client or bidirectional streaming: a browser cannot stream a request body",
        )
    }
}

impl Client for GrpcWeb {
    type Conn = GrpcWebConnection;

    async fn open(&'static self, dial: Dial, _: Operation) -> Result<GrpcWebConnection, ClientError> {
        let dissector = Dissector::new(Http1::new(GrpcWebDocs));
        let (stream, counters) =
            wirebench_wire::connect(&dial, dissector).await.map_err(ClientError::Connect)?;
        let sender = Sender::handshake(stream, false).await?;
        let host = http::HeaderValue::from_str(&dial.addr.to_string()).map_err(ClientError::decode)?;
        Ok(GrpcWebConnection { sender, host, counters })
    }
}

#[derive(Debug)]
pub struct GrpcWebConnection {
    sender: Sender,
    host: http::HeaderValue,
    counters: Arc<WireCounters>,
}

/// The status in a trailer frame's text (`grpc-status:0\r\ngrpc-message:…\r\n`).
fn trailer_status(text: &[u8]) -> Result<(), ClientError> {
    let mut map = http::HeaderMap::new();
    for line in text.split(|b| *b == b'\n').map(<[u8]>::trim_ascii).filter(|l| !l.is_empty()) {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let name = http::HeaderName::from_bytes(line[..colon].trim_ascii()).map_err(ClientError::decode)?;
        let value =
            http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).map_err(ClientError::decode)?;
        map.insert(name, value);
    }
    match tonic::Status::from_header_map(&map) {
        Some(status) if status.code() == tonic::Code::Ok => Ok(()),
        Some(status) => Err(super::server_error(status)),
        None => Err(ClientError::decode("trailers without grpc-status")),
    }
}

impl GrpcWebConnection {
    /// One call: the request message out, every answer message back (each arrival marked),
    /// the trailers checked.
    async fn call(
        &mut self,
        path: &'static str,
        req: &impl Message,
        marks: &mut Marks,
    ) -> Result<Vec<Bytes>, ClientError> {
        let message = req.encode_to_vec();
        let mut body = BytesMut::with_capacity(PREFIX + message.len());
        body.extend_from_slice(&[0]);
        body.extend_from_slice(&u32::try_from(message.len()).map_err(ClientError::decode)?.to_be_bytes());
        body.extend_from_slice(&message);
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, self.host.clone())
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            .header("x-grpc-web", "1")
            .body(Full::new(body.freeze()))
            .expect("a valid request");
        let (parts, mut incoming) = self.sender.send(request).await?.into_parts();
        if !parts.status.is_success() {
            return Err(ClientError::Server {
                code: parts.status.as_u16().to_string(),
                message: String::new(),
            });
        }
        // A trailers-only answer carries its status in the headers.
        if let Some(status) = tonic::Status::from_header_map(&parts.headers)
            && status.code() != tonic::Code::Ok
        {
            return Err(super::server_error(status));
        }
        let (mut pending, mut messages, mut ended) = (BytesMut::new(), Vec::new(), false);
        while let Some(frame) = incoming.frame().await {
            let Ok(data) = frame.map_err(hyper_error)?.into_data() else { continue };
            pending.extend_from_slice(&data);
            while pending.len() >= PREFIX {
                let len = u32::from_be_bytes(pending[1..PREFIX].try_into().expect("4 bytes")) as usize;
                if pending.len() < PREFIX + len {
                    break;
                }
                let flag = pending[0];
                let frame = pending.split_to(PREFIX + len).freeze().slice(PREFIX..);
                match flag {
                    TRAILERS => {
                        trailer_status(&frame)?;
                        ended = true;
                    }
                    0 => {
                        marks.mark(&self.counters);
                        messages.push(frame);
                    }
                    _ => return Err(ClientError::Decode(format!("a frame with flag {flag}"))),
                }
            }
        }
        if !ended || !pending.is_empty() {
            return Err(ClientError::decode("an answer without its trailer frame"));
        }
        Ok(messages)
    }

    /// ListOrders, a server stream over one response body.
    async fn list(&mut self, p: &OpParams, timed: bool) -> Result<Call, ClientError> {
        let req = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
        let mut marks = Marks::start(p.n as usize);
        let messages = self.call(path::LIST_ORDERS, &req, &mut marks).await?;
        let got = wirebench_wire::decoding(|| {
            let list: Result<Vec<pb::Order>, _> = messages.into_iter().map(pb::Order::decode).collect();
            orders(list.map_err(ClientError::decode)?)
        })?;
        let call = Call::new(Outcome::Orders(got));
        Ok(if timed { call.messages(marks) } else { call })
    }
}

impl Unary for GrpcWebConnection {
    /// A unary call's one answer message, decoded on the decode clock.
    async fn unary<T, U>(&mut self, path: &'static str, req: T) -> Result<U, ClientError>
    where
        T: Message + Serialize,
        U: Message + Default + DeserializeOwned,
    {
        let mut marks = Marks::start(1);
        let mut messages = self.call(path, &req, &mut marks).await?;
        match (messages.pop(), messages.is_empty()) {
            (Some(message), true) => {
                wirebench_wire::decoding(|| U::decode(message).map_err(ClientError::decode))
            }
            _ => Err(ClientError::decode("a unary answer of other than one message")),
        }
    }
}

fn unsupported(op: Operation) -> ClientError {
    ClientError::Decode(GRPC_WEB.unsupported(op).unwrap_or("unsupported").to_owned())
}

impl Operations for GrpcWebConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        unary::get_user(self, p).await
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        unary::get_user_orders(self, p).await
    }

    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        unary::list_users_orders(self, p).await
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.list(p, false).await
    }

    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.list(p, true).await
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        unary::create_order(self, p).await
    }

    async fn import_orders(&mut self, _: &OpParams) -> Result<Call, ClientError> {
        Err(unsupported(Operation::ImportOrders))
    }

    async fn track_orders(&mut self, _: &OpParams) -> Result<Call, ClientError> {
        Err(unsupported(Operation::TrackOrders))
    }
}
