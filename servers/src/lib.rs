//! The shop served over every protocol wirebench measures.
//!
//! Each protocol lives in its own module and is listed once in [`SERVERS`]. A server takes
//! an already-bound listener, the shared store and a shutdown token, so `wirebench serve`
//! binds real ports and tests bind port 0. No code outside a protocol's module names that
//! protocol.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wirebench_domain::Store;

pub mod floor;
pub mod graphql;
pub mod grpc;
pub mod http;
pub mod pb_ops;
pub mod rest;
pub mod tcp;
pub mod ws;

/// Settings every server shares. Limits are per request or message.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body (HTTP) or message (gRPC, WebSocket) accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { max_body_bytes: 8 * 1024 * 1024 }
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
    &[&rest::Rest, &grpc::Grpc, &graphql::Graphql, &ws::Ws, &floor::Floor];

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
