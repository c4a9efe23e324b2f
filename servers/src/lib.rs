//! The shop served over every protocol wirebench measures.
//!
//! Each protocol lives in its own module and is listed once in [`SERVERS`]. A server takes
//! an already-bound listener, the shared store and a shutdown token, so `wirebench serve`
//! binds real ports and tests bind port 0. No code outside a protocol's module names that
//! protocol.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wirebench_domain::Store;

pub mod coding;
pub mod floor;
pub mod graphql;
pub mod grpc;
pub mod http;
pub mod jsonrpc;
pub mod pb_ops;
pub mod rest;
pub mod tcp;
pub mod tls;
pub mod ws;

/// Settings every server shares: the limits a client meets (the README's "Limits" table
/// lists each with its flag and what a client sees when it hits it).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body (HTTP) or message (gRPC, WebSocket, floor frame), in bytes.
    pub max_body_bytes: usize,
    /// Connections one server holds open at once; a connection over the cap is refused in
    /// the protocol's own terms (HTTP 503, gRPC RESOURCE_EXHAUSTED, WebSocket close 1013, a
    /// floor error frame) and closed.
    pub max_connections: usize,
    /// Time an HTTP/1.1 client has to send a request's headers, counted from when the
    /// connection is ready for the next request (so it also ends idle keep-alive), and a
    /// WebSocket client to complete its upgrade.
    pub header_read_timeout: Duration,
    /// A connection with no bytes in either direction for this long is closed: HTTP/2 and
    /// gRPC with GOAWAY, WebSocket with close 1000 (after pings that went unanswered), the
    /// floor by closing between frames.
    pub idle_timeout: Duration,
    /// On shutdown, the time in-flight requests have to finish before connections are cut.
    pub grace: Duration,
    /// TLS beside plaintext on every port (see [`tls`]); `None`: plaintext only.
    pub tls: Option<tls::ServerTls>,
}

impl ServerConfig {
    /// Default of [`ServerConfig::max_connections`]: well above any profile's concurrency
    /// (a test checks), well below a default descriptor limit shared by every server.
    pub const MAX_CONNECTIONS: usize = 1024;
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 8 * 1024 * 1024,
            max_connections: Self::MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(5),
            tls: None,
        }
    }
}

/// What a server needs to run: the one shared store and the shared settings.
#[derive(Debug, Clone)]
pub struct ServerContext {
    pub store: Arc<Store>,
    pub config: ServerConfig,
}

/// A protocol's server half.
pub trait ProtocolServer: Sync {
    /// Short name used on the command line and in results, e.g. `rest`.
    fn name(&self) -> &'static str;
    /// One line for people: what is served and how.
    fn describe(&self) -> &'static str;
    /// The URL a client uses, given the bound address.
    fn url(&self, addr: SocketAddr) -> String;
    /// Contracts generated from this protocol's code: `(file name in schema/, contents)`.
    fn contracts(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Serves on `listener` until `shutdown` is cancelled, then finishes in-flight work.
    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, std::io::Result<()>>;
}

/// Every protocol server, in the order they are printed and bound (port base + index).
pub static SERVERS: &[&dyn ProtocolServer] =
    &[&rest::Rest, &grpc::Grpc, &graphql::Graphql, &ws::Ws, &floor::Floor, &jsonrpc::JsonRpc];

/// Looks a server up by name.
pub fn server(name: &str) -> Option<&'static dyn ProtocolServer> {
    SERVERS.iter().copied().find(|s| s.name() == name)
}

/// A server running in the background, as started by [`spawn`].
#[derive(Debug)]
pub struct Running {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub url: String,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds `addr` and starts `server` on it in a task.
pub async fn spawn(
    server: &'static dyn ProtocolServer,
    addr: SocketAddr,
    ctx: ServerContext,
    shutdown: CancellationToken,
) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(server.serve(listener, ctx, shutdown));
    Ok(Running { name: server.name(), addr, url: server.url(addr), task })
}
