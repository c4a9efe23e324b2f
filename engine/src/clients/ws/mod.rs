//! WebSocket client (tokio-tungstenite) of the message protocol in `wirebench_servers::ws`:
//! requests carry a correlation id, replies echo it. Messages are JSON text frames, or
//! protobuf binary frames when the socket agrees on the subprotocol ([`protobuf`]).

mod protobuf;

use protobuf::Data;
pub use protobuf::WsProtoDocs;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use wirebench_wire::Dial;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::{SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL};
use tokio_util::either::Either;
use wirebench_domain::ImportSummary;
use wirebench_domain::Order;
use wirebench_servers::ws::deflate::{self, Clock, Deflating, Role};
use wirebench_servers::ws::{ClientMessage, CreatedOrder, Frames, OrderPage, SUBPROTOCOL, UserOrders};

use super::{Call, Client, ClientError, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use wirebench_wire::dissect::DocRules;
use wirebench_wire::docs::{Doc, json_member};
use wirebench_wire::websocket::WebSocket;
use wirebench_wire::{Dir, Dissector, WireCounters};

/// The messages over one WebSocket: JSON text frames, compressed or not, or protobuf binary
/// frames.
#[derive(Debug)]
pub struct Ws {
    name: &'static str,
    describe: &'static str,
    /// Offer permessage-deflate, and insist the server accepts it.
    deflate: bool,
    /// How messages are encoded; protobuf asks for the subprotocol and insists on it.
    frames: Frames,
    /// Main for JSON text frames, uncompressed.
    role: crate::clients::Role,
}

/// Today's JSON messages in plain text frames.
pub static WS: Ws = Ws {
    name: "ws",
    describe: "JSON messages with correlation ids over one WebSocket (text frames, masked client frames)",
    deflate: false,
    frames: Frames::Json,
    role: crate::clients::Role::Main,
};

/// The same messages with permessage-deflate (RFC 7692) at the server's level.
pub static WS_DEFLATE: Ws = Ws {
    name: "ws-deflate",
    describe: "ws with permessage-deflate: every message DEFLATE-compressed (level 6, context takeover both ways; \
        a cell repeats one request, so a repeated answer compresses to a back-reference: an upper bound)",
    deflate: true,
    frames: Frames::Json,
    role: crate::clients::Role::Variant,
};

/// The same messages in protobuf (`proto/wirebench/v1/ws.proto`), one per binary frame.
pub static WS_PROTO: Ws = Ws {
    name: "ws-proto",
    describe: "ws with protobuf messages in binary frames (subprotocol wirebench.v1.proto): \
        the same operations and correlation ids, gRPC's messages inside a oneof envelope",
    deflate: false,
    frames: Frames::Protobuf,
    role: crate::clients::Role::Variant,
};

impl Protocol for Ws {
    fn encoding(&self) -> &'static str {
        match self.frames {
            Frames::Json => "json",
            Frames::Protobuf => "protobuf",
        }
    }

    fn transport(&self) -> crate::clients::Transport {
        crate::clients::Transport::Websocket
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn describe(&self) -> &'static str {
        self.describe
    }

    fn server(&self) -> &'static str {
        "ws"
    }

    fn family(&self) -> &'static str {
        "WebSocket"
    }

    fn role(&self) -> crate::clients::Role {
        self.role
    }

    fn compression(&self) -> Option<(&'static str, &'static str)> {
        self.deflate.then_some(("deflate", WS.name))
    }

    /// Requests carry correlation ids, so one socket carries several at once.
    fn multiplexes(&self) -> bool {
        true
    }
}

/// Inflating a message is decoding, as inflating a compressed HTTP body is.
#[derive(Debug)]
pub struct DecodeClock;

impl Clock for DecodeClock {
    fn time<T>(&self, work: impl FnOnce() -> T) -> T {
        wirebench_wire::decoding(work)
    }
}

/// The socket under the library: plain, or with the permessage-deflate layer.
type Socket = Either<wirebench_wire::Stream, Deflating<wirebench_wire::Stream, DecodeClock>>;

impl Client for Ws {
    type Conn = WsConnection;

    async fn open(&'static self, dial: Dial, _: Operation) -> Result<WsConnection, ClientError> {
        let connect_error = |e| ClientError::Connect(std::io::Error::other(e));
        let dissector = match self.frames {
            Frames::Json => Dissector::new(WebSocket::new(WsDocs::default())),
            Frames::Protobuf => Dissector::new(WebSocket::new(protobuf::WsProtoDocs)),
        };
        let (stream, counters) =
            wirebench_wire::connect(&dial, dissector).await.map_err(ClientError::Connect)?;
        let mut request = format!("ws://{}/ws", dial.addr).into_client_request().map_err(connect_error)?;
        let stream = if self.deflate {
            let offer = HeaderValue::from_static(deflate::EXTENSION);
            request.headers_mut().insert(SEC_WEBSOCKET_EXTENSIONS, offer);
            let clock = DecodeClock;
            Either::Right(Deflating::new(stream, Role::Client, clock, usize::MAX))
        } else {
            Either::Left(stream)
        };
        if self.frames == Frames::Protobuf {
            request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
        }
        let (ws, response) = tokio_tungstenite::client_async(request, stream).await.map_err(connect_error)?;
        let agreed = response.headers().get(SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok());
        if self.frames == Frames::Protobuf && agreed != Some(SUBPROTOCOL) {
            return Err(ClientError::Connect(std::io::Error::other(format!(
                "the server declined the subprotocol {SUBPROTOCOL}"
            ))));
        }
        if let Either::Right(layer) = ws.get_ref()
            && layer.agreed() != Some(true)
        {
            return Err(ClientError::Connect(std::io::Error::other(
                "the server declined permessage-deflate",
            )));
        }
        Ok(WsConnection { link: Rc::new(Link::new(ws)), counters, frames: self.frames })
    }

    fn lane(&'static self, conn: &WsConnection) -> Option<WsConnection> {
        Some(WsConnection { link: conn.link.clone(), counters: conn.counters.clone(), frames: conn.frames })
    }
}

/// Which values of the WebSocket protocol's messages are records: a request's `order`; a
/// reply's, item's or event's `data` (a page's `data.data` elements, a list's `data`
/// elements). Replies name only their request's id, so the ids of page and list requests
/// are remembered.
#[derive(Debug, Default)]
pub struct WsDocs {
    /// Ids of `list_orders` and `users_orders` requests not answered yet, and what their
    /// answer's records are.
    pending: Vec<(Vec<u8>, Doc)>,
}

impl DocRules for WsDocs {
    fn doc(&mut self, dir: Dir, _: &str, doc: &[u8]) -> Doc {
        let id = json_member(doc, "id").unwrap_or_default().to_vec();
        match dir {
            Dir::Sent => {
                match json_member(doc, "op") {
                    Some(br#""list_orders""#) => self.pending.push((id, Doc::Json(&["$.data.data[*]"]))),
                    Some(br#""users_orders""#) => self.pending.push((id, Doc::Json(&["$.data[*]"]))),
                    _ => {}
                }
                Doc::Json(&["$.order"])
            }
            Dir::Received => match json_member(doc, "type") {
                Some(br#""reply""#) if self.pending.iter().any(|(p, _)| *p == id) => {
                    let i = self.pending.iter().position(|(p, _)| *p == id).expect("found above");
                    self.pending.swap_remove(i).1
                }
                Some(br#""reply""# | br#""item""# | br#""event""#) => Doc::Json(&["$.data"]),
                _ => Doc::Json(&[]),
            },
        }
    }
}

/// A connection, or one lane of it: the lanes of a connection (`--streams`) share its
/// [`Link`], each with its own requests in flight.
#[derive(Debug)]
pub struct WsConnection {
    link: Rc<Link>,
    counters: Arc<WireCounters>,
    frames: Frames,
}

type Sink = SplitSink<WebSocketStream<Socket>, Message>;
type Source = SplitStream<WebSocketStream<Socket>>;

/// One socket and what its lanes share: whichever lane is waiting reads the next message and
/// hands it to the lane whose request id it names, by way of the mailbox.
struct Link {
    sink: tokio::sync::Mutex<Sink>,
    source: tokio::sync::Mutex<Source>,
    /// Messages read by one lane for another, by request id.
    mailbox: RefCell<HashMap<u64, VecDeque<Message>>>,
    /// Wakes the lanes waiting for their mailbox or for the source.
    arrived: tokio::sync::Notify,
    next_id: Cell<u64>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("next_id", &self.next_id.get()).finish_non_exhaustive()
    }
}

impl Link {
    fn new(ws: WebSocketStream<Socket>) -> Link {
        let (sink, source) = ws.split();
        Link {
            sink: tokio::sync::Mutex::new(sink),
            source: tokio::sync::Mutex::new(source),
            mailbox: RefCell::default(),
            arrived: tokio::sync::Notify::new(),
            next_id: Cell::new(1),
        }
    }

    fn take(&self, id: u64) -> Option<Message> {
        let mut mailbox = self.mailbox.borrow_mut();
        let queue = mailbox.get_mut(&id)?;
        let message = queue.pop_front();
        if queue.is_empty() {
            mailbox.remove(&id);
        }
        message
    }
}

/// A server message, with `data` decoded as the type the request expects.
#[derive(Deserialize)]
pub(super) struct Incoming<T> {
    #[serde(rename = "type")]
    kind: String,
    id: Option<u64>,
    data: Option<T>,
    code: Option<String>,
    message: Option<String>,
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> ClientError {
    ClientError::Io(std::io::Error::other(e))
}

impl WsConnection {
    fn id(&mut self) -> u64 {
        let id = self.link.next_id.get() + 1;
        self.link.next_id.set(id);
        id
    }

    /// `msg` as a frame of this socket's kind.
    fn frame(&self, msg: ClientMessage) -> Message {
        match self.frames {
            Frames::Json => Message::text(serde_json::to_string(&msg).expect("messages serialize")),
            Frames::Protobuf => protobuf::frame(msg),
        }
    }

    /// Queues one message (flushed by `send` or the next flush).
    async fn feed(&mut self, msg: ClientMessage) -> Result<(), ClientError> {
        let frame = self.frame(msg);
        self.link.sink.lock().await.feed(frame).await.map_err(ws_error)
    }

    async fn send(&mut self, msg: ClientMessage) -> Result<(), ClientError> {
        let frame = self.frame(msg);
        self.link.sink.lock().await.send(frame).await.map_err(ws_error)
    }

    /// The next data message for request `id`: from the mailbox, or read off the socket by
    /// this lane (handing any message for another request to its lane).
    async fn next_message(&mut self, id: u64) -> Result<Message, ClientError> {
        loop {
            let arrived = self.link.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(message) = self.link.take(id) {
                return Ok(message);
            }
            let Ok(mut source) = self.link.source.try_lock() else {
                arrived.await;
                continue;
            };
            let next = source.next().await;
            drop(source);
            // Whatever came, another lane may read next (or find its message).
            self.link.arrived.notify_waiters();
            let message = match next {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => {
                    return Err(ClientError::Decode(format!("server closed the socket: {frame:?}")));
                }
                Some(Err(e)) => return Err(ws_error(e)),
                None => return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            };
            let to = match (&message, self.frames) {
                (Message::Text(text), Frames::Json) => {
                    json_member(text.as_bytes(), "id").and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                }
                (Message::Binary(bytes), Frames::Protobuf) => protobuf::correlation(bytes),
                (_, frames) => {
                    return Err(ClientError::Decode(format!(
                        "a frame of the other kind on a {frames:?} socket"
                    )));
                }
            };
            match to {
                Some(to) if to != id => {
                    self.link.mailbox.borrow_mut().entry(to).or_default().push_back(message);
                }
                _ => return Ok(message),
            }
        }
    }

    /// The next message for request `id`, decoded; a message naming no request (or another
    /// that no lane waits for) is a protocol error here.
    async fn receive<T: Data>(&mut self, id: u64) -> Result<Incoming<T>, ClientError> {
        let msg: Incoming<T> = match self.next_message(id).await? {
            Message::Text(text) => {
                wirebench_wire::decoding(|| serde_json::from_str(&text).map_err(ClientError::decode))?
            }
            Message::Binary(bytes) => wirebench_wire::decoding(|| protobuf::incoming(&bytes))?,
            other => return Err(ClientError::Decode(format!("unexpected {other:?}"))),
        };
        if msg.kind == "error" {
            let code = msg.code.unwrap_or_default();
            let domain = code.clone();
            return Err(ClientError::answered(Some(&domain), code, msg.message.unwrap_or_default(), None));
        }
        if msg.id != Some(id) {
            return Err(ClientError::Decode(format!("message for {:?} while waiting for {id}", msg.id)));
        }
        Ok(msg)
    }

    /// One request, one reply.
    async fn request<T: Data>(&mut self, msg: ClientMessage) -> Result<T, ClientError> {
        let id = msg.id();
        self.send(msg).await?;
        let reply = self.receive::<T>(id).await?;
        reply.data.ok_or_else(|| ClientError::Decode(format!("{} without data", reply.kind)))
    }
}

impl Operations for WsConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg = ClientMessage::GetUser { id: self.id(), user_id: p.user_id };
        let user = self.request(msg).await?;
        Ok(Call::new(Outcome::User(user)))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg = ClientMessage::UserOrders { id: self.id(), user_id: p.user_id, limit: p.n };
        let v: UserOrders = self.request(msg).await?;
        Ok(Call::new(Outcome::UserOrders { name: v.name, orders: v.orders }))
    }

    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg = ClientMessage::UsersOrders { id: self.id(), limit: p.n };
        let users = self.request(msg).await?;
        Ok(Call::new(Outcome::UsersOrders(users)))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg =
            ClientMessage::ListOrders { id: self.id(), limit: p.n, cursor: None, status: None, sort: None };
        let page: OrderPage = self.request(msg).await?;
        Ok(Call::new(Outcome::Orders(page.data)))
    }

    /// One `item` message per order, then `end`.
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let id = self.id();
        let mut marks = Marks::start(p.n as usize);
        self.send(ClientMessage::StreamOrders { id, limit: p.n, status: None }).await?;
        let mut orders = Vec::with_capacity(p.n as usize);
        loop {
            let msg = self.receive::<Order>(id).await?;
            match (msg.kind.as_str(), msg.data) {
                ("item", Some(order)) => {
                    marks.mark(&self.counters);
                    orders.push(order);
                }
                ("end", _) => break,
                (kind, _) => return Err(ClientError::Decode(format!("unexpected {kind} in a stream"))),
            }
        }
        Ok(Call::new(Outcome::Orders(orders)).messages(marks))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg = ClientMessage::CreateOrder {
            id: self.id(),
            idempotency_key: p.idempotency_key.clone(),
            order: p.new_order.clone(),
        };
        let c: CreatedOrder = self.request(msg).await?;
        Ok(Call::new(Outcome::Created { order: c.order, replayed: c.replayed }))
    }

    /// N `import_order` messages (no replies), then one `import_commit` for the summary.
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let batch = format!("import-{}", self.id());
        for i in 0..p.n as usize {
            let msg = ClientMessage::ImportOrder {
                id: self.id(),
                batch: batch.clone(),
                idempotency_key: p.item_key(i),
                order: p.new_order.clone(),
            };
            self.feed(msg).await?;
        }
        let commit = ClientMessage::ImportCommit { id: self.id(), batch };
        let summary: ImportSummary = self.request(commit).await?;
        Ok(Call::new(Outcome::Imported(summary)))
    }

    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let mut orders = Vec::with_capacity(p.order_ids.len());
        for order_id in &p.order_ids {
            let msg = ClientMessage::GetOrder { id: self.id(), order_id: *order_id };
            orders.push(self.request(msg).await?);
        }
        Ok(Call::new(Outcome::Orders(orders)).round_trips(p.order_ids.len() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirebench_wire::Framing;
    use wirebench_wire::dissect::replay;

    fn masked(payload: &[u8]) -> Vec<u8> {
        let key = [9, 8, 7, 6];
        let mut f = vec![0x81, 0x80 | payload.len() as u8];
        f.extend(key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    }

    fn text(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x81, payload.len() as u8];
        f.extend(payload);
        f
    }

    #[test]
    fn a_page_and_a_user_split_by_hand() {
        let upgrade = b"GET /ws HTTP/1.1\r\n\r\n";
        let switched = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let list = masked(br#"{"op":"list_orders","id":2,"limit":2}"#);
        // The page's records are its orders (8 bytes each): `data.data` elements.
        let page = text(br#"{"type":"reply","id":2,"data":{"data":[{"id":1},{"id":2}],"next_cursor":null}}"#);
        let get = masked(br#"{"op":"get_user","id":3,"user_id":1}"#);
        // A user reply's record is its whole `data` ({"id":1,"name":"A"}: 19 bytes).
        let user = text(br#"{"type":"reply","id":3,"data":{"id":1,"name":"A"}}"#);
        let exchange: [(Dir, &[u8]); 6] = [
            (Dir::Sent, upgrade),
            (Dir::Received, switched),
            (Dir::Sent, &list),
            (Dir::Received, &page),
            (Dir::Sent, &get),
            (Dir::Received, &user),
        ];
        let (t, err) = replay(WebSocket::new(WsDocs::default()), &exchange);
        assert_eq!(err, None);
        // Received: the page message is 78 bytes (16 of data), the user message 50 (19 of data).
        assert_eq!((page.len() - 2, user.len() - 2), (78, 50));
        assert_eq!(t.data[1], 16 + 19);
        assert_eq!(t.envelope[1], (78 - 16) + (50 - 19));
        assert_eq!(t.framing[1][Framing::WsFrameHeaders as usize], 4);
        // Sent: requests carry parameters only; two 2-byte headers and two 4-byte masks.
        assert_eq!((t.data[0], t.framing[0][Framing::WsMasks as usize]), (0, 8));
        assert_eq!(t.pending(Dir::Sent) + t.pending(Dir::Received), 0);
        // The upgrade, then two request/reply pairs: three waves.
        assert_eq!(t.waves, 3);
    }
}
