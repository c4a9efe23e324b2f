//! WebSocket server tests: real sockets on 127.0.0.1:0, a tokio-tungstenite client, and the
//! server's own message types for encoding and decoding.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use wirebench_domain::{BatchItem, Order, OrderEventKind, OrderQuery, OrderStatus, Sort, Store};
use wirebench_servers::ws::{
    self, ClientMessage, CreatedOrder, ImportSummary, OrderPage, OrderSummary, ReplyData, ServerMessage,
    SubscriptionState, UserOrders,
};
use wirebench_servers::{ProtocolServer, Running};

mod common;
use common::{TestServer, WAIT, ctx_of, new_order};

const MAX_BODY: usize = 64 * 1024;

/// A running server, its store and the token that stops it.
struct Server {
    running: Running,
    store: Arc<Store>,
    shutdown: CancellationToken,
}

impl Server {
    async fn start(profile: &str) -> Server {
        let TestServer { running, store, shutdown } =
            TestServer::start(&ws::Ws, ctx_of(profile, Duration::ZERO, MAX_BODY)).await;
        Server { running, store, shutdown }
    }

    async fn small() -> Server {
        Server::start("small").await
    }

    async fn client(&self) -> Client {
        let (socket, _) = tokio_tungstenite::connect_async(&self.running.url).await.unwrap();
        Client { socket }
    }

    /// Cancels the token and checks the server stops cleanly. Clients still open get a Close
    /// frame; ones the test no longer reads should be dropped first (else the server waits
    /// out its grace period for their answer).
    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(WAIT, self.running.task).await.expect("server stops in time");
        result.unwrap().unwrap();
    }
}

struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    async fn send(&mut self, message: &ClientMessage) {
        self.send_text(&serde_json::to_string(message).unwrap()).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    /// The next frame that is not a ping or pong.
    async fn frame(&mut self) -> Message {
        loop {
            let next = tokio::time::timeout(WAIT, self.socket.next()).await.expect("a frame in time");
            match next.expect("socket open").expect("frame reads") {
                Message::Ping(_) | Message::Pong(_) => continue,
                other => return other,
            }
        }
    }

    /// The next server message, decoded with the server's own type.
    async fn recv(&mut self) -> ServerMessage {
        match self.frame().await {
            Message::Text(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Sends a request and returns its reply's data, checking the echoed id.
    async fn call(&mut self, message: ClientMessage) -> ReplyData {
        let id = message.id();
        self.send(&message).await;
        match self.recv().await {
            ServerMessage::Reply { id: got, data } => {
                assert_eq!(got, id);
                data
            }
            other => panic!("expected a reply to {id}, got {other:?}"),
        }
    }

    /// Sends a request that must fail; returns the error's id, code and message.
    async fn call_err(&mut self, message: ClientMessage) -> (Option<u64>, String, String) {
        self.send(&message).await;
        self.error().await
    }

    async fn error(&mut self) -> (Option<u64>, String, String) {
        match self.recv().await {
            ServerMessage::Error { id, code, message } => {
                assert!(!message.is_empty());
                (id, code.into_owned(), message)
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    async fn get_user(&mut self, id: u64, user_id: u64) -> wirebench_domain::User {
        match self.call(ClientMessage::GetUser { id, user_id }).await {
            ReplyData::User(user) => user,
            other => panic!("expected a user, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_request_is_answered_with_what_the_store_holds() {
    let server = Server::small().await;
    let store = server.store.clone();
    let mut c = server.client().await;

    assert_eq!(c.get_user(1, 7).await, store.get_user(7).await.unwrap());

    let ReplyData::UserOrders(got) = c.call(ClientMessage::UserOrders { id: 2, user_id: 7, limit: 3 }).await
    else {
        panic!("expected user orders")
    };
    let recent = store.user_orders(7, &OrderQuery::recent(3)).await.unwrap().items;
    let expected = UserOrders {
        name: store.get_user(7).await.unwrap().name,
        orders: recent.iter().map(OrderSummary::from).collect(),
    };
    assert_eq!(got, expected);
    assert_eq!(got.orders.len(), 3);

    // A first page, then the next one through its cursor.
    let list = |id, cursor| ClientMessage::ListOrders { id, limit: 10, cursor, status: None, sort: None };
    let ReplyData::OrderPage(first) = c.call(list(3, None)).await else { panic!("expected a page") };
    let query = OrderQuery { limit: 10, ..OrderQuery::default() };
    let page = store.list_orders(&query).await.unwrap();
    assert_eq!(first, OrderPage { data: page.items, next_cursor: page.next_cursor.clone() });
    let ReplyData::OrderPage(second) = c.call(list(4, page.next_cursor.clone())).await else {
        panic!("expected a page")
    };
    let page = store.list_orders(&OrderQuery { cursor: page.next_cursor, ..query }).await.unwrap();
    assert_eq!(second.data, page.items);
    assert_eq!(second.data[0].id, first.data[9].id + 1);

    // Filtered and sorted.
    let message = ClientMessage::ListOrders {
        id: 5,
        limit: 5,
        cursor: None,
        status: Some(OrderStatus::Paid),
        sort: Some("-total_cents".into()),
    };
    let ReplyData::OrderPage(sorted) = c.call(message).await else { panic!("expected a page") };
    let query = OrderQuery {
        status: Some(OrderStatus::Paid),
        sort: "-total_cents".parse::<Sort>().unwrap(),
        cursor: None,
        limit: 5,
    };
    let page = store.list_orders(&query).await.unwrap();
    assert_eq!(sorted, OrderPage { data: page.items, next_cursor: page.next_cursor });
    assert!(sorted.data.iter().all(|o| o.status == OrderStatus::Paid));

    let ReplyData::Order(order) = c.call(ClientMessage::GetOrder { id: 6, order_id: 42 }).await else {
        panic!("expected an order")
    };
    assert_eq!(order, store.get_order(42).await.unwrap());

    let message = ClientMessage::CreateOrder { id: 7, idempotency_key: None, order: new_order(3, 2) };
    let ReplyData::CreatedOrder(created) = c.call(message).await else { panic!("expected a created order") };
    assert!(!created.replayed);
    assert_eq!(created.order, store.get_order(created.order.id).await.unwrap());
    assert_eq!((created.order.user_id, created.order.total_cents), (3, 300));

    // Domain errors carry the domain's codes and the request's id.
    let (id, code, _) = c.call_err(ClientMessage::GetUser { id: 8, user_id: 999_999 }).await;
    assert_eq!((id, code.as_str()), (Some(8), "not_found"));
    let (id, code, _) = c.call_err(ClientMessage::UserOrders { id: 9, user_id: 7, limit: 0 }).await;
    assert_eq!((id, code.as_str()), (Some(9), "invalid_argument"));
    let bad_cursor =
        ClientMessage::ListOrders { id: 10, limit: 5, cursor: Some("nope".into()), status: None, sort: None };
    let (id, code, _) = c.call_err(bad_cursor).await;
    assert_eq!((id, code.as_str()), (Some(10), "invalid_cursor"));
    let bad_sort =
        ClientMessage::ListOrders { id: 11, limit: 5, cursor: None, status: None, sort: Some("name".into()) };
    assert_eq!(c.call_err(bad_sort).await.1, "invalid_argument");
    let (id, code, _) = c.call_err(ClientMessage::GetOrder { id: 12, order_id: 999_999 }).await;
    assert_eq!((id, code.as_str()), (Some(12), "not_found"));
    drop(c);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_matched_by_id() {
    let server = Server::small().await;
    let mut c = server.client().await;
    // Track-orders: many requests on one socket, all sent before any reply is read.
    let requests: HashMap<u64, u64> = (1..=40).map(|n| (1000 + n, n * 7)).collect();
    for (&id, &order_id) in &requests {
        c.send(&ClientMessage::GetOrder { id, order_id }).await;
    }
    c.send(&ClientMessage::GetUser { id: 1, user_id: 5 }).await;
    let mut seen = HashMap::new();
    for _ in 0..=requests.len() {
        match c.recv().await {
            ServerMessage::Reply { id, data: ReplyData::Order(order) } => {
                assert_eq!(requests[&id], order.id, "reply {id} carries the order it asked for");
                assert_eq!(order, server.store.get_order(order.id).await.unwrap());
                assert!(seen.insert(id, order.id).is_none(), "one reply per id");
            }
            ServerMessage::Reply { id: 1, data: ReplyData::User(user) } => assert_eq!(user.id, 5),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen.len(), requests.len());
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn stream_orders_sends_exactly_n_items_then_end() {
    // Medium has 5000 orders: 1500 needs two store pages.
    let server = Server::start("medium").await;
    let mut c = server.client().await;
    for (id, limit) in [(1, 25u32), (2, 1500), (3, 0)] {
        c.send(&ClientMessage::StreamOrders { id, limit, status: None }).await;
        let mut streamed = Vec::new();
        loop {
            match c.recv().await {
                ServerMessage::Item { id: got, seq, data } => {
                    assert_eq!(got, id);
                    assert_eq!(seq, streamed.len() as u64);
                    streamed.push(data);
                }
                ServerMessage::End { id: got, count } => {
                    assert_eq!((got, count), (id, u64::from(limit)));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let expected: Vec<Order> = futures::future::join_all((1..=u64::from(limit)).map(|order_id| {
            let store = server.store.clone();
            async move { store.get_order(order_id).await.unwrap() }
        }))
        .await;
        assert_eq!(streamed, expected, "the first {limit} orders in id order");
    }
    // Filtered, and fewer orders than asked for: all of them (over more than one store
    // page), and `end` says how many.
    c.send(&ClientMessage::StreamOrders { id: 4, limit: 4000, status: Some(OrderStatus::Cancelled) }).await;
    let mut streamed = Vec::new();
    let end = loop {
        match c.recv().await {
            ServerMessage::Item { data, .. } => streamed.push(data),
            ServerMessage::End { count, .. } => break count,
            other => panic!("unexpected {other:?}"),
        }
    };
    let mut expected = Vec::new();
    let mut query = OrderQuery { status: Some(OrderStatus::Cancelled), limit: 1000, ..OrderQuery::default() };
    loop {
        let page = server.store.list_orders(&query).await.unwrap();
        expected.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert!(expected.len() < 4000);
    assert_eq!(end, expected.len() as u64);
    assert_eq!(streamed, expected);
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn create_order_replays_and_rejects_a_reused_key() {
    let server = Server::small().await;
    let mut c = server.client().await;
    let create = |id, quantity| ClientMessage::CreateOrder {
        id,
        idempotency_key: Some("order-key-1".into()),
        order: new_order(9, quantity),
    };
    let ReplyData::CreatedOrder(first) = c.call(create(1, 2)).await else {
        panic!("expected a created order")
    };
    assert!(!first.replayed);
    let ReplyData::CreatedOrder(again) = c.call(create(2, 2)).await else {
        panic!("expected a created order")
    };
    assert_eq!(again, CreatedOrder { order: first.order.clone(), replayed: true });
    let (_, orders) = server.store.counts();

    let (id, code, message) = c.call_err(create(3, 5)).await;
    assert_eq!((id, code.as_str()), (Some(3), "idempotency_key_reused"));
    assert!(message.contains("order-key-1"), "{message}");
    assert_eq!(server.store.counts().1, orders, "no second order");
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn import_buffers_orders_and_answers_once_with_a_summary() {
    let server = Server::small().await;
    let mut c = server.client().await;
    let import = |id, user_id| ClientMessage::ImportOrder {
        id,
        batch: "b1".into(),
        idempotency_key: None,
        order: new_order(user_id, 1),
    };
    for message in [import(1, 4), import(2, 999_999), import(3, 5)] {
        c.send(&message).await;
    }
    // Another batch on the same socket stays apart.
    c.send(&ClientMessage::ImportOrder {
        id: 4,
        batch: "b2".into(),
        idempotency_key: None,
        order: new_order(6, 1),
    })
    .await;
    let ReplyData::ImportSummary(summary) =
        c.call(ClientMessage::ImportCommit { id: 5, batch: "b1".into() }).await
    else {
        panic!("expected a summary")
    };
    assert_eq!((summary.received, summary.created, summary.replayed, summary.failed), (3, 2, 0, 1));
    assert_eq!(summary.total_cents, 300);
    assert_eq!(summary.errors.len(), 1);
    assert!(summary.errors[0].starts_with("1: "), "{:?}", summary.errors);
    assert!(summary.errors[0].contains("999999"), "{:?}", summary.errors);
    for (order_id, user_id) in summary.order_ids.iter().zip([4, 5]) {
        assert_eq!(server.store.get_order(*order_id).await.unwrap().user_id, user_id);
    }
    // Nothing else was sent for the imports: the next message answers the next request.
    assert_eq!(c.get_user(6, 1).await.id, 1);

    // A committed batch is gone; committing it again imports nothing.
    let ReplyData::ImportSummary(empty) =
        c.call(ClientMessage::ImportCommit { id: 7, batch: "b1".into() }).await
    else {
        panic!("expected a summary")
    };
    assert_eq!(
        empty,
        ImportSummary {
            received: 0,
            created: 0,
            replayed: 0,
            failed: 0,
            order_ids: vec![],
            total_cents: 0,
            errors: vec![]
        }
    );
    let ReplyData::ImportSummary(b2) =
        c.call(ClientMessage::ImportCommit { id: 8, batch: "b2".into() }).await
    else {
        panic!("expected a summary")
    };
    assert_eq!((b2.received, b2.created), (1, 1));
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn subscriptions_push_store_events_until_unsubscribed() {
    let server = Server::small().await;
    let mut c = server.client().await;
    let subscribed = c.call(ClientMessage::SubscribeEvents { id: 77 }).await;
    assert_eq!(subscribed, ReplyData::SubscriptionState(SubscriptionState { subscribed: true }));
    let (id, code, _) = c.call_err(ClientMessage::SubscribeEvents { id: 77 }).await;
    assert_eq!((id, code.as_str()), (Some(77), "conflict"));

    // A write through the store itself (as another protocol would make it).
    let created = server.store.create_order(None, new_order(2, 1)).await.unwrap();
    match c.recv().await {
        ServerMessage::Event { id, data } => {
            assert_eq!(id, 77);
            assert_eq!(data.kind, OrderEventKind::Created);
            assert_eq!(data.order, created.order);
        }
        other => panic!("expected an event, got {other:?}"),
    }

    let unsubscribed = c.call(ClientMessage::Unsubscribe { id: 78, subscription: 77 }).await;
    assert_eq!(unsubscribed, ReplyData::SubscriptionState(SubscriptionState { subscribed: false }));
    server.store.create_order(None, new_order(2, 1)).await.unwrap();
    // No event any more: the next message answers the next request.
    assert_eq!(c.get_user(79, 2).await.id, 2);
    let (id, code, _) = c.call_err(ClientMessage::Unsubscribe { id: 80, subscription: 77 }).await;
    assert_eq!((id, code.as_str()), (Some(80), "not_found"));
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn a_lagging_subscription_skips_events_and_says_so() {
    let server = Server::small().await;
    let mut c = server.client().await;
    c.call(ClientMessage::SubscribeEvents { id: 1 }).await;
    // More events than the feed buffers, published before the server can forward any (the
    // test runtime has one thread and this batch does not yield).
    let batch = (0..6000).map(|_| BatchItem { idempotency_key: None, order: new_order(3, 1) }).collect();
    let created = server.store.create_orders(batch).await.unwrap();
    assert!(created.iter().all(Result::is_ok));
    let (id, code, message) = c.error().await;
    assert_eq!((id, code.as_str()), (Some(1), "lagged"), "{message}");
    // Then the newest events, in order, with replies to requests mixed in.
    let last_order = created.last().unwrap().as_ref().unwrap().order.id;
    let (mut previous_seq, mut events, mut seen_last, mut replied) = (0, 0, false, false);
    c.send(&ClientMessage::GetUser { id: 2, user_id: 3 }).await;
    while !(replied && seen_last) {
        match c.recv().await {
            ServerMessage::Event { id: 1, data } => {
                assert!(data.seq > previous_seq, "events arrive in order");
                previous_seq = data.seq;
                events += 1;
                seen_last = data.order.id == last_order;
            }
            ServerMessage::Reply { id: 2, data: ReplyData::User(user) } => {
                assert_eq!(user.id, 3);
                replied = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(events < 6000, "the oldest events were skipped: {events}");
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn bad_messages_get_errors_and_the_socket_keeps_serving() {
    let server = Server::small().await;
    let mut c = server.client().await;
    let cases = [
        ("not json", None, "malformed_message"),
        (r#"{"op":"fly","id":5}"#, Some(5), "malformed_message"),
        (r#"{"op":"get_user","id":6}"#, Some(6), "malformed_message"),
        (r#"{"op":"get_user","id":7,"user_id":1,"extra":true}"#, Some(7), "malformed_message"),
        (r#"{"op":"list_orders","id":8,"limit":5,"status":"lost"}"#, Some(8), "malformed_message"),
        (r#"{"id":9}"#, Some(9), "malformed_message"),
    ];
    for (n, (text, id, code)) in cases.into_iter().enumerate() {
        c.send_text(text).await;
        let (got_id, got_code, _) = c.error().await;
        assert_eq!((got_id, got_code.as_str()), (id, code), "{text}");
        assert_eq!(c.get_user(100 + n as u64, 1).await.id, 1, "still serving after {text}");
    }

    // Over the application limit, under the library's: an error message, not a close.
    let oversize = format!(r#"{{"op":"get_user","id":1,"user_id":1,"pad":"{}"}}"#, "x".repeat(MAX_BODY));
    c.send_text(&oversize).await;
    let (id, code, _) = c.error().await;
    assert_eq!((id, code.as_str()), (None, "too_large"));
    assert_eq!(c.get_user(200, 2).await.id, 2);

    c.socket.send(Message::Binary(Bytes::from_static(b"\x01\x02"))).await.unwrap();
    let (id, code, _) = c.error().await;
    assert_eq!((id, code.as_str()), (None, "unsupported"));
    assert_eq!(c.get_user(201, 3).await.id, 3);

    // Client pings are answered (and flushed) at once.
    c.socket.send(Message::Ping(Bytes::from_static(b"are you there"))).await.unwrap();
    let pong = tokio::time::timeout(WAIT, c.socket.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(pong, Message::Pong(Bytes::from_static(b"are you there")));
    drop(c);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_disturb_another() {
    let server = Server::small().await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.send(&ClientMessage::SubscribeEvents { id: 1 }).await;
    a.send_text("garbage").await;
    a.send(&ClientMessage::ImportOrder {
        id: 2,
        batch: "x".into(),
        idempotency_key: None,
        order: new_order(1, 1),
    })
    .await;
    // b's batch of the same name is its own.
    let ReplyData::ImportSummary(summary) =
        b.call(ClientMessage::ImportCommit { id: 3, batch: "x".into() }).await
    else {
        panic!("expected a summary")
    };
    assert_eq!(summary.received, 0);
    assert_eq!(b.get_user(4, 8).await, server.store.get_user(8).await.unwrap());
    // a vanishes without a close handshake; b carries on.
    drop(a);
    for id in 5..10 {
        assert_eq!(b.get_user(id, id).await.id, id);
    }
    drop(b);
    server.stop().await;
}

#[tokio::test]
async fn only_the_ws_path_upgrades() {
    let server = Server::small().await;
    let url = format!("ws://{}/elsewhere", server.running.addr);
    match tokio_tungstenite::connect_async(&url).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected HTTP 404, got {other:?}"),
    }
    assert_eq!(server.running.url, format!("ws://{}/ws", server.running.addr));
    // Plain HTTP on the port does not disturb the server either.
    let mut c = server.client().await;
    assert_eq!(c.get_user(1, 1).await.id, 1);
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn an_absurd_frame_closes_the_socket_with_1009() {
    let server = Server::small().await;
    let mut c = server.client().await;
    let huge = "x".repeat(ws::LIBRARY_LIMIT_FACTOR * MAX_BODY + 1);
    // The server may close before the client finishes writing; only the close matters.
    let _ = c.socket.send(Message::text(huge)).await;
    match c.frame().await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close frame, got {other:?}"),
    }
    let mut other = server.client().await;
    assert_eq!(other.get_user(1, 1).await.id, 1);
    drop((c, other));
    server.stop().await;
}

/// permessage-deflate: a client that offers it gets it, compressed requests get compressed
/// answers, and the limits are the same as for plain text: over the application's limit a
/// `too_large` error message, past the library's the socket closes with 1009.
#[tokio::test]
async fn compressed_messages_are_served_under_the_same_limits() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use wirebench_servers::ws::deflate::{Deflating, Role};
    let server = Server::small().await;
    let tcp = TcpStream::connect(server.running.addr).await.unwrap();
    let mut request = server.running.url.as_str().into_client_request().unwrap();
    let offer = "permessage-deflate; client_max_window_bits".parse().unwrap();
    request.headers_mut().insert("sec-websocket-extensions", offer);
    let layer = Deflating::new(tcp, Role::Client, (), usize::MAX);
    let (mut socket, response) = tokio_tungstenite::client_async(request, layer).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-extensions"], "permessage-deflate");
    assert_eq!(socket.get_ref().agreed(), Some(true));
    async fn next(socket: &mut (impl futures::Stream<Item = Result<Message, WsError>> + Unpin)) -> Message {
        let next = tokio::time::timeout(WAIT, socket.next()).await.expect("a frame in time");
        next.expect("socket open").expect("frame reads")
    }
    let reply = |m: Message| serde_json::from_str::<serde_json::Value>(m.to_text().unwrap()).unwrap();
    for id in 1..4 {
        let get = serde_json::to_string(&ClientMessage::GetUser { id, user_id: id }).unwrap();
        socket.send(Message::text(get)).await.unwrap();
        let got = reply(next(&mut socket).await);
        assert_eq!((got["id"].as_u64(), got["data"]["id"].as_u64()), (Some(id), Some(id)), "{got}");
    }
    // Compresses to a few hundred bytes, inflates over the application's limit.
    let oversize = format!(r#"{{"op":"get_user","id":9,"user_id":1,"pad":"{}"}}"#, "x".repeat(MAX_BODY));
    socket.send(Message::text(oversize)).await.unwrap();
    assert_eq!(reply(next(&mut socket).await)["code"], "too_large");
    let huge = "x".repeat(ws::LIBRARY_LIMIT_FACTOR * MAX_BODY + 1);
    socket.send(Message::text(huge)).await.unwrap();
    match next(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close frame, got {other:?}"),
    }
    drop(socket);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_sockets_with_going_away() {
    let server = Server::small().await;
    let mut c = server.client().await;
    assert_eq!(c.get_user(1, 1).await.id, 1);
    server.shutdown.cancel();
    match c.frame().await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // Reading on answers the close; then the socket ends.
    let end = tokio::time::timeout(WAIT, c.socket.next()).await.unwrap();
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
    let result = tokio::time::timeout(WAIT, server.running.task).await.expect("server stops in time");
    result.unwrap().unwrap();
    // Nothing listens any more.
    assert!(tokio_tungstenite::connect_async(&server.running.url).await.is_err());
}

#[test]
fn messages_round_trip_through_their_json_form() {
    let messages = [
        ClientMessage::GetUser { id: 1, user_id: 2 },
        ClientMessage::UserOrders { id: 2, user_id: 2, limit: 5 },
        ClientMessage::ListOrders { id: 3, limit: 10, cursor: Some("c".into()), status: None, sort: None },
        ClientMessage::StreamOrders { id: 4, limit: 10, status: Some(OrderStatus::Paid) },
        ClientMessage::GetOrder { id: 5, order_id: 9 },
        ClientMessage::CreateOrder { id: 6, idempotency_key: Some("k".into()), order: new_order(1, 1) },
        ClientMessage::ImportOrder {
            id: 7,
            batch: "b".into(),
            idempotency_key: None,
            order: new_order(1, 1),
        },
        ClientMessage::ImportCommit { id: 8, batch: "b".into() },
        ClientMessage::SubscribeEvents { id: 9 },
        ClientMessage::Unsubscribe { id: 10, subscription: 9 },
    ];
    for message in messages {
        let text = serde_json::to_string(&message).unwrap();
        assert!(!text.contains("null"), "absent options are left out: {text}");
        assert_eq!(serde_json::from_str::<ClientMessage>(&text).unwrap(), message);
    }
    let text = serde_json::to_string(&ClientMessage::GetUser { id: 1, user_id: 2 }).unwrap();
    assert_eq!(text, r#"{"op":"get_user","id":1,"user_id":2}"#);
    let error = ServerMessage::error(None, "malformed_message", "bad");
    let text = serde_json::to_string(&error).unwrap();
    assert_eq!(text, r#"{"type":"error","id":null,"code":"malformed_message","message":"bad"}"#);
    assert_eq!(serde_json::from_str::<ServerMessage>(&text).unwrap(), error);
}

#[test]
fn the_contract_is_deterministic_and_describes_both_directions() {
    let contracts = ws::Ws.contracts();
    assert_eq!(contracts, ws::Ws.contracts());
    let [(name, text)] = contracts.as_slice() else { panic!("one contract") };
    assert_eq!(*name, "ws.schema.json");
    assert!(text.ends_with("}\n"));
    let schema: serde_json::Value = serde_json::from_str(text).unwrap();
    let defs = schema["$defs"].as_object().unwrap();
    for name in
        ["ClientMessage", "ServerMessage", "ReplyData", "User", "Order", "OrderEvent", "ImportSummary"]
    {
        assert!(defs.contains_key(name), "$defs has {name}");
    }
    assert_eq!(schema["oneOf"].as_array().unwrap().len(), 2);
    // Doc comments land in the schema.
    assert!(text.contains("Correlation id"));
}
