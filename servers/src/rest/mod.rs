//! REST+JSON over HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on one port, with axum.
//!
//! Resource-oriented routes under `/v1`. Every error is `{"error": code, "message": text}`
//! with a 4xx status; rejections of the framework's own extractors are converted to that
//! same body. The OpenAPI document is generated from the handlers' `#[utoipa::path]`
//! annotations, the model's `ToSchema` derives and `openapi.rs` (the answers every route
//! shares, the accepted values of `sort`, `fields`, `include`): the router and the document
//! are built from the same list, so a route cannot exist without being documented. The
//! document is exact: every status an operation answers is listed, and every request it
//! allows is accepted (`interop/contract.py` checks both with schemathesis).

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{ProtocolServer, ServerContext};

mod errors;
mod handlers;
mod media;
mod openapi;
mod responses;
mod schemas;
mod shapes;

pub use errors::{ErrorBody, MAX_URI_BYTES};

/// The REST+JSON server.
#[derive(Debug)]
pub struct Rest;

impl ProtocolServer for Rest {
    fn name(&self) -> &'static str {
        "rest"
    }

    fn describe(&self) -> &'static str {
        "REST+JSON, HTTP/1.1 and h2c (prior knowledge)"
    }

    fn url(&self, addr: std::net::SocketAddr) -> String {
        format!("http://{addr}/v1")
    }

    fn contracts(&self) -> Vec<(&'static str, String)> {
        vec![("openapi.json", openapi_json())]
    }

    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, std::io::Result<()>> {
        let config = ctx.config.clone();
        crate::http::serve_router(listener, app(ctx), config, crate::http::Flavor::Http, shutdown)
    }
}

/// The routes and their OpenAPI document, built from one list.
fn routes() -> (Router<ServerContext>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::skeleton())
        .routes(routes!(handlers::healthz))
        .routes(routes!(handlers::readyz))
        .routes(routes!(handlers::list_users))
        .routes(routes!(handlers::get_user))
        .routes(routes!(handlers::user_orders))
        .routes(routes!(handlers::list_orders, handlers::create_order))
        .routes(routes!(handlers::create_orders_batch))
        .routes(routes!(handlers::stream_orders))
        .routes(routes!(handlers::get_order, handlers::update_order, handlers::delete_order))
        .split_for_parts();
    (router, openapi::finish(doc))
}

/// The OpenAPI 3 document of this server, generated from the code.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The OpenAPI document as written to `schema/openapi.json`.
pub fn openapi_json() -> String {
    let mut text = openapi().to_pretty_json().expect("OpenAPI serializes");
    text.push('\n');
    text
}

/// Request ids: a per-process random prefix and a counter. Cheaper than a UUID per request,
/// and still unique across restarts.
#[derive(Debug, Clone)]
struct CounterRequestId {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl MakeRequestId for CounterRequestId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix)).ok().map(RequestId::new)
    }
}

fn request_ids() -> CounterRequestId {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (seed, std::process::id()).hash(&mut hasher);
    CounterRequestId { prefix: format!("{:012x}", hasher.finish() >> 16).into(), next: Arc::default() }
}

/// The whole REST application, apart from any socket (tests drive it with `oneshot`).
pub fn app(ctx: ServerContext) -> Router {
    let (router, doc) = routes();
    let doc_json: Arc<str> = doc.to_json().expect("OpenAPI serializes").into();
    let max_body = ctx.config.max_body_bytes;
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let doc_json = doc_json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc_json.to_string()) }
            }),
        )
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(ctx)
        .layer(axum::middleware::from_fn(errors::limit_uri))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(max_body, crate::coding::decode_requests))
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(request_ids()))
}
