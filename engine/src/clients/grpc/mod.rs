//! gRPC client over a counted TCP stream, on the `h2` crate's HTTP/2 client: all four call
//! modes (unary calls framed as grpc-go frames them; the streaming modes through tonic's
//! client core), and [`GrpcBodies`],
//! which dissects gRPC's messages inside HTTP/2 DATA: each 5-byte prefix is framing, each
//! message a protobuf document whose records depend on the method.

use std::sync::Arc;
use wirebench_wire::Dial;

use bytes::Bytes;
use futures::StreamExt;
use http::Uri;
use http::uri::PathAndQuery;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wirebench_proto::v1 as pb;

mod codec;
mod shapes;
pub use self::codec::MessageCodec;
pub use self::shapes::message_shapes;
mod transport;
mod unary;
mod web;
pub use self::web::{GRPC_WEB, GrpcWeb};

use codec::TimedCodec;
use unary::Unary;

use transport::{H2, USER_AGENT, h2_error};

use super::{Call, Client, ClientError, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use wirebench_servers::coding::Coding;
use wirebench_wire::dissect::{Streams, WireError, attribute_doc, parse_buffered};
use wirebench_wire::docs::Doc;
use wirebench_wire::http2::{H2Bodies, Http2, StreamInfo};
use wirebench_wire::{Dir, Dissector, Framing, Layer, Tally, WireCounters};

/// tonic's name for a coding (tonic has no brotli).
fn tonic_encoding(coding: Coding) -> Option<tonic::codec::CompressionEncoding> {
    match coding {
        Coding::Gzip => Some(tonic::codec::CompressionEncoding::Gzip),
        Coding::Zstd => Some(tonic::codec::CompressionEncoding::Zstd),
        Coding::Br => None,
    }
}

/// gRPC's message prefix: a compressed flag and a 4-byte length.
const PREFIX: usize = 5;

/// gRPC messages inside HTTP/2 DATA. A message the client sends is a request of the wave
/// count (a stream carries many in the streaming modes); one the server sends an answer.
#[derive(Debug, Default)]
pub struct GrpcBodies {
    /// Bytes of an unfinished message, per stream and direction.
    open: Streams<(u32, usize), Vec<u8>>,
    /// Messages in the JSON mapping, not protobuf.
    json: bool,
}

impl GrpcBodies {
    /// Bodies whose messages encode with `codec`.
    pub fn new(codec: MessageCodec) -> Self {
        GrpcBodies { open: Streams::default(), json: codec == MessageCodec::Json }
    }

    /// Which fields of a method's messages are records.
    fn doc(&self, dir: Dir, method: &str) -> Doc {
        if self.json { Self::json_doc(dir, method) } else { Self::protobuf_doc(dir, method) }
    }

    /// The records of a method's protobuf messages.
    pub(super) fn protobuf_doc(dir: Dir, method: &str) -> Doc {
        match (dir, method) {
            // CreateOrderRequest.order; the other requests carry parameters only.
            (Dir::Sent, "CreateOrder" | "ImportOrders") => Doc::Protobuf(&["$.2"]),
            (Dir::Sent, _) => Doc::Protobuf(&[]),
            // CreateOrderResponse.order, TrackReply.order; the others are records whole.
            (Dir::Received, "CreateOrder") => Doc::Protobuf(&["$.1"]),
            (Dir::Received, "TrackOrders") => Doc::Protobuf(&["$.2"]),
            // UsersOrders.users: each user with their orders.
            (Dir::Received, "ListUsersOrders") => Doc::Protobuf(&["$.1"]),
            (Dir::Received, _) => Doc::Protobuf(&["$"]),
        }
    }

    /// The same records, in the JSON mapping's names.
    fn json_doc(dir: Dir, method: &str) -> Doc {
        match (dir, method) {
            (Dir::Sent, "CreateOrder" | "ImportOrders") => Doc::Json(&["$.order"]),
            (Dir::Sent, _) => Doc::Json(&[]),
            (Dir::Received, "CreateOrder" | "TrackOrders") => Doc::Json(&["$.order"]),
            (Dir::Received, "ListUsersOrders") => Doc::Json(&["$.users[*]"]),
            (Dir::Received, _) => Doc::Json(&["$"]),
        }
    }
}

impl H2Bodies for GrpcBodies {
    fn docs(&mut self, route: &str) -> [Doc; 2] {
        let method = route.rsplit('/').next().unwrap_or_default();
        [self.doc(Dir::Sent, method), self.doc(Dir::Received, method)]
    }

    fn request_at_headers(&self) -> bool {
        false
    }

    fn coding_header(&self) -> Option<&'static [u8]> {
        Some(b"grpc-encoding")
    }

    fn data(
        &mut self,
        dir: Dir,
        stream: &StreamInfo,
        id: u32,
        bytes: &[u8],
        end: bool,
        t: &mut Tally,
    ) -> Result<(), WireError> {
        let mut buf = self.open.remove((id, dir.index())).unwrap_or_default();
        parse_buffered(&mut buf, bytes, |b| messages(dir, stream.docs[dir.index()], b, t))?;
        if !buf.is_empty() {
            self.open.insert((id, dir.index()), buf);
        }
        if end && let Some(left) = self.open.remove((id, dir.index())) {
            return Err(WireError(format!("gRPC: a stream ended inside a message ({} bytes)", left.len())));
        }
        Ok(())
    }
}

/// Attributes every whole message at the start of `buf`; returns the bytes consumed. A message
/// the client sends is a request of the wave count, one the server sends an answer.
fn messages(dir: Dir, doc: Doc, buf: &[u8], t: &mut Tally) -> Result<usize, WireError> {
    let mut at = 0;
    while buf.len() - at >= PREFIX {
        let len = u32::from_be_bytes(buf[at + 1..at + PREFIX].try_into().expect("4 bytes")) as usize;
        if buf.len() - at < PREFIX + len {
            break;
        }
        t.attribute(dir, Layer::Framing(Framing::MessagePrefixes), PREFIX);
        match dir {
            Dir::Sent => t.request(),
            Dir::Received => t.answer(),
        }
        let doc = if buf[at] != 0 { Doc::OpaqueData } else { doc };
        attribute_doc(t, dir, doc, &buf[at + PREFIX..at + PREFIX + len])?;
        at += PREFIX + len;
    }
    Ok(at)
}

/// gRPC over h2c, its messages compressed or not, in protobuf or JSON.
#[derive(Debug)]
pub struct Grpc {
    name: &'static str,
    describe: &'static str,
    /// Compress request messages and ask for compressed answers in this coding.
    coding: Option<Coding>,
    codec: MessageCodec,
    /// Main for gRPC with protobuf messages, uncompressed.
    role: super::Role,
}

pub static GRPC: Grpc = Grpc {
    name: "grpc",
    describe: "gRPC over HTTP/2 cleartext (the h2 crate), protobuf messages: unary calls as grpc-go frames them (HEADERS and one DATA in one write), streams through tonic's client core",
    coding: None,
    codec: MessageCodec::Protobuf,
    role: super::Role::Main,
};
pub static GRPC_JSON: Grpc = Grpc {
    name: "grpc-json",
    describe: "the same gRPC calls with the JSON codec (application/grpc+json): messages in the proto3 JSON mapping (pbjson), in gRPC's frames over h2c",
    coding: None,
    codec: MessageCodec::Json,
    role: super::Role::Variant,
};
pub static GRPC_GZIP: Grpc = Grpc {
    name: "grpc-gzip",
    describe: "the same gRPC calls with gzip-compressed messages both ways (grpc-encoding; a compressed message counts as data)",
    coding: Some(Coding::Gzip),
    codec: MessageCodec::Protobuf,
    role: super::Role::Variant,
};
pub static GRPC_ZSTD: Grpc = Grpc {
    name: "grpc-zstd",
    describe: "the same gRPC calls with zstd-compressed messages both ways",
    coding: Some(Coding::Zstd),
    codec: MessageCodec::Protobuf,
    role: super::Role::Variant,
};

impl Protocol for Grpc {
    fn encoding(&self) -> &'static str {
        match self.codec {
            MessageCodec::Protobuf => "protobuf",
            MessageCodec::Json => "json",
        }
    }

    fn transport(&self) -> super::Transport {
        super::Transport::Http2
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn multiplexes(&self) -> bool {
        true
    }

    fn describe(&self) -> &'static str {
        self.describe
    }

    fn compression(&self) -> Option<(&'static str, &'static str)> {
        self.coding.map(|c| (c.name(), "grpc"))
    }

    fn unsupported(&self, op: Operation) -> Option<&'static str> {
        (self.coding.is_some() && op == Operation::StreamOrders).then_some(
            "a compressed stream's messages are compressed one by one: per-message timing is kept for `grpc`",
        )
    }

    fn server(&self) -> &'static str {
        "grpc"
    }

    fn family(&self) -> &'static str {
        "gRPC"
    }

    fn role(&self) -> super::Role {
        self.role
    }
}

impl Client for Grpc {
    type Conn = GrpcConnection;

    async fn open(&'static self, dial: Dial, _: Operation) -> Result<GrpcConnection, ClientError> {
        let dissector = Dissector::new(Http2::new(GrpcBodies::new(self.codec)));
        let (stream, counters) =
            wirebench_wire::connect(&dial, dissector).await.map_err(ClientError::Connect)?;
        let (sender, conn) = transport::handshake(stream).await?;
        // The connection task ends with the connection; a failure shows in the next call.
        tokio::spawn(conn);
        let mut sender = sender.ready().await.map_err(h2_error)?;
        let origin: Uri = format!("http://{}", dial.addr).parse().map_err(ClientError::decode)?;
        let h2 = H2 {
            send: sender.clone(),
            content_type: http::HeaderValue::from_static(self.codec.content_type()),
        };
        let mut grpc = tonic::client::Grpc::with_origin(h2, origin).max_decoding_message_size(usize::MAX);
        if let Some(encoding) = self.coding.and_then(tonic_encoding) {
            grpc = grpc.send_compressed(encoding).accept_compressed(encoding);
        }
        futures::future::poll_fn(|cx| sender.poll_ready(cx)).await.map_err(h2_error)?;
        Ok(GrpcConnection {
            grpc,
            h2: sender,
            coding: self.coding,
            codec: self.codec,
            authority: dial.addr.to_string(),
            uris: Vec::new(),
            counters,
        })
    }

    fn lane(&'static self, conn: &GrpcConnection) -> Option<GrpcConnection> {
        Some(GrpcConnection {
            grpc: conn.grpc.clone(),
            h2: conn.h2.clone(),
            coding: conn.coding,
            codec: conn.codec,
            authority: conn.authority.clone(),
            uris: Vec::new(),
            counters: conn.counters.clone(),
        })
    }
}

#[derive(Debug)]
pub struct GrpcConnection {
    /// tonic's client core, for the streaming calls.
    grpc: tonic::client::Grpc<H2>,
    /// The same connection, for unary calls sent as grpc-go sends them (see
    /// [`GrpcConnection::unary`]).
    h2: h2::client::SendRequest<Bytes>,
    /// Unary messages compressed in this coding, both ways.
    coding: Option<Coding>,
    codec: MessageCodec,
    authority: String,
    /// Request URIs by method path, built once.
    uris: Vec<(&'static str, Uri)>,
    counters: Arc<WireCounters>,
}

fn server_error(s: tonic::Status) -> ClientError {
    // gRPC A6's pushback: how long the server asks a retry to wait.
    let pushback = s
        .metadata()
        .get("grpc-retry-pushback-ms")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .map(std::time::Duration::from_millis);
    // UNAVAILABLE is refused before any effect; RESOURCE_EXHAUSTED is an overload only with a
    // pushback (without one it is a message over the size limit).
    let domain = match s.code() {
        tonic::Code::Unavailable => Some("unavailable"),
        tonic::Code::ResourceExhausted if pushback.is_some() => Some("overloaded"),
        _ => None,
    };
    ClientError::answered(domain, format!("{:?}", s.code()), s.message().to_owned(), pushback)
}

/// Protobuf orders as domain orders.
pub(crate) fn orders(list: Vec<pb::Order>) -> Result<Vec<wirebench_domain::Order>, ClientError> {
    list.into_iter().map(|o| o.try_into().map_err(ClientError::decode)).collect()
}

/// A UserOrders reply as an outcome.
pub(crate) fn user_orders(reply: pb::UserOrders) -> Result<Outcome, ClientError> {
    let orders = reply
        .orders
        .into_iter()
        .map(TryInto::try_into)
        .collect::<Result<_, _>>()
        .map_err(ClientError::decode)?;
    Ok(Outcome::UserOrders { name: reply.name, orders })
}

/// A UsersOrders reply as an outcome.
pub(crate) fn users_orders(reply: pb::UsersOrders) -> Result<Outcome, ClientError> {
    let users = reply.users.into_iter().map(TryInto::try_into).collect::<Result<_, _>>();
    Ok(Outcome::UsersOrders(users.map_err(ClientError::decode)?))
}

/// A CreateOrderResponse as an outcome.
pub(crate) fn created(reply: pb::CreateOrderResponse) -> Result<Outcome, ClientError> {
    let order = reply.order.ok_or_else(|| ClientError::decode("reply without order"))?;
    Ok(Outcome::Created { order: order.try_into().map_err(ClientError::decode)?, replayed: reply.replayed })
}

/// The order of a TrackReply, checking it answers request `correlation_id`.
pub(crate) fn tracked(
    reply: pb::TrackReply,
    correlation_id: u64,
) -> Result<wirebench_domain::Order, ClientError> {
    if reply.correlation_id != correlation_id {
        return Err(ClientError::Decode(format!(
            "reply for request {} while waiting for {correlation_id}",
            reply.correlation_id
        )));
    }
    match reply.result {
        Some(pb::track_reply::Result::Order(o)) => o.try_into().map_err(ClientError::decode),
        Some(pb::track_reply::Result::Error(e)) => {
            let domain = e.code.clone();
            Err(ClientError::answered(Some(&domain), e.code, e.message, None))
        }
        None => Err(ClientError::decode("empty track reply")),
    }
}

pub(crate) fn create_request(p: &OpParams, key: Option<String>) -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        idempotency_key: key.unwrap_or_default(),
        order: Some(p.new_order.clone().into()),
    }
}

/// The service's method paths.
mod path {
    pub const GET_USER: &str = "/wirebench.v1.Shop/GetUser";
    pub const USER_ORDERS: &str = "/wirebench.v1.Shop/GetUserOrders";
    pub const USERS_ORDERS: &str = "/wirebench.v1.Shop/ListUsersOrders";
    pub const LIST_ORDERS: &str = "/wirebench.v1.Shop/ListOrders";
    pub const CREATE_ORDER: &str = "/wirebench.v1.Shop/CreateOrder";
    pub const IMPORT_ORDERS: &str = "/wirebench.v1.Shop/ImportOrders";
    pub const TRACK_ORDERS: &str = "/wirebench.v1.Shop/TrackOrders";
}

impl GrpcConnection {
    async fn ready(&mut self) -> Result<(), ClientError> {
        self.grpc.ready().await.map_err(h2_error)
    }

    /// The request URI of a method, built once.
    fn uri(&mut self, path: &'static str) -> Uri {
        if let Some((_, uri)) = self.uris.iter().find(|(p, _)| *p == path) {
            return uri.clone();
        }
        let uri: Uri = format!("http://{}{path}", self.authority).parse().expect("a valid URI");
        self.uris.push((path, uri.clone()));
        uri
    }

    /// Converts protobuf messages to domain types on the decode clock.
    fn convert<T>(&self, f: impl FnOnce() -> Result<T, ClientError>) -> Result<T, ClientError> {
        wirebench_wire::decoding(f)
    }

    /// ListOrders, a server stream: list-orders and stream-orders alike (the latter timed
    /// per message).
    async fn list(&mut self, p: &OpParams, timed: bool) -> Result<Call, ClientError> {
        let req = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
        let mut marks = Marks::start(p.n as usize);
        self.ready().await?;
        let codec = TimedCodec::new(self.codec);
        let path = PathAndQuery::from_static(path::LIST_ORDERS);
        let mut stream = self
            .grpc
            .server_streaming(tonic::Request::new(req), path, codec)
            .await
            .map_err(server_error)?
            .into_inner();
        let mut got = Vec::with_capacity(p.n as usize);
        while let Some(order) = stream.message().await.map_err(server_error)? {
            marks.mark(&self.counters);
            got.push(order);
        }
        let call = Call::new(Outcome::Orders(self.convert(|| orders(got))?));
        Ok(if timed { call.messages(marks) } else { call })
    }
}

impl Unary for GrpcConnection {
    /// One unary call, sent the way grpc-go and h2load send one: HEADERS, then a single DATA
    /// frame holding the length-prefixed message with END_STREAM. (tonic's client ends the
    /// request stream with an extra empty DATA frame, written on its own: a frame and a
    /// syscall per call that no other client sends.) The answer: headers, one message,
    /// trailers with `grpc-status`; decoding the message is on the decode clock.
    async fn unary<T, U>(&mut self, path: &'static str, req: T) -> Result<U, ClientError>
    where
        T: Message + Serialize,
        U: Message + Default + DeserializeOwned,
    {
        let (flag, message) = match self.coding {
            // Compressing is part of turning the request into bytes (client CPU).
            Some(coding) => (1, coding.encode(&self.codec.encode(&req))),
            None => (0, self.codec.encode(&req)),
        };
        let mut framed = bytes::BytesMut::with_capacity(PREFIX + message.len());
        framed.extend_from_slice(&[flag]);
        framed.extend_from_slice(&u32::try_from(message.len()).map_err(ClientError::decode)?.to_be_bytes());
        framed.extend_from_slice(&message);
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.uri(path))
            .header(http::header::CONTENT_TYPE, self.codec.content_type())
            .header(http::header::TE, "trailers")
            .header(http::header::USER_AGENT, USER_AGENT);
        if let Some(coding) = self.coding {
            request =
                request.header("grpc-encoding", coding.name()).header("grpc-accept-encoding", coding.name());
        }
        let request = request.body(()).expect("a valid request");
        futures::future::poll_fn(|cx| self.h2.poll_ready(cx)).await.map_err(h2_error)?;
        let (answer, mut send) = self.h2.send_request(request, false).map_err(h2_error)?;
        // Queued with its HEADERS before the connection task writes either: one write.
        send.send_data(framed.freeze(), true).map_err(h2_error)?;
        let (parts, mut body) = answer.await.map_err(h2_error)?.into_parts();
        if let Some(e) = transport::http_error(&parts) {
            return Err(e);
        }
        // A trailers-only answer carries its status in the headers.
        if let Some(status) = tonic::Status::from_header_map(&parts.headers)
            && status.code() != tonic::Code::Ok
        {
            return Err(server_error(status));
        }
        // One DATA frame as a rule; more are joined.
        let mut message = Bytes::new();
        while let Some(data) = body.data().await {
            let data = data.map_err(h2_error)?;
            body.flow_control().release_capacity(data.len()).map_err(h2_error)?;
            message = if message.is_empty() { data } else { [message, data].concat().into() };
        }
        let trailers = body.trailers().await.map_err(h2_error)?;
        match trailers.as_ref().and_then(tonic::Status::from_header_map) {
            Some(status) if status.code() == tonic::Code::Ok => {}
            Some(status) => return Err(server_error(status)),
            None => return Err(ClientError::decode("an answer without grpc-status")),
        }
        let (flag, len) = match message.get(..PREFIX) {
            Some(prefix) => {
                (prefix[0], u32::from_be_bytes(prefix[1..].try_into().expect("4 bytes")) as usize)
            }
            None => return Err(ClientError::decode("an answer without a message")),
        };
        let coding = match (flag, self.coding) {
            (0, _) => None,
            (1, Some(coding)) => Some(coding),
            _ => {
                return Err(ClientError::Decode(format!(
                    "a message with flag {flag} this client did not ask for"
                )));
            }
        };
        if message.len() != PREFIX + len {
            return Err(ClientError::Decode(format!("not one message: {} bytes for {len}", message.len())));
        }
        // Inflating is part of turning the answer's bytes into domain types.
        wirebench_wire::decoding(|| match coding {
            Some(coding) => {
                let plain = coding.decode(&message[PREFIX..], usize::MAX).map_err(ClientError::decode)?;
                self.codec.decode(&plain[..]).map_err(ClientError::Decode)
            }
            None => self.codec.decode(&message[PREFIX..]).map_err(ClientError::Decode),
        })
    }
}

impl Operations for GrpcConnection {
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

    /// ImportOrders, a client stream: N messages in, one summary out.
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let reqs: Vec<_> = (0..p.n as usize).map(|i| create_request(p, p.item_key(i))).collect();
        self.ready().await?;
        let codec = TimedCodec::<_, pb::ImportSummary>::new(self.codec);
        let path = PathAndQuery::from_static(path::IMPORT_ORDERS);
        let request = tonic::Request::new(futures::stream::iter(reqs));
        let summary =
            self.grpc.client_streaming(request, path, codec).await.map_err(server_error)?.into_inner();
        Ok(Call::new(Outcome::Imported(self.convert(|| Ok(summary.into()))?)))
    }

    /// TrackOrders, bidirectional: a real conversation, one request, its reply, the next.
    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let outbound = tokio_stream::wrappers::ReceiverStream::new(rx);
        let closed = || ClientError::decode("request stream closed");
        let first =
            pb::TrackRequest { correlation_id: 0, order_id: p.order_ids.first().copied().unwrap_or(0) };
        tx.send(first).await.map_err(|_| closed())?;
        self.ready().await?;
        let codec = TimedCodec::<_, pb::TrackReply>::new(self.codec);
        let path = PathAndQuery::from_static(path::TRACK_ORDERS);
        let mut inbound = self
            .grpc
            .streaming(tonic::Request::new(outbound), path, codec)
            .await
            .map_err(server_error)?
            .into_inner();
        let mut got = Vec::with_capacity(p.order_ids.len());
        for i in 0..p.order_ids.len() {
            if i > 0 {
                let req = pb::TrackRequest { correlation_id: i as u64, order_id: p.order_ids[i] };
                tx.send(req).await.map_err(|_| closed())?;
            }
            let reply = inbound
                .message()
                .await
                .map_err(server_error)?
                .ok_or_else(|| ClientError::decode("conversation ended early"))?;
            got.push(self.convert(|| tracked(reply, i as u64))?);
        }
        drop(tx);
        // Drain the end of the stream so its trailers are part of this call.
        while inbound.next().await.is_some() {}
        Ok(Call::new(Outcome::Orders(got)).round_trips(p.order_ids.len() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirebench_wire::dissect::replay;

    fn frame(kind: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(id.to_be_bytes());
        f.extend(payload);
        f
    }

    fn message(bytes: &[u8]) -> Vec<u8> {
        let mut m = vec![0];
        m.extend((bytes.len() as u32).to_be_bytes());
        m.extend(bytes);
        m
    }

    #[test]
    fn a_unary_get_user_split_by_hand() {
        let mut sent = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        sent.extend(frame(0x4, 0, 0, &[]));
        // :method POST (static index 3, 1 byte); :path as a literal on static name 4:
        // 0x04, length 26, "/wirebench.v1.Shop/GetUser": 28 bytes of envelope.
        let mut block = vec![0x83, 0x04, 26];
        block.extend(b"/wirebench.v1.Shop/GetUser");
        sent.extend(frame(0x1, 0x4, 1, &block));
        // GetUserRequest {id: 1}: 2 bytes of parameters, envelope.
        sent.extend(frame(0x0, 0x1, 1, &message(&[0x08, 0x01])));
        // :status 200; a 10-byte User (name "Ada", email "a@b"); trailers: grpc-status as a
        // literal with a literal name (0x00, 11, name, 1, "0": 15 bytes).
        let mut received = frame(0x1, 0x4, 1, &[0x88]);
        received.extend(frame(0x0, 0, 1, &message(&[0x12, 3, b'A', b'd', b'a', 0x1a, 3, b'a', b'@', b'b'])));
        let mut trailers = vec![0x00, 11];
        trailers.extend(b"grpc-status");
        trailers.extend([1, b'0']);
        received.extend(frame(0x1, 0x5, 1, &trailers));
        let (t, err) =
            replay(Http2::new(GrpcBodies::default()), &[(Dir::Sent, &sent), (Dir::Received, &received)]);
        assert_eq!(err, None);
        let f = |d: usize, k: Framing| t.framing[d][k as usize];
        // Sent: preface 24; three frame headers; 1 byte of HPACK; a 5-byte message prefix.
        assert_eq!(
            (f(0, Framing::H2Control), f(0, Framing::H2FrameHeaders), f(0, Framing::Hpack)),
            (24, 27, 1)
        );
        assert_eq!((f(0, Framing::MessagePrefixes), t.envelope[0], t.data[0]), (5, 28 + 2, 0));
        // Received: three frame headers, 1 + 15 bytes of HPACK, a prefix, the 10-byte record.
        assert_eq!(
            (f(1, Framing::H2FrameHeaders), f(1, Framing::Hpack), f(1, Framing::MessagePrefixes)),
            (27, 16, 5)
        );
        assert_eq!((t.data[1], t.envelope[1]), (10, 0));
        // One request message; the answer begins with the response headers.
        assert_eq!((t.requests, t.waves), (1, 1));
        assert_eq!(t.pending(Dir::Sent) + t.pending(Dir::Received), 0);
    }
}
