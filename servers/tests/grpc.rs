//! gRPC server tests over real sockets: status codes for domain errors, malformed protobuf
//! and oversized messages, and the server keeps serving afterwards.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::Code;
use wirebench_proto::v1 as pb;
use wirebench_proto::v1::shop_client::ShopClient;
use wirebench_servers::grpc;

mod common;
use common::{TestServer, ctx};

async fn start(max_body_bytes: usize) -> TestServer {
    TestServer::start(&grpc::Grpc, ctx(Duration::ZERO, max_body_bytes)).await
}

fn order(user_id: u64, name_len: usize) -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        idempotency_key: String::new(),
        order: Some(pb::NewOrder {
            user_id,
            items: vec![pb::LineItem {
                sku: "SKU-1".into(),
                name: "x".repeat(name_len),
                quantity: 1,
                unit_price_cents: 100,
            }],
            currency: "EUR".into(),
            shipping_address: Some(pb::Address {
                line1: "1".into(),
                country: "DE".into(),
                ..Default::default()
            }),
        }),
    }
}

/// POSTs one raw gRPC frame (5-byte prefix + `message`) and returns the grpc-status trailer.
async fn raw_call(addr: std::net::SocketAddr, method: &str, message: &[u8]) -> (String, String) {
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build_http::<Full<Bytes>>();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    let req = http::Request::post(format!("http://{addr}/wirebench.v1.Shop/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(frame)))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let collected = body.collect().await.unwrap();
    // A status can come in the headers (trailers-only response) or in the trailers.
    let headers = collected.trailers().cloned().unwrap_or_default();
    let get = |name: &str| {
        headers
            .get(name)
            .or_else(|| parts.headers.get(name))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (get("grpc-status"), get("grpc-message"))
}

#[tokio::test]
async fn bad_input_gets_status_codes_and_the_server_keeps_serving() {
    let server = start(16 * 1024).await;
    let addr = server.addr();
    let mut shop = ShopClient::connect(format!("http://{addr}")).await.unwrap();

    // Malformed protobuf: a length-delimited field whose length runs past the end.
    let (status, message) = raw_call(addr, "GetUser", &[0x0a, 0xff, 0x01]).await;
    assert_eq!(status, (Code::Internal as i32).to_string(), "{message}");
    assert!(message.to_lowercase().contains("decode"), "{message}");

    // A message over the size limit.
    let err = shop.create_order(order(1, 64 * 1024)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");

    // Domain errors.
    assert_eq!(shop.get_user(pb::GetUserRequest { id: 999_999 }).await.unwrap_err().code(), Code::NotFound);
    let bad_limit =
        shop.get_user_orders(pb::GetUserOrdersRequest { user_id: 1, limit: 0 }).await.unwrap_err();
    assert_eq!(bad_limit.code(), Code::InvalidArgument);
    let mut keyed = order(1, 4);
    keyed.idempotency_key = "grpc-key".into();
    shop.create_order(keyed.clone()).await.unwrap();
    let mut other = keyed.clone();
    other.order.as_mut().unwrap().items[0].quantity = 2;
    let reused = shop.create_order(other).await.unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);
    assert!(reused.message().contains("grpc-key"), "{}", reused.message());
    let replay = shop.create_order(keyed).await.unwrap().into_inner();
    assert!(replay.replayed);

    // Still serving, on the same connection and a new one.
    assert_eq!(shop.get_user(pb::GetUserRequest { id: 1 }).await.unwrap().into_inner().id, 1);
    let mut fresh = ShopClient::connect(format!("http://{addr}")).await.unwrap();
    assert_eq!(fresh.get_user(pb::GetUserRequest { id: 2 }).await.unwrap().into_inner().id, 2);

    server.stop().await;
}
