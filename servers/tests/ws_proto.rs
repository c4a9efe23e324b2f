//! The WebSocket protocol in protobuf binary frames (subprotocol `wirebench.v1.proto`): the
//! same answers as the JSON text frames, the same errors, and the agreement in the upgrade.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wirebench_domain::{ImportSummary, OrderEvent, OrderEventKind, OrderStatus};
use wirebench_proto::v1 as pb;
use wirebench_servers::ws::protobuf::{decode_binary, encode_binary};
use wirebench_servers::ws::{
    self, ClientMessage, CreatedOrder, Frames, OrderPage, ReplyData, SUBPROTOCOL, ServerMessage,
    SubscriptionState, UserOrders,
};

mod common;
use common::{TestServer, WAIT, ctx_of, new_order};

const MAX_BODY: usize = 64 * 1024;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A socket that asked for `protocols` (none for JSON), and what the server agreed to.
async fn open(url: &str, protocols: Option<&str>) -> (Socket, Option<String>) {
    let mut request = url.into_client_request().unwrap();
    if let Some(offer) = protocols {
        request.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(offer).unwrap());
    }
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    let agreed =
        response.headers().get(header::SEC_WEBSOCKET_PROTOCOL).map(|v| v.to_str().unwrap().to_owned());
    (socket, agreed)
}

/// The next frame that is not a ping or pong.
async fn frame(socket: &mut Socket) -> Message {
    loop {
        let next = tokio::time::timeout(WAIT, socket.next()).await.expect("a frame in time");
        match next.expect("socket open").expect("frame reads") {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

/// Sends `message` in this socket's encoding and returns the next server message.
async fn call(socket: &mut Socket, frames: Frames, message: ClientMessage) -> ServerMessage {
    let frame_out = match frames {
        Frames::Json => Message::text(serde_json::to_string(&message).unwrap()),
        Frames::Protobuf => Message::Binary(pb::WsRequest::from(message).encode_to_vec().into()),
    };
    socket.send(frame_out).await.unwrap();
    receive(socket, frames).await
}

async fn receive(socket: &mut Socket, frames: Frames) -> ServerMessage {
    match (frame(socket).await, frames) {
        (Message::Text(text), Frames::Json) => serde_json::from_str(&text).unwrap(),
        (Message::Binary(bytes), Frames::Protobuf) => {
            ServerMessage::try_from(pb::WsResponse::decode(bytes).unwrap()).unwrap()
        }
        (other, frames) => panic!("expected a {frames:?} frame, got {other:?}"),
    }
}

#[tokio::test]
async fn protobuf_frames_answer_what_json_frames_answer() {
    let TestServer { running, shutdown, .. } =
        TestServer::start(&ws::Ws, ctx_of("small", Duration::ZERO, MAX_BODY)).await;
    let (mut json, agreed) = open(&running.url, None).await;
    assert_eq!(agreed, None, "no subprotocol unless asked for");
    let (mut proto, agreed) = open(&running.url, Some(&format!("chat, {SUBPROTOCOL}"))).await;
    assert_eq!(agreed.as_deref(), Some(SUBPROTOCOL));

    let requests = [
        ClientMessage::GetUser { id: 1, user_id: 7 },
        ClientMessage::UserOrders { id: 2, user_id: 7, limit: 3 },
        ClientMessage::UsersOrders { id: 3, limit: 2 },
        ClientMessage::ListOrders { id: 4, limit: 5, cursor: None, status: None, sort: None },
        ClientMessage::ListOrders {
            id: 5,
            limit: 3,
            cursor: None,
            status: Some(OrderStatus::Paid),
            sort: Some("-total_cents".into()),
        },
        ClientMessage::GetOrder { id: 6, order_id: 42 },
        ClientMessage::GetUser { id: 7, user_id: 999_999 },
        ClientMessage::ListOrders { id: 8, limit: 5, cursor: Some("nope".into()), status: None, sort: None },
    ];
    for request in requests {
        let from_json = call(&mut json, Frames::Json, request.clone()).await;
        let from_proto = call(&mut proto, Frames::Protobuf, request.clone()).await;
        assert_eq!(from_proto, from_json, "{request:?}");
    }
    // A create through protobuf, then its replay through JSON: the same order.
    let create =
        |id| ClientMessage::CreateOrder { id, idempotency_key: Some("k-1".into()), order: new_order(3, 2) };
    let created = call(&mut proto, Frames::Protobuf, create(9)).await;
    let replayed = call(&mut json, Frames::Json, create(9)).await;
    let (
        ServerMessage::Reply { data: ReplyData::CreatedOrder(first), .. },
        ServerMessage::Reply { data: ReplyData::CreatedOrder(again), .. },
    ) = (created, replayed)
    else {
        panic!("expected created orders")
    };
    assert_eq!((first.replayed, again.replayed), (false, true));
    assert_eq!(first.order, again.order);

    // A stream: items then end, in binary frames.
    let stream = ClientMessage::StreamOrders { id: 11, limit: 3, status: None };
    let mut items = vec![call(&mut proto, Frames::Protobuf, stream).await];
    for _ in 0..3 {
        items.push(receive(&mut proto, Frames::Protobuf).await);
    }
    assert!(matches!(items[2], ServerMessage::Item { id: 11, seq: 2, .. }), "{:?}", items[2]);
    assert_eq!(items[3], ServerMessage::End { id: 11, count: 3 });

    // An import: orders buffered without answers, one summary.
    for n in 0..3u64 {
        let order = ClientMessage::ImportOrder {
            id: 20 + n,
            batch: "b".into(),
            idempotency_key: None,
            order: new_order(2, 1),
        };
        proto.send(Message::Binary(pb::WsRequest::from(order).encode_to_vec().into())).await.unwrap();
    }
    let commit = ClientMessage::ImportCommit { id: 30, batch: "b".into() };
    let ServerMessage::Reply { id: 30, data: ReplyData::ImportSummary(summary) } =
        call(&mut proto, Frames::Protobuf, commit).await
    else {
        panic!("expected a summary")
    };
    assert_eq!((summary.received, summary.created), (3, 3));
    drop((json, proto));
    shutdown.cancel();
    tokio::time::timeout(WAIT, running.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn the_wrong_kind_of_frame_or_bytes_get_errors_in_binary_and_the_socket_keeps_serving() {
    let TestServer { running, shutdown, .. } =
        TestServer::start(&ws::Ws, ctx_of("small", Duration::ZERO, MAX_BODY)).await;
    let (mut proto, _) = open(&running.url, Some(SUBPROTOCOL)).await;
    let no_op = pb::WsRequest { id: 5, op: None }.encode_to_vec();
    let unknown_status = pb::WsRequest {
        id: 6,
        op: Some(pb::ws_request::Op::StreamOrders(pb::WsStreamOrders { limit: 1, status: 99 })),
    }
    .encode_to_vec();
    let cases: [(Message, Option<u64>, &str); 5] = [
        (Message::text(r#"{"op":"get_user","id":1,"user_id":1}"#), None, "unsupported"),
        (Message::Binary(Bytes::from_static(b"\xff\xff\xff")), None, "malformed_message"),
        (Message::Binary(no_op.into()), Some(5), "malformed_message"),
        (Message::Binary(unknown_status.into()), Some(6), "malformed_message"),
        (Message::Binary(vec![0u8; MAX_BODY + 1].into()), None, "too_large"),
    ];
    for (n, (sent, id, code)) in cases.into_iter().enumerate() {
        proto.send(sent).await.unwrap();
        match receive(&mut proto, Frames::Protobuf).await {
            ServerMessage::Error { id: got, code: got_code, message } => {
                assert_eq!((got, got_code.as_ref()), (id, code), "case {n}: {message}");
            }
            other => panic!("case {n}: expected an error, got {other:?}"),
        }
        let user = call(&mut proto, Frames::Protobuf, ClientMessage::GetUser { id: 100, user_id: 2 }).await;
        assert!(matches!(user, ServerMessage::Reply { id: 100, data: ReplyData::User(_) }), "after case {n}");
    }
    drop(proto);
    shutdown.cancel();
    tokio::time::timeout(WAIT, running.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn every_message_round_trips_through_its_protobuf_twin() {
    let stored = ctx_of("small", Duration::ZERO, MAX_BODY).store.get_order(1).await.unwrap();
    let order = || stored.clone();
    let requests = [
        ClientMessage::GetUser { id: 1, user_id: 2 },
        ClientMessage::UserOrders { id: 2, user_id: 2, limit: 5 },
        ClientMessage::UsersOrders { id: 3, limit: 4 },
        ClientMessage::ListOrders {
            id: 4,
            limit: 10,
            cursor: Some("c".into()),
            status: Some(OrderStatus::Shipped),
            sort: Some("id".into()),
        },
        ClientMessage::ListOrders { id: 5, limit: 10, cursor: None, status: None, sort: None },
        ClientMessage::StreamOrders { id: 6, limit: 10, status: Some(OrderStatus::Paid) },
        ClientMessage::GetOrder { id: 7, order_id: 9 },
        ClientMessage::CreateOrder { id: 8, idempotency_key: Some("k".into()), order: new_order(1, 1) },
        ClientMessage::CreateOrder { id: 9, idempotency_key: None, order: new_order(1, 1) },
        ClientMessage::ImportOrder {
            id: 10,
            batch: "b".into(),
            idempotency_key: Some("i".into()),
            order: new_order(1, 1),
        },
        ClientMessage::ImportCommit { id: 11, batch: "b".into() },
        ClientMessage::SubscribeEvents { id: 12 },
        ClientMessage::Unsubscribe { id: 13, subscription: 12 },
    ];
    for request in requests {
        let bytes = pb::WsRequest::from(request.clone()).encode_to_vec();
        assert_eq!(decode_binary(&bytes).unwrap(), request);
    }
    let answers = [
        ServerMessage::Reply { id: 1, data: ReplyData::Order(order()) },
        ServerMessage::Reply {
            id: 2,
            data: ReplyData::UserOrders(UserOrders { name: "A".into(), orders: vec![(&order()).into()] }),
        },
        ServerMessage::Reply {
            id: 3,
            data: ReplyData::OrderPage(OrderPage { data: vec![order()], next_cursor: None }),
        },
        ServerMessage::Reply {
            id: 4,
            data: ReplyData::OrderPage(OrderPage { data: vec![], next_cursor: Some("next".into()) }),
        },
        ServerMessage::Reply {
            id: 5,
            data: ReplyData::CreatedOrder(CreatedOrder { order: order(), replayed: true }),
        },
        ServerMessage::Reply { id: 6, data: ReplyData::ImportSummary(ImportSummary::default()) },
        ServerMessage::Reply {
            id: 7,
            data: ReplyData::SubscriptionState(SubscriptionState { subscribed: true }),
        },
        ServerMessage::Item { id: 8, seq: 3, data: order() },
        ServerMessage::End { id: 8, count: 4 },
        ServerMessage::Event {
            id: 9,
            data: OrderEvent { seq: 1, kind: OrderEventKind::StatusChanged, order: order() },
        },
        ServerMessage::error(None, "malformed_message", "bad"),
        ServerMessage::error(Some(10), "not_found", "gone"),
    ];
    for answer in answers {
        let bytes = encode_binary(answer.clone());
        assert_eq!(
            ServerMessage::try_from(pb::WsResponse::decode(bytes.as_slice()).unwrap()).unwrap(),
            answer
        );
    }
    assert_eq!(Frames::negotiate(["chat", "superchat, wirebench.v1.proto"]), Frames::Protobuf);
    assert_eq!(Frames::negotiate(["wirebench.v1.json"]), Frames::Json);
}
