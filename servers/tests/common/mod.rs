//! What every server test shares: a store of fixtures, a server on 127.0.0.1:0 that stops
//! cleanly, an order to create, and JSON out of a body.
#![allow(dead_code, reason = "each test file uses its own subset of these helpers")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wirebench_domain::{Address, LineItem, NewOrder, Profiles, Store, StoreConfig};
use wirebench_servers::{ProtocolServer, Running, ServerConfig, ServerContext};

/// How long a test waits for a server to stop, or for an answer that must come.
pub const WAIT: Duration = Duration::from_secs(10);

/// A store loaded with `profile`'s fixtures (seed 42), with `latency` per store call.
pub fn ctx_of(profile: &str, latency: Duration, max_body_bytes: usize) -> ServerContext {
    let profile = Profiles::builtin().get(profile).unwrap().clone();
    let store = Store::with_fixtures(
        StoreConfig { latency, ..StoreConfig::default() },
        wirebench_domain::generate(&profile, 42),
    );
    ServerContext {
        store: Arc::new(store),
        config: ServerConfig { max_body_bytes, ..ServerConfig::default() },
    }
}

/// The `small` shop with `latency` per store call.
pub fn ctx(latency: Duration, max_body_bytes: usize) -> ServerContext {
    ctx_of("small", latency, max_body_bytes)
}

/// The `small` shop, no latency, 64 KiB bodies.
pub fn default_ctx() -> ServerContext {
    ctx(Duration::ZERO, 64 * 1024)
}

/// A server running on an ephemeral loopback port, with its store and stop token.
pub struct TestServer {
    pub running: Running,
    pub store: Arc<Store>,
    pub shutdown: CancellationToken,
}

impl TestServer {
    pub async fn start(server: &'static dyn ProtocolServer, ctx: ServerContext) -> TestServer {
        let store = ctx.store.clone();
        let shutdown = CancellationToken::new();
        let running = wirebench_servers::spawn(server, "127.0.0.1:0".parse().unwrap(), ctx, shutdown.clone())
            .await
            .unwrap();
        TestServer { running, store, shutdown }
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// Cancels the token and checks the server stops cleanly within [`WAIT`].
    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(WAIT, self.running.task).await.expect("the server stops in time");
        result.unwrap().unwrap();
    }
}

/// A valid new order for `user_id`: one line item of `quantity` × 1.50 EUR.
pub fn new_order(user_id: u64, quantity: u32) -> NewOrder {
    NewOrder {
        user_id,
        items: vec![LineItem { sku: "SKU-1".into(), name: "thing".into(), quantity, unit_price_cents: 150 }],
        currency: "EUR".into(),
        shipping_address: Address {
            line1: "1 Main St".into(),
            line2: String::new(),
            city: "Berlin".into(),
            region: "BE".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
        },
    }
}

/// [`new_order`] as the REST and WebSocket JSON body.
pub fn new_order_json(user_id: u64, quantity: u32) -> Value {
    serde_json::to_value(new_order(user_id, quantity)).unwrap()
}

/// A JSON body, or a panic that shows what it was.
pub fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// One get-user call for user 1 in `name`'s protocol on a fresh connection: the answer (the
/// HTTP body, the WebSocket reply, or the user's id for gRPC and the floor), or what failed.
pub async fn get_user_1(name: &str, addr: SocketAddr) -> Result<String, String> {
    use futures::{SinkExt, StreamExt};
    use prost::Message as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;
    use wirebench_proto::v1 as pb;
    use wirebench_servers::{floor, ws};

    let failed = |e: &dyn std::fmt::Display| e.to_string();
    match name {
        "rest" | "graphql" | "jsonrpc" => {
            let request = if name == "rest" {
                "GET /v1/users/1 HTTP/1.1\r\nHost: x\r\n\r\n".to_owned()
            } else {
                let (path, body) = if name == "graphql" {
                    ("/graphql", r#"{"query":"{ user(id: 1) { id name } }"}"#)
                } else {
                    ("/rpc", r#"{"jsonrpc":"2.0","method":"getUser","params":{"id":1},"id":7}"#)
                };
                format!(
                    "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            let mut tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| failed(&e))?;
            tcp.write_all(request.as_bytes()).await.map_err(|e| failed(&e))?;
            let mut buf = vec![0u8; 64 * 1024];
            let n = tcp.read(&mut buf).await.map_err(|e| failed(&e))?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("HTTP/1.1 200") {
                return Err(text);
            }
            Ok(text.split_once("\r\n\r\n").map_or(text.clone(), |(_, body)| body.to_owned()))
        }
        "grpc" => {
            let url = format!("http://{addr}");
            let mut client = pb::shop_client::ShopClient::connect(url).await.map_err(|e| failed(&e))?;
            let user = client.get_user(pb::GetUserRequest { id: 1 }).await.map_err(|e| failed(&e))?;
            Ok(user.into_inner().id.to_string())
        }
        "ws" => {
            let url = format!("ws://{addr}{}", ws::PATH);
            let (mut socket, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| failed(&e))?;
            let request = Message::text(r#"{"op":"get_user","id":1,"user_id":1}"#);
            socket.send(request).await.map_err(|e| failed(&e))?;
            match socket.next().await {
                Some(Ok(Message::Text(text))) if text.starts_with(r#"{"type":"reply","id":1,"#) => {
                    Ok(text.to_string())
                }
                other => Err(format!("{other:?}")),
            }
        }
        "floor" => {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| failed(&e))?;
            let request = pb::GetUserRequest { id: 1 }.encode_to_vec();
            floor::write_frame(&mut tcp, floor::op::GET_USER, &request).await.map_err(|e| failed(&e))?;
            let mut frame = Vec::new();
            floor::read_frame(&mut tcp, &mut frame, 1 << 20).await.map_err(|e| failed(&e))?;
            match frame.split_first() {
                Some((&floor::kind::OK, user)) => {
                    Ok(pb::User::decode(user).map_err(|e| failed(&e))?.id.to_string())
                }
                _ => Err(format!("{frame:?}")),
            }
        }
        other => Err(format!("no get-user call for {other}")),
    }
}
