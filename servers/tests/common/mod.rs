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
