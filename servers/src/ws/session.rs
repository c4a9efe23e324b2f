//! One socket's read loop: requests, subscriptions, keep-alive and the close handshake, and
//! the [`Session`] state a socket keeps between messages.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, SplitStream};
use serde::Deserialize;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::StreamMap;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use wirebench_domain::{
    BatchItem, DomainError, ImportSummary, MAX_LIMIT, OrderEvent, OrderQuery, OrderStatus, OrderSummary,
    Sort, Store,
};

use super::messages::{
    ClientMessage, CreatedOrder, OrderPage, ReplyData, ServerMessage, SubscriptionState, UserOrders,
};
use super::protobuf::{Frames, SUBPROTOCOL, decode_binary};
use super::writer::{Outbox, Outgoing};
use super::{CLOSE_GRACE, MAX_BUFFERED_IMPORTS, MAX_IN_FLIGHT, MAX_SUBSCRIPTIONS, PING_INTERVAL, Socket};
use crate::ServerContext;

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

/// How a socket's read loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// The peer left, the socket broke or the writer is gone: nobody to tell anything.
    Gone,
    /// We closed in order (shutdown, idle timeout): our Close frame went out.
    Closed,
    /// The peer broke a limit or the protocol and may still be sending: close, then linger
    /// (see `crate::tcp::linger`).
    PeerBroke,
}

/// Serves requests until the peer leaves, the socket idles out, the server shuts down or the
/// peer breaks the protocol; then closes.
pub(super) async fn read_loop(
    stream: &mut SplitStream<Socket>,
    tx: Outbox,
    ctx: &ServerContext,
    shutdown: &CancellationToken,
) -> Ending {
    let store = &*ctx.store;
    let tx = &tx;
    let max_text = ctx.config.max_body_bytes;
    let mut session = Session::default();
    let mut in_flight: InFlight<'_> = FuturesUnordered::new();
    let idle_timeout = ctx.config.idle_timeout;
    // Pings leave a live but quiet peer time to answer before the idle limit.
    let every = PING_INTERVAL.min(idle_timeout / 3).max(std::time::Duration::from_millis(10));
    let mut last_seen = Instant::now();
    let mut ping = tokio::time::interval_at(last_seen + every, every);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Reset lazily: only when it fires early is it moved to the real deadline.
    let mut idle = pin!(tokio::time::sleep_until(last_seen + idle_timeout));
    let mut cancelled = pin!(shutdown.cancelled());

    let (close, ending) = loop {
        // Unbiased: a flood of requests must not starve event pushes, nor a flood of events
        // starve requests.
        tokio::select! {
            () = &mut cancelled => break (close_frame(CloseCode::Away, "server shutting down"), Ending::Closed),
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
                if !tx.send(message).await {
                    return Ending::Gone;
                }
            }
            _ = ping.tick() => {
                if !tx.queue(Outgoing::Frame(Message::Ping(Bytes::new()))).await {
                    return Ending::Gone;
                }
            }
            () = &mut idle => {
                let deadline = last_seen + idle_timeout;
                if Instant::now() >= deadline {
                    break (close_frame(CloseCode::Normal, "idle timeout"), Ending::Closed);
                }
                idle.as_mut().reset(deadline);
            }
            received = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => {
                last_seen = Instant::now();
                let answer = match session.on_received(received, store, tx, &mut in_flight, max_text) {
                    Received::Answer(answer) => answer,
                    Received::Flush => Outgoing::Flush,
                    Received::Nothing => continue,
                    Received::Close(close) => break (close, Ending::PeerBroke),
                    Received::End => return Ending::Gone,
                };
                if !tx.queue(answer).await {
                    return Ending::Gone;
                }
            }
        }
    };

    // An orderly close: finish what is running, send the Close frame, wait for the peer's.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while in_flight.next().await.is_some() {}
        if tx.queue(Outgoing::Frame(Message::Close(Some(close)))).await {
            while let Some(Ok(_)) = stream.next().await {}
        }
    })
    .await;
    ending
}

fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    // Control frames carry at most 125 bytes: 2 for the code, the rest for the reason.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame { code, reason: reason[..end].to_owned().into() }
}

/// Reads one client text message: the request, or the `malformed_message` error that
/// answers it (with the message's id when one can be read). What `cargo fuzz` runs as the
/// WebSocket message decoder (`fuzz/fuzz_targets/ws_message.rs`).
pub fn decode(text: &str) -> Result<ClientMessage, Box<ServerMessage>> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<u64>,
    }
    serde_json::from_str::<ClientMessage>(text).map_err(|e| {
        let id = serde_json::from_str::<IdOnly>(text).ok().and_then(|m| m.id);
        Box::new(ServerMessage::error(id, "malformed_message", e.to_string()))
    })
}

fn too_large(max: usize, got: usize) -> ServerMessage {
    ServerMessage::error(None, "too_large", format!("a message may have at most {max} bytes, got {got}"))
}

/// What one read from the socket asks of the read loop.
enum Received {
    /// Send this.
    Answer(Outgoing),
    /// Flush what the library queued (the pong to a ping).
    Flush,
    /// Nothing to send.
    Nothing,
    /// The peer broke a limit or the protocol: tell it why in this Close frame, then close.
    Close(CloseFrame),
    /// The peer is gone: nobody to tell anything.
    End,
}

impl Session {
    /// Handles one read from the socket: a request (answered at once or run in
    /// `in_flight`), a control frame, the end of the stream, or a broken peer.
    fn on_received<'a>(
        &mut self,
        received: Option<Result<Message, WsError>>,
        store: &'a Store,
        tx: &'a Outbox,
        in_flight: &mut InFlight<'a>,
        max_text: usize,
    ) -> Received {
        let answer = match received {
            // The peer closed; the library has already answered its Close frame.
            None => return Received::End,
            Some(Ok(Message::Text(text))) if text.len() > max_text => too_large(max_text, text.len()),
            Some(Ok(Message::Binary(bytes))) if bytes.len() > max_text => too_large(max_text, bytes.len()),
            Some(Ok(Message::Text(text))) if tx.frames() == Frames::Json => {
                match self.request(store, tx, in_flight, decode(&text)) {
                    Some(answer) => answer,
                    None => return Received::Nothing,
                }
            }
            Some(Ok(Message::Binary(bytes))) if tx.frames() == Frames::Protobuf => {
                match self.request(store, tx, in_flight, decode_binary(&bytes)) {
                    Some(answer) => answer,
                    None => return Received::Nothing,
                }
            }
            Some(Ok(Message::Text(_))) => ServerMessage::error(
                None,
                "unsupported",
                format!("this socket agreed on protobuf binary frames ({SUBPROTOCOL}); send binary frames"),
            ),
            Some(Ok(Message::Binary(_))) => ServerMessage::error(
                None,
                "unsupported",
                format!(
                    "binary frames carry protobuf only on sockets opened with the subprotocol {SUBPROTOCOL}; \
                     send JSON text frames"
                ),
            ),
            // The library queued the pong; make sure it goes out now.
            Some(Ok(Message::Ping(_))) => return Received::Flush,
            // Pongs only count as a sign of life; a Close frame was answered by the library
            // and the next read ends the stream.
            Some(Ok(Message::Pong(_) | Message::Close(_) | Message::Frame(_))) => return Received::Nothing,
            Some(Err(WsError::Capacity(e))) => {
                return Received::Close(close_frame(CloseCode::Size, &e.to_string()));
            }
            Some(Err(WsError::Utf8(_))) => {
                return Received::Close(close_frame(CloseCode::Invalid, "text is not UTF-8"));
            }
            Some(Err(WsError::Protocol(e))) if !matches!(e, ProtocolError::ResetWithoutClosingHandshake) => {
                return Received::Close(close_frame(CloseCode::Protocol, &e.to_string()));
            }
            // Gone without a close handshake, or the socket broke: nobody to tell.
            Some(Err(_)) => return Received::End,
        };
        Received::Answer(tx.frame(answer))
    }

    /// Handles one decoded request, or answers the error that stood in for it.
    fn request<'a>(
        &mut self,
        store: &'a Store,
        tx: &'a Outbox,
        in_flight: &mut InFlight<'a>,
        decoded: Result<ClientMessage, Box<ServerMessage>>,
    ) -> Option<ServerMessage> {
        match decoded {
            Ok(request) => self.handle(store, tx, in_flight, request),
            Err(malformed) => Some(*malformed),
        }
    }

    /// Handles one request: at once when it only touches this socket's state (returning the
    /// answer, if any), else by adding it to `in_flight`, which sends its own answer.
    fn handle<'a>(
        &mut self,
        store: &'a Store,
        tx: &'a Outbox,
        in_flight: &mut InFlight<'a>,
        request: ClientMessage,
    ) -> Option<ServerMessage> {
        match request {
            ClientMessage::ImportOrder { id, batch, idempotency_key, order } => {
                self.buffer_import(id, batch, BatchItem { idempotency_key, order })
            }
            ClientMessage::ImportCommit { id, batch } => {
                let items = self.batches.remove(&batch).unwrap_or_default();
                self.buffered -= items.len();
                in_flight.push(Box::pin(reply(tx, id, import(store, items))));
                None
            }
            ClientMessage::SubscribeEvents { id } => Some(self.subscribe(store, id)),
            ClientMessage::Unsubscribe { id, subscription } => Some(self.unsubscribe(id, subscription)),
            request => {
                in_flight.push(run(store, tx, request));
                None
            }
        }
    }

    /// Adds an order to a batch of this socket; answers only when the buffer is full.
    fn buffer_import(&mut self, id: u64, batch: String, item: BatchItem) -> Option<ServerMessage> {
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
        self.batches.entry(batch).or_default().push(item);
        self.buffered += 1;
        None
    }

    fn subscribe(&mut self, store: &Store, id: u64) -> ServerMessage {
        if self.subscriptions.contains_key(&id) {
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
        }
    }

    fn unsubscribe(&mut self, id: u64, subscription: u64) -> ServerMessage {
        if self.subscriptions.remove(&subscription).is_some() {
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
        }
    }
}

/// A request that works on the store, as a task that sends its own answer. (Requests about
/// the socket's own state are handled by [`Session::handle`] before they get here.)
fn run<'a>(store: &'a Store, tx: &'a Outbox, request: ClientMessage) -> BoxFuture<'a, ()> {
    match request {
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
        ClientMessage::UsersOrders { id, limit } => Box::pin(reply(tx, id, async move {
            store.users_recent_orders(limit, limit).await.map(ReplyData::UsersOrders)
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
        ClientMessage::CreateOrder { id, idempotency_key, order } => Box::pin(reply(tx, id, async move {
            let created = store.create_order(idempotency_key.as_deref(), order).await?;
            Ok(ReplyData::CreatedOrder(CreatedOrder { order: created.order, replayed: created.replayed }))
        })),
        ClientMessage::ImportOrder { id, .. }
        | ClientMessage::ImportCommit { id, .. }
        | ClientMessage::SubscribeEvents { id }
        | ClientMessage::Unsubscribe { id, .. } => Box::pin(async move {
            tx.send(ServerMessage::error(Some(id), "internal", "a socket request reached the store path"))
                .await;
        }),
    }
}

/// Runs a request with one answer and sends it: a `reply`, or an `error`.
async fn reply(tx: &Outbox, id: u64, answer: impl Future<Output = Result<ReplyData, DomainError>>) {
    let message = match answer.await {
        Ok(data) => ServerMessage::Reply { id, data },
        Err(e) => ServerMessage::domain_error(id, &e),
    };
    tx.send(message).await;
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
                tx.send(ServerMessage::domain_error(id, &e)).await;
                return;
            }
        };
        for order in page.items {
            if !tx.send(ServerMessage::Item { id, seq: count, data: order }).await {
                return;
            }
            count += 1;
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    tx.send(ServerMessage::End { id, count }).await;
}

/// Creates a committed batch in one store call and sums up what happened.
async fn import(store: &Store, items: Vec<BatchItem>) -> Result<ReplyData, DomainError> {
    let summary = if items.is_empty() {
        ImportSummary::default()
    } else {
        ImportSummary::of(&store.create_orders(items).await?)
    };
    Ok(ReplyData::ImportSummary(summary))
}
