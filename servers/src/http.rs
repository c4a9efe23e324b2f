//! What the servers over HTTP (REST, GraphQL, gRPC) share: the serve loop (hyper, one task
//! per connection, with the time limits and the connection cap of [`ServerConfig`]) and the
//! answers for unknown routes and methods, in the one error body.

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::ServerConfig;
use crate::tcp::Conn;

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

/// How an HTTP server speaks on its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// HTTP/1.1 and h2c (prior knowledge) on one port: REST and GraphQL.
    Http,
    /// gRPC: HTTP/2, and HTTP/1.1 for gRPC-Web (tonic-web answers any other HTTP/1.1 request
    /// 400); refusals as gRPC statuses.
    Grpc,
}

/// Serves an axum app on `listener` with hyper, one task per connection (HTTP/1.1 and h2c;
/// gRPC's HTTP/1.1 is gRPC-Web), under `config`'s limits (see [`ServerConfig`]), until
/// `shutdown`; then lets in-flight requests finish for the grace period.
pub fn serve_router(
    listener: TcpListener,
    app: axum::Router,
    config: ServerConfig,
    flavor: Flavor,
    shutdown: CancellationToken,
) -> BoxFuture<'static, std::io::Result<()>> {
    Box::pin(async move {
        let builder = Arc::new(builder(&config));
        let (idle, grace, cap) = (config.idle_timeout, config.grace, config.max_connections);
        crate::tcp::serve(
            listener,
            shutdown,
            &config,
            move |tcp, stop| connection(tcp, app.clone(), builder.clone(), (idle, grace), stop),
            move |tcp| refuse(tcp, flavor, cap),
        )
        .await
    })
}

/// hyper's connection settings: its defaults (the same tonic's server uses), a timer, and
/// the header read timeout.
fn builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// One connection: served until the peer leaves, or until it has been idle for `idle` or
/// the server shuts down, when hyper closes it gracefully (HTTP/1.1 after the response in
/// hand, HTTP/2 with GOAWAY once its streams finish) within `grace` (after idling, within
/// [`IDLE_CLOSE`]).
async fn connection(
    tcp: Conn,
    app: axum::Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    (idle, grace): (Duration, Duration),
    stop: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked { tcp, activity: activity.clone() });
    let conn = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(app));
    let mut conn = pin!(conn);
    let grace = tokio::select! {
        // A failed connection (peer reset, bad bytes hyper answered) only ends itself.
        _ = conn.as_mut() => return,
        () = stop.cancelled() => grace,
        // Idle: HTTP/2's GOAWAY waits for a PING answer that a silent peer never sends.
        () = activity.idle_for(idle) => grace.min(IDLE_CLOSE),
    };
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(grace, conn).await;
}

/// Time an idle connection has to finish closing in order before it is cut.
const IDLE_CLOSE: Duration = Duration::from_secs(1);

/// Answers a connection over the cap: every request gets HTTP 503 (gRPC: RESOURCE_EXHAUSTED)
/// and the connection closes after the first answer.
async fn refuse(tcp: Conn, flavor: Flavor, cap: usize) {
    let answered = Arc::new(tokio::sync::Notify::new());
    let notify = answered.clone();
    let service = hyper::service::service_fn(move |_request| {
        notify.notify_one();
        std::future::ready(Ok::<_, std::convert::Infallible>(refusal(flavor, cap)))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    let mut conn = pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = answered.notified() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The answer to a request on a connection over the cap.
pub fn refusal(flavor: Flavor, cap: usize) -> Response {
    let message = format!("this server holds at most {cap} connections; try again later");
    match flavor {
        Flavor::Http => {
            let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        // A trailers-only gRPC response: the status in the headers, no body.
        Flavor::Grpc => {
            let mut response = Response::new(axum::body::Body::empty());
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.insert("grpc-status", HeaderValue::from(tonic::Code::ResourceExhausted as i32));
            if let Ok(text) = HeaderValue::from_str(&message) {
                headers.insert("grpc-message", text);
            }
            response
        }
    }
}

/// When a connection last moved a byte, in either direction.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte read or written.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { start: Instant::now(), last_ms: AtomicU64::new(0) }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A socket that notes each byte it moves in its [`Activity`].
struct Tracked {
    tcp: Conn,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write(cx, data);
        if let Poll::Ready(Ok(1..)) = polled {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(1..)) = polled {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
