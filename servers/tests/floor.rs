//! Floor server tests over real sockets: every request frame is answered with what the store
//! holds, a domain error leaves the connection serving, a frame that cannot be read gets an
//! `ERROR` frame and a close, and shutdown lets the request in hand finish.

use std::time::Duration;

use prost::Message;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use wirebench_domain::{OrderQuery, OrderSummary};
use wirebench_proto::v1 as pb;
use wirebench_servers::floor::{self, Frame, kind, op, read_frame, write_frame};

mod common;
use common::{TestServer, WAIT, ctx, default_ctx, new_order};

/// One connection speaking the floor's frames.
struct Client {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    frame: Vec<u8>,
}

impl Client {
    async fn connect(server: &TestServer) -> Client {
        let (r, w) = TcpStream::connect(server.addr()).await.unwrap().into_split();
        Client { r: BufReader::new(r), w, frame: Vec::new() }
    }

    async fn send(&mut self, code: u8, body: &[u8]) {
        write_frame(&mut self.w, code, body).await.unwrap();
        self.w.flush().await.unwrap();
    }

    /// The next reply frame's kind; its bytes are in `self.frame[1..]`.
    async fn reply(&mut self) -> u8 {
        let read = tokio::time::timeout(WAIT, read_frame(&mut self.r, &mut self.frame, 1 << 24)).await;
        assert_eq!(read.expect("a reply in time").unwrap(), Frame::Body);
        self.frame[0]
    }

    /// One request, one `OK` reply decoded as `M`.
    async fn call<M: Message + Default>(&mut self, code: u8, req: &impl Message) -> M {
        self.send(code, &req.encode_to_vec()).await;
        let k = self.reply().await;
        assert_eq!(k, kind::OK, "{}", String::from_utf8_lossy(&self.frame[1..]));
        M::decode(&self.frame[1..]).unwrap()
    }

    /// One request that must fail; its `code: message` text.
    async fn error(&mut self, code: u8, body: &[u8]) -> String {
        self.send(code, body).await;
        assert_eq!(self.reply().await, kind::ERROR);
        String::from_utf8(self.frame[1..].to_vec()).unwrap()
    }
}

#[tokio::test]
async fn every_request_is_answered_with_what_the_store_holds() {
    let server = TestServer::start(&floor::Floor, default_ctx()).await;
    let store = server.store.clone();
    let mut c = Client::connect(&server).await;

    let user: pb::User = c.call(op::GET_USER, &pb::GetUserRequest { id: 7 }).await;
    assert_eq!(wirebench_domain::User::try_from(user).unwrap(), store.get_user(7).await.unwrap());

    let reply: pb::UserOrders =
        c.call(op::USER_ORDERS, &pb::GetUserOrdersRequest { user_id: 7, limit: 3 }).await;
    let recent = store.user_orders(7, &OrderQuery::recent(3)).await.unwrap().items;
    let got: Vec<OrderSummary> = reply.orders.into_iter().map(|o| o.try_into().unwrap()).collect();
    assert_eq!(got, recent.iter().map(OrderSummary::from).collect::<Vec<_>>());

    let page: pb::OrderPage =
        c.call(op::LIST_ORDERS, &pb::ListOrdersRequest { limit: 4, ..Default::default() }).await;
    let want = store.list_orders(&OrderQuery { limit: 4, ..OrderQuery::default() }).await.unwrap().items;
    assert_eq!(page.orders.len(), 4);
    assert_eq!(wirebench_domain::Order::try_from(page.orders[3].clone()).unwrap(), want[3]);

    // A stream: one ITEM frame per order, then END with the count.
    c.send(op::STREAM_ORDERS, &pb::ListOrdersRequest { limit: 5, ..Default::default() }.encode_to_vec())
        .await;
    for order in want.iter().take(4) {
        assert_eq!(c.reply().await, kind::ITEM);
        assert_eq!(
            wirebench_domain::Order::try_from(pb::Order::decode(&c.frame[1..]).unwrap()).unwrap(),
            *order
        );
    }
    assert_eq!(c.reply().await, kind::ITEM);
    assert_eq!(c.reply().await, kind::END);
    assert_eq!(c.frame[1..], 5u32.to_be_bytes());

    let tracked: pb::TrackReply =
        c.call(op::TRACK, &pb::TrackRequest { correlation_id: 9, order_id: 2 }).await;
    assert_eq!(tracked.correlation_id, 9);
    let Some(pb::track_reply::Result::Order(o)) = tracked.result else { panic!("{tracked:?}") };
    assert_eq!(o.id, 2);

    let echo = b"\x00raw bytes, no store";
    c.send(op::ECHO, echo).await;
    assert_eq!(c.reply().await, kind::OK);
    assert_eq!(&c.frame[1..], echo);
    server.stop().await;
}

#[tokio::test]
async fn create_replays_and_import_sums_up_in_one_commit() {
    let server = TestServer::start(&floor::Floor, default_ctx()).await;
    let mut c = Client::connect(&server).await;
    let req = pb::CreateOrderRequest { idempotency_key: "k-1".into(), order: Some(new_order(3, 2).into()) };
    let first: pb::CreateOrderResponse = c.call(op::CREATE_ORDER, &req).await;
    let again: pb::CreateOrderResponse = c.call(op::CREATE_ORDER, &req).await;
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.order, again.order);

    // Import items get no reply; the commit answers for all of them.
    for i in 0..3 {
        let item = pb::CreateOrderRequest {
            idempotency_key: format!("imp-{i}"),
            order: Some(new_order(4, 1).into()),
        };
        c.send(op::IMPORT_ITEM, &item.encode_to_vec()).await;
    }
    let summary: pb::ImportSummary = c.call(op::IMPORT_COMMIT, &()).await;
    assert_eq!((summary.received, summary.created, summary.failed), (3, 3, 0));
    assert_eq!(summary.total_cents, 3 * 150);
    assert_eq!(server.store.get_order(summary.order_ids[2]).await.unwrap().user_id, 4);
    server.stop().await;
}

impl Client {
    /// After an `ERROR` frame for bytes that cannot be read, the server closes at once.
    async fn closed(&mut self) {
        let end = tokio::time::timeout(WAIT, read_frame(&mut self.r, &mut self.frame, 1 << 20)).await;
        assert_eq!(end.expect("closed in time").unwrap(), Frame::End);
    }
}

#[tokio::test]
async fn unreadable_frames_get_an_error_frame_and_a_close() {
    let server = TestServer::start(&floor::Floor, ctx(Duration::ZERO, 1024)).await;
    let unreadable: [(u8, Vec<u8>, &str); 4] = [
        (99, vec![], "unknown_op: 99"),
        (op::GET_USER, vec![0x0a, 0xff, 0x01], "malformed_message:"),
        (op::GET_USER, vec![0; 2048], "too_large:"),
        (op::FILL, vec![0, 0, 0, 2, 0, 0, 0, 1], "malformed_message"),
    ];
    for (code, body, expected) in unreadable {
        let mut c = Client::connect(&server).await;
        let text = c.error(code, &body).await;
        assert!(text.starts_with(expected), "{text}");
        c.closed().await;
    }
    // An empty frame (no op byte at all).
    let mut c = Client::connect(&server).await;
    c.w.write_all(&0u32.to_be_bytes()).await.unwrap();
    assert_eq!(c.reply().await, kind::ERROR);
    assert!(String::from_utf8_lossy(&c.frame[1..]).starts_with("malformed_message: empty frame"));
    c.closed().await;
    // A 4 GB length prefix followed by more bytes: answered and closed without reading them.
    let mut c = Client::connect(&server).await;
    c.w.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    c.w.write_all(&[7; 4096]).await.unwrap();
    assert_eq!(c.reply().await, kind::ERROR);
    assert!(String::from_utf8_lossy(&c.frame[1..]).starts_with("too_large: frame of 4294967295 bytes"));
    c.closed().await;
    // A domain error is an answer, not a broken stream: the connection serves on.
    let mut c = Client::connect(&server).await;
    let missing = pb::GetUserRequest { id: 424_242 }.encode_to_vec();
    assert!(c.error(op::GET_USER, &missing).await.starts_with("not_found:"));
    let user: pb::User = c.call(op::GET_USER, &pb::GetUserRequest { id: 1 }).await;
    assert_eq!(user.id, 1);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_hand() {
    // Each store call takes 300 ms: the request is still running when shutdown begins.
    let server = TestServer::start(&floor::Floor, ctx(Duration::from_millis(300), 1024)).await;
    let mut c = Client::connect(&server).await;
    c.send(op::GET_USER, &pb::GetUserRequest { id: 5 }.encode_to_vec()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown.cancel();
    assert_eq!(c.reply().await, kind::OK, "the request in hand is answered");
    assert_eq!(pb::User::decode(&c.frame[1..]).unwrap().id, 5);
    // Then the server closes the connection.
    let end = tokio::time::timeout(WAIT, read_frame(&mut c.r, &mut c.frame, 1 << 20)).await.unwrap().unwrap();
    assert_eq!(end, Frame::End);
    server.stop().await;
}

#[tokio::test]
async fn fill_moves_the_sizes_asked_for_and_sink_takes_bytes_without_a_reply() {
    let server = TestServer::start(&floor::Floor, default_ctx()).await;
    let mut c = Client::connect(&server).await;
    // Bytes without a reply, then a FILL of three items and 5 bytes of padding.
    c.send(op::SINK, &[7; 100]).await;
    let mut fill = 3u32.to_be_bytes().to_vec();
    for size in [3u32, 0, 70_000] {
        fill.extend(size.to_be_bytes());
    }
    fill.extend([1; 5]);
    c.send(op::FILL, &fill).await;
    for size in [3, 0, 70_000] {
        assert_eq!(c.reply().await, kind::ITEM);
        assert_eq!(c.frame.len() - 1, size);
        assert!(c.frame[1..].iter().all(|b| *b == 0));
    }
    assert_eq!((c.reply().await, &c.frame[1..]), (kind::END, &3u32.to_be_bytes()[..]));
    assert_eq!(floor::fill_sizes(&[0, 0, 0, 1, 0, 0, 0, 9, 42]), Ok((vec![9], 8)));
    let user: pb::User = c.call(op::GET_USER, &pb::GetUserRequest { id: 1 }).await;
    assert_eq!(user.id, 1);
    server.stop().await;
}
