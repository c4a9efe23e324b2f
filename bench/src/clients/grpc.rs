//! gRPC client (tonic) over a counted TCP stream: all four call modes, and [`GrpcBodies`],
//! which dissects gRPC's messages inside HTTP/2 DATA: each 5-byte prefix is framing, each
//! message a protobuf document whose records depend on the method.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::LocalBoxFuture;
use hyper_util::rt::TokioIo;
use tonic::transport::{Endpoint, Uri};
use wirebench_proto::v1 as pb;
use wirebench_proto::v1::shop_client::ShopClient;

use super::{Call, ClientError, Connection, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::wire::dissect::{Streams, WireError, attribute_doc, parse_buffered};
use crate::wire::docs::Doc;
use crate::wire::http2::{H2Bodies, Http2, StreamInfo};
use crate::wire::{Dir, Dissector, Framing, Layer, Tally, WireCounters};

/// gRPC's message prefix: a compressed flag and a 4-byte length.
const PREFIX: usize = 5;

/// gRPC messages inside HTTP/2 DATA. A message the client sends is a request of the wave
/// count (a stream carries many in the streaming modes); one the server sends an answer.
#[derive(Debug, Default)]
pub struct GrpcBodies {
    /// Bytes of an unfinished message, per stream and direction.
    open: Streams<(u32, usize), Vec<u8>>,
}

impl GrpcBodies {
    /// Which fields of a method's messages are records.
    fn doc(dir: Dir, method: &str) -> Doc {
        match (dir, method) {
            // CreateOrderRequest.order; the other requests carry parameters only.
            (Dir::Sent, "CreateOrder" | "ImportOrders") => Doc::Protobuf(&["$.2"]),
            (Dir::Sent, _) => Doc::Protobuf(&[]),
            // CreateOrderResponse.order, TrackReply.order; the others are records whole.
            (Dir::Received, "CreateOrder") => Doc::Protobuf(&["$.1"]),
            (Dir::Received, "TrackOrders") => Doc::Protobuf(&["$.2"]),
            (Dir::Received, _) => Doc::Protobuf(&["$"]),
        }
    }
}

impl H2Bodies for GrpcBodies {
    fn docs(&mut self, route: &str) -> [Doc; 2] {
        let method = route.rsplit('/').next().unwrap_or_default();
        [Self::doc(Dir::Sent, method), Self::doc(Dir::Received, method)]
    }

    fn request_at_headers(&self) -> bool {
        false
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

/// gRPC over h2c.
#[derive(Debug)]
pub struct Grpc;

impl Protocol for Grpc {
    fn name(&self) -> &'static str {
        "grpc"
    }

    fn describe(&self) -> &'static str {
        "gRPC over HTTP/2 cleartext (tonic), protobuf messages"
    }

    fn server(&self) -> &'static str {
        "grpc"
    }

    fn connect(
        &'static self,
        addr: SocketAddr,
        _: Operation,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Connection>, ClientError>> {
        Box::pin(async move {
            let counters = Arc::new(WireCounters::new(Dissector::new(Http2::new(GrpcBodies::default()))));
            let c = counters.clone();
            let connector = tower::service_fn(move |_: Uri| {
                let c = c.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(crate::wire::connect_with(addr, c).await?)) }
            });
            let channel = Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|e| ClientError::Connect(std::io::Error::other(e)))?
                .connect_with_connector(connector)
                .await
                .map_err(|e| ClientError::Connect(std::io::Error::other(e)))?;
            let client = ShopClient::new(channel).max_decoding_message_size(usize::MAX);
            Ok(Box::new(GrpcConnection { client, counters }) as Box<dyn Connection>)
        })
    }
}

struct GrpcConnection {
    client: ShopClient<tonic::transport::Channel>,
    counters: Arc<WireCounters>,
}

fn server_error(s: tonic::Status) -> ClientError {
    ClientError::Server { code: format!("{:?}", s.code()), message: s.message().to_owned() }
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
            Err(ClientError::Server { code: e.code, message: e.message })
        }
        None => Err(ClientError::decode("empty track reply")),
    }
}

fn create_request(p: &OpParams, key: Option<String>) -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        idempotency_key: key.unwrap_or_default(),
        order: Some(p.new_order.clone().into()),
    }
}

impl GrpcConnection {
    /// ListOrders, a server stream: list-orders and stream-orders alike (the latter timed
    /// per message).
    async fn list(&mut self, p: &OpParams, timed: bool) -> Result<Call, ClientError> {
        let req = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
        let mut marks = Marks::start(p.n as usize);
        let mut stream = self.client.list_orders(req).await.map_err(server_error)?.into_inner();
        let mut got = Vec::with_capacity(p.n as usize);
        while let Some(order) = stream.message().await.map_err(server_error)? {
            marks.mark();
            got.push(order);
        }
        let call = Call::new(Outcome::Orders(orders(got)?));
        Ok(if timed { call.messages(marks) } else { call })
    }
}

impl Operations for GrpcConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::GetUserRequest { id: p.user_id };
        let user = self.client.get_user(req).await.map_err(server_error)?.into_inner();
        Ok(Call::new(Outcome::User(user.try_into().map_err(ClientError::decode)?)))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::GetUserOrdersRequest { user_id: p.user_id, limit: p.n };
        let reply = self.client.get_user_orders(req).await.map_err(server_error)?.into_inner();
        Ok(Call::new(user_orders(reply)?))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.list(p, false).await
    }

    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.list(p, true).await
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = create_request(p, p.idempotency_key.clone());
        let reply = self.client.create_order(req).await.map_err(server_error)?.into_inner();
        let order = reply.order.ok_or_else(|| ClientError::decode("reply without order"))?;
        let order = order.try_into().map_err(ClientError::decode)?;
        Ok(Call::new(Outcome::Created { order, replayed: reply.replayed }))
    }

    /// ImportOrders, a client stream: N messages in, one summary out.
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let reqs: Vec<_> = (0..p.n as usize).map(|i| create_request(p, p.item_key(i))).collect();
        let summary =
            self.client.import_orders(futures::stream::iter(reqs)).await.map_err(server_error)?.into_inner();
        Ok(Call::new(Outcome::Imported(summary.into())))
    }

    /// TrackOrders, bidirectional: a real conversation, one request, its reply, the next.
    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let outbound = tokio_stream::wrappers::ReceiverStream::new(rx);
        let closed = || ClientError::decode("request stream closed");
        let first =
            pb::TrackRequest { correlation_id: 0, order_id: p.order_ids.first().copied().unwrap_or(0) };
        tx.send(first).await.map_err(|_| closed())?;
        let mut inbound = self.client.track_orders(outbound).await.map_err(server_error)?.into_inner();
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
            got.push(tracked(reply, i as u64)?);
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
    use crate::wire::dissect::replay;

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
