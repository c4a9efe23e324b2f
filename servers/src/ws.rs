//! WebSockets: one socket per client at `/ws`, JSON text frames, replies matched to requests
//! by a client-chosen correlation id, and server push.
//!
//! Every client message is a [`ClientMessage`], tagged by `"op"` and carrying an `"id"` that
//! the answer echoes. Every server message is a [`ServerMessage`], tagged by `"type"`:
//! `reply` (one answer), `item` + `end` (a stream), `event` (a subscription push) or `error`.
//! A client may pipeline many requests; they run concurrently (up to [`MAX_IN_FLIGHT`] per
//! socket), so replies can arrive out of order and the id is what matches them up.
//!
//! ```text
//! → {"op":"get_user","id":1,"user_id":7}
//! ← {"type":"reply","id":1,"data":{"id":7,"name":"…",…}}
//! → {"op":"stream_orders","id":2,"limit":2}
//! ← {"type":"item","id":2,"seq":0,"data":{…order 1…}}
//! ← {"type":"item","id":2,"seq":1,"data":{…order 2…}}
//! ← {"type":"end","id":2,"count":2}
//! → {"op":"get_user","id":3,"user_id":999999}
//! ← {"type":"error","id":3,"code":"not_found","message":"user 999999 not found"}
//! ```
//!
//! Errors are messages, never a dropped socket: domain errors carry the domain's codes;
//! unreadable messages are `malformed_message`, text over `max_body_bytes` is `too_large`,
//! binary frames are `unsupported`. Only frames far beyond the limit (more than
//! [`LIBRARY_LIMIT_FACTOR`] times it) reach the library's own limit, which closes with 1009.
//!
//! Each connection is one task: a read loop (requests, subscriptions, keep-alive) and one
//! writer fed by a channel, so replies, stream items and pushes interleave safely and are
//! flushed in batches. The server pings every [`PING_INTERVAL`] and closes a socket that has
//! sent nothing for [`IDLE_TIMEOUT`]. On shutdown it stops accepting, lets in-flight requests
//! finish and closes every socket with 1001 (going away).
//!
//! The contract `schema/ws.schema.json` is generated from these types by [`schema_json`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::StreamMap;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use wirebench_domain::store::MAX_BATCH;
use wirebench_domain::{
    BatchItem, DomainError, Id, ImportTally, MAX_LIMIT, NewOrder, Order, OrderEvent, OrderQuery, OrderStatus,
    Sort, Store, User,
};

use crate::{ProtocolServer, ServerContext};

/// The only path that upgrades; any other gets HTTP 404 during the handshake.
pub const PATH: &str = "/ws";
/// How often the server pings an open socket.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// A socket that has sent nothing (not even a pong) for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests one socket may have running at once; past this the server stops reading.
pub const MAX_IN_FLIGHT: usize = 128;
/// Orders one socket may hold in unfinished import batches, all batches together.
pub const MAX_BUFFERED_IMPORTS: usize = MAX_BATCH;
/// Event subscriptions one socket may hold.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// The library's own message and frame limit is this multiple of `max_body_bytes`: text
/// between the two gets a `too_large` error message, only text beyond it closes the socket.
pub const LIBRARY_LIMIT_FACTOR: usize = 4;

/// Time a client has to complete the upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a closing socket has to finish in-flight requests and answer our Close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Time `serve` waits for closing sockets after shutdown before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after an accept error that is not about one connection (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Messages queued for a socket's writer before producers wait.
const OUTBOX_CAPACITY: usize = 256;
/// Most messages the writer buffers before it flushes.
const WRITE_BATCH: usize = 64;

/// The WebSocket server.
#[derive(Debug)]
pub struct Ws;

impl ProtocolServer for Ws {
    fn name(&self) -> &'static str {
        "ws"
    }

    fn describe(&self) -> &'static str {
        "WebSocket, JSON text frames: correlated request/reply, streams and event push"
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("ws://{addr}{PATH}")
    }

    fn contracts(&self) -> Vec<(&'static str, String)> {
        vec![("ws.schema.json", schema_json())]
    }

    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, io::Result<()>> {
        Box::pin(accept_loop(listener, ctx, shutdown))
    }
}

// ---------------------------------------------------------------------------------------
// Messages: the protocol, and the source of `schema/ws.schema.json`.

/// A message from client to server. `id` is chosen by the client and echoed in every
/// message that answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// One full user. Answered by a `reply` whose data is a `User`.
    GetUser {
        /// Correlation id, echoed in the answer.
        id: u64,
        user_id: Id,
    },
    /// A user's name and their `limit` most recent orders (id, total, status), newest
    /// first. Answered by a `reply` whose data is a `UserOrders`.
    UserOrders {
        /// Correlation id, echoed in the answer.
        id: u64,
        user_id: Id,
        /// How many orders, 1 to 1000.
        limit: u32,
    },
    /// A page of full orders. Answered by a `reply` whose data is an `OrderPage`.
    ListOrders {
        /// Correlation id, echoed in the answer.
        id: u64,
        /// Page size, 1 to 1000.
        limit: u32,
        /// `next_cursor` of the previous page (only valid with the same `sort`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        /// Only orders with this status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<OrderStatus>,
        /// `id` (the default), `created_at` or `total_cents`; a leading `-` sorts descending.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sort: Option<String>,
    },
    /// The first `limit` orders in id order, one message each: `limit` `item` messages
    /// (fewer if there are fewer orders) followed by one `end`.
    StreamOrders {
        /// Correlation id, echoed in every item and in the end.
        id: u64,
        /// How many orders to stream; 0 streams none.
        limit: u32,
        /// Only orders with this status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<OrderStatus>,
    },
    /// One order. Answered by a `reply` whose data is an `Order`.
    GetOrder {
        /// Correlation id, echoed in the answer.
        id: u64,
        order_id: Id,
    },
    /// Creates an order. With an idempotency key a repeat replays the first answer (with
    /// `replayed: true`); the same key with another order is `idempotency_key_reused`.
    /// Answered by a `reply` whose data is a `CreatedOrder`.
    CreateOrder {
        /// Correlation id, echoed in the answer.
        id: u64,
        /// Stripe-style idempotency key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
        order: NewOrder,
    },
    /// Adds an order to the named import batch of this socket. Not answered (except by an
    /// `error` when the socket already buffers too many orders or the message is
    /// malformed); `import_commit` creates the whole batch.
    ImportOrder {
        /// Correlation id; only an error answers it.
        id: u64,
        /// Name of the batch, chosen by the client; batches are private to a socket.
        batch: String,
        /// Per-order idempotency key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
        order: NewOrder,
    },
    /// Creates every order buffered in the batch, in one store call, and forgets the batch.
    /// Answered by one `reply` whose data is an `ImportSummary`.
    ImportCommit {
        /// Correlation id, echoed in the answer.
        id: u64,
        batch: String,
    },
    /// Starts pushing every order event. Answered by a `reply` with `{"subscribed": true}`,
    /// then by one `event` message per event, all carrying this message's id.
    SubscribeEvents {
        /// Correlation id; also names the subscription.
        id: u64,
    },
    /// Stops a subscription. Answered by a `reply` with `{"subscribed": false}`.
    Unsubscribe {
        /// Correlation id, echoed in the answer.
        id: u64,
        /// The id of the `subscribe_events` message that started the subscription.
        subscription: u64,
    },
}

impl ClientMessage {
    /// The correlation id.
    pub fn id(&self) -> u64 {
        match self {
            ClientMessage::GetUser { id, .. }
            | ClientMessage::UserOrders { id, .. }
            | ClientMessage::ListOrders { id, .. }
            | ClientMessage::StreamOrders { id, .. }
            | ClientMessage::GetOrder { id, .. }
            | ClientMessage::CreateOrder { id, .. }
            | ClientMessage::ImportOrder { id, .. }
            | ClientMessage::ImportCommit { id, .. }
            | ClientMessage::SubscribeEvents { id }
            | ClientMessage::Unsubscribe { id, .. } => *id,
        }
    }
}

/// A message from server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMessage {
    /// The one answer to a request.
    Reply {
        /// The request's correlation id.
        id: u64,
        data: ReplyData,
    },
    /// One order of a `stream_orders` stream.
    Item {
        /// The `stream_orders` request's id.
        id: u64,
        /// Position in the stream, from 0.
        seq: u64,
        data: Order,
    },
    /// The end of a `stream_orders` stream.
    End {
        /// The `stream_orders` request's id.
        id: u64,
        /// How many items the stream carried.
        count: u64,
    },
    /// An order event pushed to a subscription.
    Event {
        /// The `subscribe_events` request's id.
        id: u64,
        data: OrderEvent,
    },
    /// A request failed, or a subscription skipped events (`lagged`). The socket stays open.
    Error {
        /// The request's id; null when it could not be read from the message.
        id: Option<u64>,
        /// Stable, machine-readable: the domain's codes (`not_found`, `invalid_argument`,
        /// `invalid_cursor`, `too_large`, `conflict`, `idempotency_key_reused`,
        /// `idempotency_key_in_flight`) or `malformed_message`, `unsupported`, `lagged`.
        code: Cow<'static, str>,
        /// What went wrong, for people.
        message: String,
    },
}

impl ServerMessage {
    /// The correlation id this message answers, if any.
    pub fn id(&self) -> Option<u64> {
        match self {
            ServerMessage::Reply { id, .. }
            | ServerMessage::Item { id, .. }
            | ServerMessage::End { id, .. }
            | ServerMessage::Event { id, .. } => Some(*id),
            ServerMessage::Error { id, .. } => *id,
        }
    }

    /// An error message with a code of this protocol's own.
    pub fn error(id: Option<u64>, code: &'static str, message: impl Into<String>) -> Self {
        ServerMessage::Error { id, code: Cow::Borrowed(code), message: message.into() }
    }

    /// The error message for a domain error.
    pub fn domain_error(id: u64, e: &DomainError) -> Self {
        ServerMessage::error(Some(id), e.code(), e.to_string())
    }
}

/// The data of a `reply`; which one depends on the request's `op`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per reply and serialized; a box would add an allocation"
)]
pub enum ReplyData {
    /// Answers `get_user`.
    User(User),
    /// Answers `get_order`.
    Order(Order),
    /// Answers `user_orders`.
    UserOrders(UserOrders),
    /// Answers `list_orders`.
    OrderPage(OrderPage),
    /// Answers `create_order`.
    CreatedOrder(CreatedOrder),
    /// Answers `import_commit`.
    ImportSummary(ImportSummary),
    /// Answers `subscribe_events` and `unsubscribe`.
    SubscriptionState(SubscriptionState),
}

/// A user's name and recent orders: the catalog's user-orders in one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserOrders {
    pub name: String,
    /// Newest first.
    pub orders: Vec<OrderSummary>,
}

/// The three fields of an order that a list view shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderSummary {
    pub id: Id,
    pub total_cents: i64,
    pub status: OrderStatus,
}

impl From<&Order> for OrderSummary {
    fn from(o: &Order) -> Self {
        OrderSummary { id: o.id, total_cents: o.total_cents, status: o.status }
    }
}

/// One page of orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPage {
    pub data: Vec<Order>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A created order, or the replay of an earlier creation with the same idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedOrder {
    pub order: Order,
    /// True when the idempotency key replayed an earlier creation.
    pub replayed: bool,
}

/// The one answer to an import: what happened to every order of the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSummary {
    /// Orders the batch held.
    pub received: u64,
    /// Orders created now.
    pub created: u64,
    /// Orders whose idempotency key replayed an earlier creation.
    pub replayed: u64,
    /// Orders that failed; `errors` says why.
    pub failed: u64,
    /// Ids of the created and replayed orders, in batch order.
    pub order_ids: Vec<Id>,
    /// Sum of the created and replayed orders' totals.
    pub total_cents: i64,
    /// One entry per failed order: `"<index in the batch>: <message>"`.
    pub errors: Vec<String>,
}

/// Whether a subscription is now active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionState {
    pub subscribed: bool,
}

/// The JSON Schema of the protocol, as written to `schema/ws.schema.json`: one root whose
/// `$defs` hold `ClientMessage`, `ServerMessage` and everything they use.
pub fn schema_json() -> String {
    let mut generator = schemars::SchemaGenerator::default();
    let client = generator.subschema_for::<ClientMessage>();
    let server = generator.subschema_for::<ServerMessage>();
    let mut defs: Vec<_> = generator.take_definitions(true).into_iter().collect();
    defs.sort_by(|a, b| a.0.cmp(&b.0));
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "wirebench WebSocket protocol",
        "description": format!(
            "JSON text frames on ws://host{PATH}. A client sends ClientMessage (tagged by `op`); \
             the server sends ServerMessage (tagged by `type`), echoing the request's `id`."
        ),
        "oneOf": [client, server],
        "$defs": serde_json::Map::from_iter(defs),
    });
    let mut text = serde_json::to_string_pretty(&root).expect("schemas serialize");
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------
// Accepting and upgrading.

type Socket = WebSocketStream<TcpStream>;

async fn accept_loop(
    listener: TcpListener,
    ctx: ServerContext,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let mut connections = JoinSet::new();
    let mut cancelled = pin!(shutdown.cancelled());
    loop {
        tokio::select! {
            biased;
            () = &mut cancelled => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    // Small request/reply exchanges must not wait for Nagle's algorithm.
                    let _ = tcp.set_nodelay(true);
                    connections.spawn(connection(tcp, ctx.clone(), shutdown.clone()));
                }
                // One connection failed before we got it; the listener is fine.
                Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) => {}
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
        }
    }
    drop(listener);
    // Every connection saw the same token and is closing its socket.
    let drained =
        tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} })
            .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
    Ok(())
}

/// Limits for the library: far above the application's own, see [`LIBRARY_LIMIT_FACTOR`].
fn ws_config(max_body_bytes: usize) -> WebSocketConfig {
    let hard_limit = max_body_bytes.saturating_mul(LIBRARY_LIMIT_FACTOR);
    WebSocketConfig::default().max_message_size(Some(hard_limit)).max_frame_size(Some(hard_limit))
}

/// The handshake callback: only [`PATH`] upgrades.
#[allow(clippy::result_large_err, reason = "the signature is tungstenite's `Callback`")]
fn only_ws_path(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == PATH {
        return Ok(response);
    }
    let body = format!("no WebSocket endpoint at {}; use {PATH}\n", request.uri().path());
    let mut error = ErrorResponse::new(Some(body.clone()));
    *error.status_mut() = StatusCode::NOT_FOUND;
    let headers = error.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(body.len()));
    headers.insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    Err(error)
}

/// One connection, from handshake to close.
async fn connection(tcp: TcpStream, ctx: ServerContext, shutdown: CancellationToken) {
    let config = ws_config(ctx.config.max_body_bytes);
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(tcp, only_ws_path, Some(config));
    let socket = tokio::select! {
        upgraded = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => match upgraded {
            Ok(Ok(socket)) => socket,
            // Wrong path (answered 404), not a WebSocket request, or too slow.
            _ => return,
        },
        () = shutdown.cancelled() => return,
    };
    let (mut sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
    let linger_needed = {
        let mut reader = pin!(read_loop(&mut stream, tx, &ctx, &shutdown));
        let mut writer = pin!(write_loop(&mut sink, rx));
        tokio::select! {
            // The reader is done and has dropped its sender: let the writer send what is
            // queued (a Close frame, last replies), but not forever.
            linger_needed = &mut reader => {
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                linger_needed
            }
            // The writer stopped (socket broken, or our Close frame is out): the reader
            // notices on its next send or read, or waits out the peer's Close frame.
            () = &mut writer => reader.await,
        }
    };
    if linger_needed && let Ok(socket) = sink.reunite(stream) {
        linger(socket.into_inner()).await;
    }
}

/// Closes a socket whose peer may still be sending (e.g. the rest of an oversized frame):
/// half-closes, then reads and discards until the peer closes too, for a while. Closing with
/// unread data would make the kernel reset the connection, and the peer could lose our
/// Close frame.
async fn linger(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        let _ = tcp.shutdown().await;
        let mut discard = vec![0; 16 * 1024];
        while let Ok(1..) = tcp.read(&mut discard).await {}
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// The writer: the one place that writes to a socket.

/// What the read loop and running requests hand to the writer.
#[derive(Debug)]
enum Outgoing {
    Frame(Message),
    /// Write out anything pending, e.g. the pong tungstenite queued for a ping.
    Flush,
}

type Outbox = mpsc::Sender<Outgoing>;

/// Writes queued messages, flushing when the queue runs dry (or every [`WRITE_BATCH`]), so a
/// burst of stream items leaves in few syscalls. Ends after a Close frame or a failed write.
async fn write_loop(sink: &mut SplitSink<Socket, Message>, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut batched = 0;
        while let Some(outgoing) = next.take() {
            match outgoing {
                // The last frame: out at once (`SplitSink` holds a fed item until flushed).
                Outgoing::Frame(close @ Message::Close(_)) => {
                    let _ = sink.send(close).await;
                    return;
                }
                Outgoing::Frame(message) => {
                    if sink.feed(message).await.is_err() {
                        return;
                    }
                }
                Outgoing::Flush => {}
            }
            batched += 1;
            if batched < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// Serializes `message` straight to a text frame and queues it. False when the writer is gone.
async fn send(tx: &Outbox, message: &ServerMessage) -> bool {
    let text = serde_json::to_string(message).expect("server messages serialize");
    tx.send(Outgoing::Frame(Message::Text(text.into()))).await.is_ok()
}

// ---------------------------------------------------------------------------------------
// The read loop: requests, subscriptions, keep-alive, close.

/// Requests running on one socket; they borrow the store and the outbox.
type InFlight<'a> = FuturesUnordered<BoxFuture<'a, ()>>;

/// What a socket remembers between messages.
#[derive(Debug, Default)]
struct Session {
    /// Import batches by name, in arrival order.
    batches: HashMap<String, Vec<BatchItem>>,
    /// Orders in all of `batches`.
    buffered: usize,
    /// Event feeds by the id of the `subscribe_events` message.
    subscriptions: StreamMap<u64, BroadcastStream<OrderEvent>>,
}

/// Serves requests until the peer leaves, the socket idles out, the server shuts down or the
/// peer breaks the protocol; then closes. True when the peer broke the protocol and may
/// still be sending (see [`linger`]).
async fn read_loop(
    stream: &mut SplitStream<Socket>,
    tx: Outbox,
    ctx: &ServerContext,
    shutdown: &CancellationToken,
) -> bool {
    let store = &*ctx.store;
    let tx = &tx;
    let max_text = ctx.config.max_body_bytes;
    let mut session = Session::default();
    let mut in_flight: InFlight<'_> = FuturesUnordered::new();
    let mut last_seen = Instant::now();
    let mut ping = tokio::time::interval_at(last_seen + PING_INTERVAL, PING_INTERVAL);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Reset lazily: only when it fires early is it moved to the real deadline.
    let mut idle = pin!(tokio::time::sleep_until(last_seen + IDLE_TIMEOUT));
    let mut cancelled = pin!(shutdown.cancelled());

    let (close, linger) = loop {
        // Unbiased: a flood of requests must not starve event pushes, nor a flood of events
        // starve requests.
        tokio::select! {
            () = &mut cancelled => break (close_frame(CloseCode::Away, "server shutting down"), false),
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            Some((subscription, event)) = session.subscriptions.next(),
                if !session.subscriptions.is_empty() =>
            {
                let message = match event {
                    Ok(event) => ServerMessage::Event { id: subscription, data: event },
                    Err(BroadcastStreamRecvError::Lagged(skipped)) => ServerMessage::error(
                        Some(subscription),
                        "lagged",
                        format!("subscription {subscription} fell behind and skipped {skipped} events"),
                    ),
                };
                if !send(tx, &message).await {
                    return false;
                }
            }
            _ = ping.tick() => {
                if tx.send(Outgoing::Frame(Message::Ping(Bytes::new()))).await.is_err() {
                    return false;
                }
            }
            () = &mut idle => {
                let deadline = last_seen + IDLE_TIMEOUT;
                if Instant::now() >= deadline {
                    break (close_frame(CloseCode::Normal, "idle timeout"), false);
                }
                idle.as_mut().reset(deadline);
            }
            received = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => {
                last_seen = Instant::now();
                let answer = match received {
                    // The peer closed; the library has already answered its Close frame.
                    None => return false,
                    Some(Ok(Message::Text(text))) => {
                        if text.len() > max_text {
                            Some(ServerMessage::error(
                                None,
                                "too_large",
                                format!("a message may have at most {max_text} bytes, got {}", text.len()),
                            ))
                        } else {
                            match serde_json::from_str::<ClientMessage>(&text) {
                                Ok(request) => session.handle(store, tx, &mut in_flight, request),
                                Err(e) => Some(malformed(&text, &e)),
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => Some(ServerMessage::error(
                        None,
                        "unsupported",
                        "binary frames are not supported; send JSON text frames",
                    )),
                    // The library queued the pong; make sure it goes out now.
                    Some(Ok(Message::Ping(_))) => {
                        if tx.send(Outgoing::Flush).await.is_err() {
                            return false;
                        }
                        None
                    }
                    // Pongs only count as a sign of life; a Close frame was answered by the
                    // library and the next read ends the stream.
                    Some(Ok(Message::Pong(_) | Message::Close(_) | Message::Frame(_))) => None,
                    // The peer broke a limit or the protocol: tell it why, then close.
                    Some(Err(WsError::Capacity(e))) => {
                        break (close_frame(CloseCode::Size, &e.to_string()), true);
                    }
                    Some(Err(WsError::Utf8(_))) => {
                        break (close_frame(CloseCode::Invalid, "text is not UTF-8"), true);
                    }
                    // The peer went away without a close handshake: nobody to tell.
                    Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                        return false;
                    }
                    Some(Err(WsError::Protocol(e))) => {
                        break (close_frame(CloseCode::Protocol, &e.to_string()), true);
                    }
                    Some(Err(_)) => return false,
                };
                if let Some(answer) = answer
                    && !send(tx, &answer).await
                {
                    return false;
                }
            }
        }
    };

    // An orderly close: finish what is running, send the Close frame, wait for the peer's.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while in_flight.next().await.is_some() {}
        if tx.send(Outgoing::Frame(Message::Close(Some(close)))).await.is_ok() {
            while let Some(Ok(_)) = stream.next().await {}
        }
    })
    .await;
    linger
}

fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    // Control frames carry at most 125 bytes: 2 for the code, the rest for the reason.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame { code, reason: reason[..end].to_owned().into() }
}

/// The error for a message that is not a `ClientMessage`, with its id when one can be read.
fn malformed(text: &str, e: &serde_json::Error) -> ServerMessage {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<u64>,
    }
    let id = serde_json::from_str::<IdOnly>(text).ok().and_then(|m| m.id);
    ServerMessage::error(id, "malformed_message", e.to_string())
}

impl Session {
    /// Handles one request: at once when it only touches this socket's state (returning the
    /// answer, if any), else by adding it to `in_flight`, which sends its own answer.
    fn handle<'a>(
        &mut self,
        store: &'a Store,
        tx: &'a Outbox,
        in_flight: &mut InFlight<'a>,
        request: ClientMessage,
    ) -> Option<ServerMessage> {
        let running: BoxFuture<'a, ()> = match request {
            ClientMessage::GetUser { id, user_id } => {
                Box::pin(reply(tx, id, async move { store.get_user(user_id).await.map(ReplyData::User) }))
            }
            ClientMessage::UserOrders { id, user_id, limit } => Box::pin(reply(tx, id, async move {
                let query = OrderQuery::recent(limit);
                let (user, page) =
                    futures::future::try_join(store.get_user(user_id), store.user_orders(user_id, &query))
                        .await?;
                let orders = page.items.iter().map(OrderSummary::from).collect();
                Ok(ReplyData::UserOrders(UserOrders { name: user.name, orders }))
            })),
            ClientMessage::ListOrders { id, limit, cursor, status, sort } => {
                Box::pin(reply(tx, id, async move {
                    let sort = sort.as_deref().map(str::parse).transpose()?.unwrap_or_default();
                    let page = store.list_orders(&OrderQuery { status, sort, cursor, limit }).await?;
                    Ok(ReplyData::OrderPage(OrderPage { data: page.items, next_cursor: page.next_cursor }))
                }))
            }
            ClientMessage::StreamOrders { id, limit, status } => {
                Box::pin(stream_orders(store, tx, id, limit, status))
            }
            ClientMessage::GetOrder { id, order_id } => {
                Box::pin(reply(tx, id, async move { store.get_order(order_id).await.map(ReplyData::Order) }))
            }
            ClientMessage::CreateOrder { id, idempotency_key, order } => {
                Box::pin(reply(tx, id, async move {
                    let created = store.create_order(idempotency_key.as_deref(), order).await?;
                    Ok(ReplyData::CreatedOrder(CreatedOrder {
                        order: created.order,
                        replayed: created.replayed,
                    }))
                }))
            }
            ClientMessage::ImportOrder { id, batch, idempotency_key, order } => {
                if self.buffered >= MAX_BUFFERED_IMPORTS {
                    return Some(ServerMessage::error(
                        Some(id),
                        "too_large",
                        format!(
                            "a socket buffers at most {MAX_BUFFERED_IMPORTS} imported orders; \
                             commit a batch first (order not added to batch {batch:?})"
                        ),
                    ));
                }
                self.batches.entry(batch).or_default().push(BatchItem { idempotency_key, order });
                self.buffered += 1;
                return None;
            }
            ClientMessage::ImportCommit { id, batch } => {
                let items = self.batches.remove(&batch).unwrap_or_default();
                self.buffered -= items.len();
                Box::pin(reply(tx, id, import(store, items)))
            }
            ClientMessage::SubscribeEvents { id } => {
                return Some(if self.subscriptions.contains_key(&id) {
                    ServerMessage::error(Some(id), "conflict", format!("subscription {id} is already active"))
                } else if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                    ServerMessage::error(
                        Some(id),
                        "too_large",
                        format!("a socket may hold at most {MAX_SUBSCRIPTIONS} subscriptions"),
                    )
                } else {
                    self.subscriptions.insert(id, BroadcastStream::new(store.subscribe()));
                    ServerMessage::Reply {
                        id,
                        data: ReplyData::SubscriptionState(SubscriptionState { subscribed: true }),
                    }
                });
            }
            ClientMessage::Unsubscribe { id, subscription } => {
                return Some(if self.subscriptions.remove(&subscription).is_some() {
                    ServerMessage::Reply {
                        id,
                        data: ReplyData::SubscriptionState(SubscriptionState { subscribed: false }),
                    }
                } else {
                    ServerMessage::error(
                        Some(id),
                        "not_found",
                        format!("subscription {subscription} is not active on this socket"),
                    )
                });
            }
        };
        in_flight.push(running);
        None
    }
}

/// Runs a request with one answer and sends it: a `reply`, or an `error`.
async fn reply(tx: &Outbox, id: u64, answer: impl Future<Output = Result<ReplyData, DomainError>>) {
    let message = match answer.await {
        Ok(data) => ServerMessage::Reply { id, data },
        Err(e) => ServerMessage::domain_error(id, &e),
    };
    send(tx, &message).await;
}

/// Sends the first `limit` orders in id order, one `item` each, then `end`. Pages through
/// the store [`MAX_LIMIT`] orders at a time; an error ends the stream without `end`.
async fn stream_orders(store: &Store, tx: &Outbox, id: u64, limit: u32, status: Option<OrderStatus>) {
    let wanted = u64::from(limit);
    let mut count = 0;
    let mut query = OrderQuery { status, sort: Sort::default(), cursor: None, limit: MAX_LIMIT };
    while count < wanted {
        query.limit = (wanted - count).min(u64::from(MAX_LIMIT)) as u32;
        let page = match store.list_orders(&query).await {
            Ok(page) => page,
            Err(e) => {
                send(tx, &ServerMessage::domain_error(id, &e)).await;
                return;
            }
        };
        for order in page.items {
            if !send(tx, &ServerMessage::Item { id, seq: count, data: order }).await {
                return;
            }
            count += 1;
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    send(tx, &ServerMessage::End { id, count }).await;
}

/// Creates a committed batch in one store call and sums up what happened.
async fn import(store: &Store, items: Vec<BatchItem>) -> Result<ReplyData, DomainError> {
    let t = if items.is_empty() {
        ImportTally::default()
    } else {
        ImportTally::of(&store.create_orders(items).await?)
    };
    let summary = ImportSummary {
        received: t.received as u64,
        created: t.created as u64,
        replayed: t.replayed as u64,
        failed: t.failed as u64,
        order_ids: t.order_ids,
        total_cents: t.total_cents,
        errors: t.errors,
    };
    Ok(ReplyData::ImportSummary(summary))
}
