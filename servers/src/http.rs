//! What the HTTP-based servers (REST and GraphQL) share: the serve loop (HTTP/1.1 and h2c
//! on one port) and the answers for unknown routes and methods, in the one error body.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

/// The one error body every HTTP failure returns (GraphQL errors aside, which answer in
/// GraphQL's own shape).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`, `malformed_json`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

/// A response with `status` and the one error body.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, axum::Json(ErrorBody { error: code.to_owned(), message: message.into() })).into_response()
}

/// The fallback for a path no route serves.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", format!("no route for {method} {}", uri.path()))
}

/// The fallback for a route that does not serve `method`.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Serves an axum app on `listener` (HTTP/1.1 and h2c, with Nagle's algorithm off so small
/// request/response exchanges are not delayed) until `shutdown`, then drains.
pub fn serve_axum(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> BoxFuture<'static, std::io::Result<()>> {
    use axum::serve::ListenerExt as _;
    Box::pin(async move {
        let listener = listener.tap_io(|tcp| {
            // Ignoring a failure is right: the socket works without it, only small writes
            // may be delayed (and the harness would see that in latency).
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await
    })
}
