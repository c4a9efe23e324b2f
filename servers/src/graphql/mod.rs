//! GraphQL over HTTP (POST, HTTP/1.1 and h2c on one port) and over WebSockets
//! (graphql-transport-ws), with async-graphql on axum.
//!
//! Endpoints:
//! - `POST /graphql`: queries and mutations; `User.orders` is batched by a DataLoader.
//! - `POST /graphql/no-dataloader`: the same schema resolving `User.orders` with one store
//!   call per user, so the N+1 problem can be measured next to its fix.
//! - `GET /graphql/ws`: subscriptions (and queries and mutations sent as `subscribe`
//!   messages) over the graphql-transport-ws protocol (the legacy graphql-ws protocol is
//!   accepted too).
//! - `GET /graphql` and `GET /graphql/no-dataloader`: GraphiQL.
//!
//! The schema's types wrap the domain's records and borrow from them: the domain knows
//! nothing of GraphQL. Ids are `ID` scalars carrying the decimal `u64`; money is integer
//! cents as `Int`; timestamps are the `DateTime` scalar in the canonical JSON form (RFC 3339,
//! UTC, `Z`). Domain errors become GraphQL errors whose `extensions.code` is one of
//! `NOT_FOUND`, `BAD_USER_INPUT`, `CONFLICT`, `IDEMPOTENCY_KEY_REUSED` or `PAYLOAD_TOO_LARGE`
//! (plus `extensions.reason`, the domain's own code shared by every protocol). Root fields
//! are nullable, so a failing field is `null` next to its error and the rest of the answer
//! stands.
//!
//! Limits: [`MAX_DEPTH`] and [`MAX_COMPLEXITY`] per operation (see [`MAX_COMPLEXITY`] for
//! how cost is counted), `max_body_bytes` per HTTP body and per WebSocket message. A body
//! that is too large, not JSON or not a GraphQL request gets a 4xx with a GraphQL-shaped
//! error body (`{"errors":[{"message", "extensions":{"code"}}]}`); unknown routes get the
//! REST server's `{"error", "message"}` 404.
//!
//! The contract `schema/shop.graphql` is the schema's SDL, from [`sdl`].
//!
//! Modules: `types` (scalars, enums, output objects), `connections` (pages), `loader` (the
//! DataLoader), `inputs`, `roots` (query, mutation, subscription), `limits` (depth and
//! complexity), `errors` (the one error mapping, argument checks), `http` (the axum app).

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Schema;
use async_graphql::dataloader::DataLoader;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wirebench_domain::{Store, StoreConfig};

use self::limits::Limits;
use self::types::OrdersLoader;
use crate::{ProtocolServer, ServerContext};

mod errors;
mod http;
mod inputs;
mod limits;
mod loader;
mod roots;
mod types;

pub use self::http::app;
pub use self::roots::{MutationRoot, QueryRoot, SubscriptionRoot};

/// Queries and mutations, with the DataLoader.
pub const PATH: &str = "/graphql";
/// Queries and mutations, without the DataLoader (one store call per user's orders).
pub const NO_DATALOADER_PATH: &str = "/graphql/no-dataloader";
/// graphql-transport-ws: subscriptions, and queries and mutations as `subscribe` messages.
pub const WS_PATH: &str = "/graphql/ws";

/// Deepest selection an operation may have (`{ a { b } }` has depth 2).
pub const MAX_DEPTH: usize = 12;
/// Deepest selection an introspection-only operation may have. The introspection query
/// every client sends (graphql-js `getIntrospectionQuery`, GraphiQL) nests `ofType` seven
/// times and reaches depth 13, so introspection gets a little more room than data.
pub const MAX_INTROSPECTION_DEPTH: usize = 15;
/// Most an operation may cost. Cost counts objects, not scalars: a scalar field costs 0,
/// an object field 1 plus its selection, and a connection `1 + first × (its selection)`, so
/// a page of `first` nodes costs about `first` times one node. A user's 1000 orders'
/// `id totalCents status` cost 1002; `orders(first: 1000)` with every order field under
/// `nodes` costs 3001 (each order is 1, plus 1 for `shippingAddress` and 1 for `items`).
/// A nested list without a page size (an order's `items`) costs as one object.
pub const MAX_COMPLEXITY: usize = 5000;
/// How long the DataLoader waits to gather keys before it calls the store: none beyond
/// the poll that registered them. Every key of one list (the users of one page) is
/// registered in a single poll of the request's task, and the load task spawned by the
/// first key in practice starts only after that poll ends (it is spawned onto the same
/// worker, then waits for a tick of async-graphql's timer thread), so one page of users
/// still makes one batched call (a test checks it). Any wait would be added to every query that reaches
/// `User.orders`; async-graphql's default is 1 ms. Concurrent requests are batched together
/// when their keys happen to meet in the same window.
pub const DATALOADER_DELAY: Duration = Duration::ZERO;

/// The GraphQL server.
#[derive(Debug)]
pub struct Graphql;

impl ProtocolServer for Graphql {
    fn name(&self) -> &'static str {
        "graphql"
    }

    fn describe(&self) -> &'static str {
        "GraphQL over HTTP POST (h1 and h2c) and graphql-transport-ws, with and without a DataLoader"
    }

    fn url(&self, addr: std::net::SocketAddr) -> String {
        format!("http://{addr}{PATH}")
    }

    fn contracts(&self) -> Vec<(&'static str, String)> {
        vec![("shop.graphql", sdl())]
    }

    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, std::io::Result<()>> {
        let config = ctx.config.clone();
        let app = http::router(ctx, shutdown.clone());
        crate::http::serve_router(listener, app, config, crate::http::Flavor::Http, shutdown)
    }
}

/// The shop's GraphQL schema.
pub type ShopSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema over `ctx`'s store; `dataloader` batches `User.orders` across users.
pub fn schema(ctx: &ServerContext, dataloader: bool) -> ShopSchema {
    let mut builder =
        Schema::build(QueryRoot, MutationRoot, SubscriptionRoot).data(ctx.store.clone()).extension(Limits);
    if dataloader {
        let loader =
            DataLoader::new(OrdersLoader::new(ctx.store.clone()), tokio::spawn).delay(DATALOADER_DELAY);
        builder = builder.data(loader);
    }
    builder.finish()
}

/// The schema's SDL, as written to `schema/shop.graphql`.
pub fn sdl() -> String {
    let ctx = ServerContext {
        store: Arc::new(Store::new(StoreConfig::default())),
        config: crate::ServerConfig::default(),
    };
    let mut text = schema(&ctx, true).sdl().trim_end().to_owned();
    text.push('\n');
    text
}
