//! One route, several representations: REST answers JSON or protobuf by `Accept` and takes
//! a protobuf body by `Content-Type`; stream-orders comes as NDJSON, server-sent events or
//! delimited protobuf; gRPC takes JSON messages (`application/grpc+json`) beside protobuf.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use prost::Message;
use tower::ServiceExt;
use wirebench_domain::{Order, User};
use wirebench_proto::v1 as pb;
use wirebench_servers::{grpc, rest};

mod common;
use common::{TestServer, ctx, default_ctx, json_of, new_order};

const PROTOBUF: &str = "application/x-protobuf";

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

async fn get(app: &axum::Router, uri: &str, accept: Option<&str>) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = Request::get(uri);
    if let Some(accept) = accept {
        req = req.header(header::ACCEPT, accept);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn protobuf_answers_carry_what_json_answers_carry() {
    let app = rest::app(default_ctx());
    let (status, headers, body) = get(&app, "/v1/users/1", Some(PROTOBUF)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], PROTOBUF);
    assert_eq!(headers[header::VARY], "accept");
    let from_pb = User::try_from(pb::User::decode(body).unwrap()).unwrap();
    let (_, headers, json) = get(&app, "/v1/users/1", None).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(from_pb, serde_json::from_slice::<User>(&json).unwrap());
    // JSON when it is preferred, protobuf when it is.
    let (_, headers, _) = get(&app, "/v1/users/1", Some("application/json, application/x-protobuf")).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let (_, headers, _) =
        get(&app, "/v1/users/1", Some("application/json;q=0.5, application/x-protobuf")).await;
    assert_eq!(headers[header::CONTENT_TYPE], PROTOBUF);

    // A sparse user has only the named fields set.
    let (_, _, body) = get(&app, "/v1/users/1?fields=name", Some(PROTOBUF)).await;
    let sparse = pb::User::decode(body).unwrap();
    assert_eq!(sparse, pb::User { name: from_pb.name.clone(), ..Default::default() });

    // A page of orders: the same orders and the same cursor.
    let (_, _, body) = get(&app, "/v1/orders?limit=3", Some(PROTOBUF)).await;
    let page = pb::OrderPage::decode(body).unwrap();
    let (_, _, json) = get(&app, "/v1/orders?limit=3", None).await;
    let json = json_of(&json);
    let orders: Vec<Order> = page.orders.into_iter().map(|o| o.try_into().unwrap()).collect();
    assert_eq!(orders, serde_json::from_value::<Vec<Order>>(json["data"].clone()).unwrap());
    assert_eq!(page.next_cursor, json["next_cursor"].as_str().unwrap());
    // The ETag of each representation is its own, and a 304 answers either.
    let (_, tagged, _) = get(&app, "/v1/orders/1", Some(PROTOBUF)).await;
    let req = Request::get("/v1/orders/1")
        .header(header::ACCEPT, PROTOBUF)
        .header(header::IF_NONE_MATCH, tagged[header::ETAG].clone())
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.0, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn a_protobuf_create_works_and_bad_protobuf_gets_the_one_error_body() {
    let app = rest::app(default_ctx());
    let body = pb::NewOrder::from(new_order(1, 2)).encode_to_vec();
    let req = Request::post("/v1/orders")
        .header(header::CONTENT_TYPE, PROTOBUF)
        .header(header::ACCEPT, PROTOBUF)
        .body(Body::from(body))
        .unwrap();
    let (status, headers, body) = send(&app, req).await;
    assert_eq!((status, &headers[header::CONTENT_TYPE]), (StatusCode::CREATED, &PROTOBUF.parse().unwrap()));
    let order = Order::try_from(pb::Order::decode(body).unwrap()).unwrap();
    assert_eq!(order.user_id, 1);

    for (content_type, body, want) in [
        (PROTOBUF, vec![0xff, 0xff, 0xff], (StatusCode::BAD_REQUEST, "malformed_protobuf")),
        // A valid message that is not a valid order: no user.
        (PROTOBUF, Vec::new(), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")),
        ("text/plain", b"{}".to_vec(), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")),
    ] {
        let req =
            Request::post("/v1/orders").header(header::CONTENT_TYPE, content_type).body(Body::from(body));
        let (status, headers, body) = send(&app, req.unwrap()).await;
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let v = json_of(&body);
        assert_eq!((status, v["error"].as_str().unwrap()), want, "{v}");
    }
}

#[tokio::test]
async fn the_stream_comes_as_ndjson_events_or_delimited_messages_with_the_same_orders() {
    let app = rest::app(default_ctx());
    let (_, headers, ndjson) = get(&app, "/v1/orders/stream?limit=3", None).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-ndjson");
    let lines: Vec<Order> = ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);

    let (_, headers, sse) = get(&app, "/v1/orders/stream?limit=3", Some("text/event-stream")).await;
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    let text = String::from_utf8(sse.to_vec()).unwrap();
    let events: Vec<Order> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events, lines);

    let (_, headers, mut delimited) = get(&app, "/v1/orders/stream?limit=3", Some(PROTOBUF)).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-protobuf; delimited=true");
    let mut messages = Vec::new();
    while !delimited.is_empty() {
        messages.push(Order::try_from(pb::Order::decode_length_delimited(&mut delimited).unwrap()).unwrap());
    }
    assert_eq!(messages, lines);
}

#[tokio::test]
async fn grpc_answers_json_messages_in_json_and_protobuf_ones_in_protobuf() {
    use wirebench_proto::json::JsonCodec;
    let server = TestServer::start(&grpc::Grpc, ctx(Duration::ZERO, 1 << 20)).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // tonic's client names every call `application/grpc`, whatever its codec.
    let named = tower::ServiceBuilder::new()
        .map_request(|mut r: http::Request<tonic::body::Body>| {
            r.headers_mut().insert(header::CONTENT_TYPE, "application/grpc+json".parse().unwrap());
            r
        })
        .service(channel);
    let mut client = tonic::client::Grpc::new(named);
    let path = http::uri::PathAndQuery::from_static("/wirebench.v1.Shop/GetUser");
    client.ready().await.unwrap();
    let codec = JsonCodec::<pb::GetUserRequest, pb::User>::default();
    let res =
        client.unary(tonic::Request::new(pb::GetUserRequest { id: 1 }), path.clone(), codec).await.unwrap();
    assert_eq!(res.metadata().get("content-type").unwrap(), "application/grpc+json");
    let by_json = res.into_inner();

    let mut protobuf =
        pb::shop_client::ShopClient::connect(format!("http://{}", server.addr())).await.unwrap();
    let by_protobuf = protobuf.get_user(pb::GetUserRequest { id: 1 }).await.unwrap().into_inner();
    assert_eq!(by_json, by_protobuf);

    // Domain errors are the same statuses; a message that is not JSON is INVALID_ARGUMENT.
    client.ready().await.unwrap();
    let codec = JsonCodec::<pb::GetUserRequest, pb::User>::default();
    let missing =
        client.unary(tonic::Request::new(pb::GetUserRequest { id: 1 << 40 }), path.clone(), codec).await;
    assert_eq!(missing.unwrap_err().code(), tonic::Code::NotFound);
    client.ready().await.unwrap();
    let codec = JsonCodec::<serde_json::Value, pb::User>::default();
    let wrong = client.unary(tonic::Request::new(serde_json::json!({"id": [1]})), path, codec).await;
    assert_eq!(wrong.unwrap_err().code(), tonic::Code::InvalidArgument);
    server.stop().await;
}
