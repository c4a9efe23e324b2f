//! Clients of the raw-TCP floor protocol (`wirebench_servers::floor` documents the frames),
//! and its dissector: a frame's 4-byte length prefix and its op or kind byte are framing;
//! its protobuf message is a document whose records depend on the op.
//!
//! Two variants: `floor` runs the catalog with gRPC's protobuf messages and the same store
//! work; `floor-echo` ([`echo`]) moves, per operation, bytes of exactly the sizes gRPC's
//! messages have, with no store or codec work: the machine's transport cost for them.

use std::collections::VecDeque;
use std::sync::Arc;
use wirebench_wire::Dial;

use prost::Message;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use wirebench_proto::v1 as pb;
use wirebench_servers::floor::{Frame, PREFIX, kind, op, read_frame, write_frame};

use super::{Call, Client, ClientError, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::clients::grpc::{orders, user_orders};
use wirebench_wire::dissect::{Dissect, WireError, attribute_doc, parse_buffered};
use wirebench_wire::docs::Doc;
use wirebench_wire::{Dir, Dissector, Framing, Layer, Tally, WireCounters};

pub mod echo;

pub use self::echo::FLOOR_ECHO;

/// Largest reply the client accepts.
const MAX_REPLY: usize = 256 * 1024 * 1024;

/// The floor protocol, running the catalog.
#[derive(Debug)]
pub struct Floor;

pub static FLOOR: Floor = Floor;

impl Protocol for Floor {
    fn encoding(&self) -> &'static str {
        "protobuf"
    }

    fn transport(&self) -> crate::clients::Transport {
        crate::clients::Transport::RawTcp
    }

    fn name(&self) -> &'static str {
        "floor"
    }

    fn describe(&self) -> &'static str {
        "raw TCP, 4-byte length prefix, gRPC's protobuf messages and store work: no HTTP at all"
    }

    fn server(&self) -> &'static str {
        "floor"
    }

    fn family(&self) -> &'static str {
        "floor"
    }

    fn role(&self) -> crate::clients::Role {
        crate::clients::Role::Reference
    }
}

impl Client for Floor {
    type Conn = FloorConnection;

    async fn open(&'static self, dial: Dial, _: Operation) -> Result<FloorConnection, ClientError> {
        FloorConnection::open(&dial).await
    }
}

/// The floor's frames, both directions. Replies come in request order, so the ops awaiting
/// a reply say what each reply carries.
#[derive(Debug, Default)]
pub struct FloorFrames {
    bufs: [Vec<u8>; 2],
    /// Ops sent and not yet fully answered, oldest first (import items get no reply).
    awaiting: VecDeque<u8>,
}

impl FloorFrames {
    /// What a frame's message is: a request of `code`, or a reply of `code` to `request`.
    fn doc(dir: Dir, code: u8, request: Option<u8>) -> Doc {
        match (dir, code, request) {
            (Dir::Sent, op::ECHO | op::SINK, _)
            | (Dir::Received, kind::OK, Some(op::ECHO))
            | (Dir::Received, kind::ITEM, Some(op::FILL)) => Doc::OpaqueData,
            (Dir::Sent, op::CREATE_ORDER | op::IMPORT_ITEM, _) => Doc::Protobuf(&["$.2"]),
            (Dir::Sent, _, _) => Doc::Protobuf(&[]),
            (Dir::Received, kind::ITEM, _) => Doc::Protobuf(&["$"]),
            (Dir::Received, kind::OK, Some(op::GET_USER | op::USER_ORDERS | op::IMPORT_COMMIT)) => {
                Doc::Protobuf(&["$"])
            }
            (Dir::Received, kind::OK, Some(op::LIST_ORDERS | op::CREATE_ORDER | op::USERS_ORDERS)) => {
                Doc::Protobuf(&["$.1"])
            }
            (Dir::Received, kind::OK, Some(op::TRACK)) => Doc::Protobuf(&["$.2"]),
            // END carries a count, ERROR a text: no records.
            (Dir::Received, _, _) => Doc::OpaqueEnvelope,
        }
    }

    /// Attributes one whole frame of `dir`.
    fn frame(&mut self, dir: Dir, body: &[u8], t: &mut Tally) -> Result<(), WireError> {
        let (&code, message) = body.split_first().ok_or_else(|| WireError("floor: an empty frame".into()))?;
        t.attribute(dir, Layer::Framing(Framing::MessagePrefixes), PREFIX + 1);
        let request = match dir {
            Dir::Sent => {
                t.request();
                if !matches!(code, op::IMPORT_ITEM | op::SINK) {
                    self.awaiting.push_back(code);
                }
                if code == op::FILL {
                    // The size list says what to send back; the rest stands in for a request.
                    let (_, list) = wirebench_servers::floor::fill_sizes(message).map_err(WireError)?;
                    t.attribute(dir, Layer::Envelope, list);
                    t.attribute(dir, Layer::Data, message.len() - list);
                    return Ok(());
                }
                None
            }
            Dir::Received => {
                t.answer();
                let request = self.awaiting.front().copied();
                if code != kind::ITEM {
                    self.awaiting.pop_front();
                }
                request
            }
        };
        attribute_doc(t, dir, Self::doc(dir, code, request), message)
    }
}

impl FloorFrames {
    /// Attributes every whole frame at the start of `buf`; returns the bytes consumed.
    fn frames(&mut self, dir: Dir, buf: &[u8], t: &mut Tally) -> Result<usize, WireError> {
        let mut pos = 0;
        while let Some(prefix) = buf.get(pos..pos + PREFIX) {
            let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize;
            if buf.len() - pos < PREFIX + len {
                break;
            }
            self.frame(dir, &buf[pos + PREFIX..pos + PREFIX + len], t)?;
            pos += PREFIX + len;
        }
        Ok(pos)
    }
}

impl Dissect for FloorFrames {
    fn feed(&mut self, dir: Dir, bytes: &[u8], t: &mut Tally) -> Result<(), WireError> {
        let mut buf = std::mem::take(&mut self.bufs[dir.index()]);
        let parsed = parse_buffered(&mut buf, bytes, |b| self.frames(dir, b, t));
        self.bufs[dir.index()] = buf;
        parsed
    }
}

#[derive(Debug)]
pub struct FloorConnection {
    r: BufReader<tokio::io::ReadHalf<wirebench_wire::Stream>>,
    w: BufWriter<tokio::io::WriteHalf<wirebench_wire::Stream>>,
    counters: Arc<WireCounters>,
    /// Reused read buffer.
    frame: Vec<u8>,
    /// Reused encode buffer.
    scratch: Vec<u8>,
}

impl FloorConnection {
    async fn open(dial: &Dial) -> Result<FloorConnection, ClientError> {
        let dissector = Dissector::new(FloorFrames::default());
        let (stream, counters) =
            wirebench_wire::connect(dial, dissector).await.map_err(ClientError::Connect)?;
        let (r, w) = tokio::io::split(stream);
        Ok(FloorConnection {
            r: BufReader::new(r),
            w: BufWriter::new(w),
            counters,
            frame: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Sends one request frame of raw bytes (not flushed).
    async fn send_raw(&mut self, code: u8, body: &[u8]) -> Result<(), ClientError> {
        write_frame(&mut self.w, code, body).await?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        Ok(self.w.flush().await?)
    }

    /// Sends one request frame (not flushed).
    async fn send(&mut self, code: u8, msg: &impl Message) -> Result<(), ClientError> {
        self.scratch.clear();
        msg.encode(&mut self.scratch).expect("Vec grows");
        write_frame(&mut self.w, code, &self.scratch).await?;
        Ok(())
    }

    /// Reads one reply frame; returns its kind (errors become [`ClientError::Server`]).
    async fn receive(&mut self) -> Result<u8, ClientError> {
        match read_frame(&mut self.r, &mut self.frame, MAX_REPLY).await? {
            Frame::Body => {}
            Frame::End => return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Frame::TooLarge(len) => {
                return Err(ClientError::Decode(format!("reply of {len} bytes over the limit")));
            }
        }
        match self.frame.first().copied() {
            Some(kind::ERROR) => {
                let text = String::from_utf8_lossy(&self.frame[1..]);
                let (code, message) = text.split_once(": ").unwrap_or(("error", &text));
                Err(ClientError::answered(Some(code), code.to_owned(), message.to_owned(), None))
            }
            Some(k) => Ok(k),
            None => Err(ClientError::decode("empty frame")),
        }
    }

    fn body<M: Message + Default>(&self) -> Result<M, ClientError> {
        wirebench_wire::decoding(|| M::decode(&self.frame[1..]).map_err(ClientError::decode))
    }

    /// Converts protobuf messages to domain types on the decode clock.
    fn convert<T>(&self, f: impl FnOnce() -> Result<T, ClientError>) -> Result<T, ClientError> {
        wirebench_wire::decoding(f)
    }

    /// One request, one `OK` reply.
    async fn unary<M: Message + Default>(&mut self, code: u8, req: &impl Message) -> Result<M, ClientError> {
        self.send(code, req).await?;
        self.w.flush().await?;
        match self.receive().await? {
            kind::OK => self.body(),
            other => Err(ClientError::Decode(format!("expected OK, got frame kind {other}"))),
        }
    }
}

impl Operations for FloorConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let user: pb::User = self.unary(op::GET_USER, &pb::GetUserRequest { id: p.user_id }).await?;
        Ok(Call::new(Outcome::User(self.convert(|| user.try_into().map_err(ClientError::decode))?)))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::GetUserOrdersRequest { user_id: p.user_id, limit: p.n };
        let reply = self.unary(op::USER_ORDERS, &req).await?;
        Ok(Call::new(self.convert(|| user_orders(reply))?))
    }

    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::ListUsersOrdersRequest { limit: p.n, orders_limit: p.n };
        let reply: pb::UsersOrders = self.unary(op::USERS_ORDERS, &req).await?;
        Ok(Call::new(self.convert(|| crate::clients::grpc::users_orders(reply))?))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
        let page: pb::OrderPage = self.unary(op::LIST_ORDERS, &req).await?;
        Ok(Call::new(Outcome::Orders(self.convert(|| orders(page.orders))?)))
    }

    /// One `ITEM` frame per order, then `END`.
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
        let mut marks = Marks::start(p.n as usize);
        self.send(op::STREAM_ORDERS, &req).await?;
        self.w.flush().await?;
        let mut got = Vec::with_capacity(p.n as usize);
        loop {
            match self.receive().await? {
                kind::ITEM => {
                    marks.mark(&self.counters);
                    got.push(self.body::<pb::Order>()?);
                }
                kind::END => break,
                other => return Err(ClientError::Decode(format!("unexpected frame kind {other}"))),
            }
        }
        Ok(Call::new(Outcome::Orders(self.convert(|| orders(got))?)).messages(marks))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = crate::clients::grpc::create_request(p, p.idempotency_key.clone());
        let reply: pb::CreateOrderResponse = self.unary(op::CREATE_ORDER, &req).await?;
        Ok(Call::new(self.convert(|| crate::clients::grpc::created(reply))?))
    }

    /// N `IMPORT_ITEM` frames (no replies), then one `IMPORT_COMMIT` for the summary.
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        for i in 0..p.n as usize {
            let req = pb::CreateOrderRequest {
                idempotency_key: p.item_key(i).unwrap_or_default(),
                order: Some(p.new_order.clone().into()),
            };
            self.send(op::IMPORT_ITEM, &req).await?;
        }
        let summary: pb::ImportSummary = self.unary(op::IMPORT_COMMIT, &()).await?;
        Ok(Call::new(Outcome::Imported(self.convert(|| Ok(summary.into()))?)))
    }

    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let mut got = Vec::with_capacity(p.order_ids.len());
        for (i, id) in p.order_ids.iter().enumerate() {
            let req = pb::TrackRequest { correlation_id: i as u64, order_id: *id };
            let reply: pb::TrackReply = self.unary(op::TRACK, &req).await?;
            got.push(self.convert(|| crate::clients::grpc::tracked(reply, i as u64))?);
        }
        Ok(Call::new(Outcome::Orders(got)).round_trips(p.order_ids.len() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirebench_wire::dissect::replay;

    fn frame(code: u8, message: &[u8]) -> Vec<u8> {
        let mut f = ((message.len() + 1) as u32).to_be_bytes().to_vec();
        f.push(code);
        f.extend(message);
        f
    }

    #[test]
    fn a_create_and_a_list_split_by_hand() {
        // CreateOrderRequest: key "k" (field 1: 0x0a 0x01 'k') and an order (field 2) whose
        // message is 4 bytes: 0x12 0x04 + 4 bytes. Record: those 4 bytes.
        let create = frame(op::CREATE_ORDER, &[0x0a, 0x01, b'k', 0x12, 0x04, 0x08, 0x07, 0x10, 0x01]);
        // CreateOrderResponse: order (field 1) of 2 bytes, replayed (field 2) false omitted.
        let created = frame(kind::OK, &[0x0a, 0x02, 0x08, 0x09]);
        // ListOrdersRequest {limit: 2}: no records. OrderPage: two orders of 2 and 3 bytes and
        // a cursor "c" (field 2).
        let list = frame(op::LIST_ORDERS, &[0x08, 0x02]);
        let page = frame(kind::OK, &[0x0a, 0x02, 0x08, 0x01, 0x0a, 0x03, 0x08, 0x96, 0x01, 0x12, 0x01, b'c']);
        let (t, err) = replay(
            FloorFrames::default(),
            &[
                (Dir::Sent, &create),
                (Dir::Received, &created[..3]),
                (Dir::Received, &created[3..]),
                (Dir::Sent, &list),
                (Dir::Received, &page),
            ],
        );
        assert_eq!(err, None);
        let prefixes = |d: usize| t.framing[d][Framing::MessagePrefixes as usize];
        assert_eq!((prefixes(0), prefixes(1)), (10, 10));
        assert_eq!((t.data[0], t.envelope[0]), (4, 5 + 2));
        assert_eq!((t.data[1], t.envelope[1]), (2 + 5, 2 + 2 + 2 + 3));
        assert_eq!((t.pending(Dir::Sent), t.pending(Dir::Received)), (0, 0));
        assert_eq!((t.requests, t.answers, t.waves), (2, 2, 2));
    }

    #[test]
    fn import_items_wait_for_the_commit_and_stream_items_are_records() {
        let item = frame(op::IMPORT_ITEM, &[0x12, 0x00]);
        let commit = frame(op::IMPORT_COMMIT, &[]);
        let summary = frame(kind::OK, &[0x08, 0x02]);
        let stream = frame(op::STREAM_ORDERS, &[0x08, 0x01]);
        let one = frame(kind::ITEM, &[0x08, 0x05]);
        let end = frame(kind::END, &1u32.to_be_bytes());
        let mut sent = item.clone();
        sent.extend(&item);
        sent.extend(&commit);
        let (t, err) = replay(
            FloorFrames::default(),
            &[
                (Dir::Sent, &sent),
                (Dir::Received, &summary),
                (Dir::Sent, &stream),
                (Dir::Received, &one),
                (Dir::Received, &end),
            ],
        );
        assert_eq!(err, None);
        // Items and commit leave before any answer: one wave; the stream is a second.
        assert_eq!(t.waves, 2);
        // Received: the summary (2 bytes) and the item (2 bytes) are records; END's count is not.
        assert_eq!((t.data[1], t.envelope[1]), (4, 4));
    }
}
