//! HTTP: POST endpoints with and without the DataLoader, GraphiQL, and graphql-transport-ws.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{BatchRequest, BatchResponse, Request, Value};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;

use super::{NO_DATALOADER_PATH, PATH, ShopSchema, WS_PATH, schema};
use crate::ServerContext;

#[derive(Clone)]
pub(super) struct AppState {
    with_loader: ShopSchema,
    without_loader: ShopSchema,
    graphiql: Arc<str>,
    graphiql_no_dataloader: Arc<str>,
    max_body: usize,
    shutdown: CancellationToken,
}

/// A transport-level failure (the request never reached GraphQL), in the GraphQL response
/// shape with `extensions.code`.
pub(super) fn http_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message.into(), "extensions": { "code": code } }]
    });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string())
        .into_response()
}

/// The body as one request or a batch (a JSON array), with serde's own account of what is
/// wrong when it is neither.
pub(super) fn parse_body(body: &[u8]) -> std::result::Result<BatchRequest, String> {
    if body.trim_ascii().is_empty() {
        return Err("the body is empty; send {\"query\": \"...\"}".into());
    }
    let describe = |e: serde_json::Error| match e.classify() {
        serde_json::error::Category::Data => {
            format!("the body is JSON but not a GraphQL request {{\"query\": \"...\"}}: {e}")
        }
        _ => format!("malformed JSON body: {e}"),
    };
    if body.trim_ascii_start().starts_with(b"[") {
        let batch: Vec<Request> = serde_json::from_slice(body).map_err(describe)?;
        if batch.is_empty() {
            return Err("a batch must hold at least one request".into());
        }
        Ok(BatchRequest::Batch(batch))
    } else {
        let request: Request = serde_json::from_slice(body).map_err(describe)?;
        Ok(BatchRequest::Single(request))
    }
}

pub(super) fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(ct) = content_type.to_str() else { return false };
    let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// GraphQL-over-HTTP: a client that accepts `application/graphql-response+json` gets it,
/// and with it a 400 for a request that could not be executed at all.
pub(super) fn accepts_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/graphql-response+json"))
}

pub(super) async fn execute(
    schema: &ShopSchema,
    max_body: usize,
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(ct) = headers.get(header::CONTENT_TYPE)
        && !is_json(ct)
    {
        return http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("send the request as application/json, not {ct:?}"),
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return http_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the request body is larger than the limit of {max_body} bytes"),
            );
        }
        Err(r) => return http_error(r.status(), "BAD_REQUEST", r.body_text()),
    };
    let batch = match parse_body(&body) {
        Ok(batch) => batch,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
    };
    let modern = accepts_graphql_response(headers);
    let response: BatchResponse = match batch {
        BatchRequest::Single(request) => schema.execute(request).await.into(),
        batch => schema.execute_batch(batch).await,
    };
    let status = match &response {
        BatchResponse::Single(r) if modern && r.data == Value::Null && !r.errors.is_empty() => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    let content_type = if modern { "application/graphql-response+json" } else { "application/json" };
    match serde_json::to_vec(&response) {
        Ok(json) => {
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], json).into_response()
        }
        Err(e) => http_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", e.to_string()),
    }
}

pub(super) async fn post_with_loader(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    execute(&s.with_loader, s.max_body, &headers, body).await
}

pub(super) async fn post_without_loader(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    execute(&s.without_loader, s.max_body, &headers, body).await
}

pub(super) async fn graphiql(State(s): State<AppState>) -> Html<String> {
    Html(s.graphiql.to_string())
}

pub(super) async fn graphiql_no_dataloader(State(s): State<AppState>) -> Html<String> {
    Html(s.graphiql_no_dataloader.to_string())
}

/// Upgrades to graphql-transport-ws (or the legacy graphql-ws), with the body limit as the
/// message limit.
pub(super) async fn websocket(
    State(s): State<AppState>,
    upgrade: std::result::Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    protocol: std::result::Result<GraphQLProtocol, StatusCode>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(r) => return http_error(r.status(), "BAD_REQUEST", r.body_text()),
    };
    let Ok(protocol) = protocol else {
        return http_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "name a subprotocol: Sec-WebSocket-Protocol: graphql-transport-ws",
        );
    };
    let max = s.max_body;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(socket, s.with_loader, protocol, max, s.shutdown))
}

/// Runs one socket until the client leaves, a message cannot be read, or shutdown; the last
/// two end with a close frame that says why.
pub(super) async fn serve_socket(
    socket: WebSocket,
    schema: ShopSchema,
    protocol: GraphQLProtocol,
    max: usize,
    shutdown: CancellationToken,
) {
    let (mut sink, stream) = socket.split();
    let unreadable = AtomicBool::new(false);
    let stream = stream.inspect(|message| {
        if message.is_err() {
            unreadable.store(true, Ordering::Relaxed);
        }
    });
    let shut_down = {
        let serve = GraphQLWebSocket::new_with_pair(&mut sink, stream, schema, protocol).serve();
        tokio::select! {
            () = serve => false,
            () = shutdown.cancelled() => true,
        }
    };
    let close = if shut_down {
        Some((1001, "server shutting down".to_owned()))
    } else if unreadable.load(Ordering::Relaxed) {
        Some((1009, format!("unreadable message (larger than {max} bytes?)")))
    } else {
        None
    };
    if let Some((code, reason)) = close {
        // A peer that is already gone cannot be told why; the connection ends either way.
        let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

/// The whole GraphQL application, apart from any socket.
pub fn app(ctx: ServerContext) -> Router {
    router(ctx, CancellationToken::new())
}

pub(super) fn router(ctx: ServerContext, shutdown: CancellationToken) -> Router {
    use axum::routing::get;
    let page = |endpoint: &str| -> Arc<str> {
        GraphiQLSource::build()
            .endpoint(endpoint)
            .subscription_endpoint(WS_PATH)
            .title("wirebench shop")
            .finish()
            .into()
    };
    let state = AppState {
        with_loader: schema(&ctx, true),
        without_loader: schema(&ctx, false),
        graphiql: page(PATH),
        graphiql_no_dataloader: page(NO_DATALOADER_PATH),
        max_body: ctx.config.max_body_bytes,
        shutdown,
    };
    Router::new()
        .route(PATH, get(graphiql).post(post_with_loader))
        .route(NO_DATALOADER_PATH, get(graphiql_no_dataloader).post(post_without_loader))
        .route(WS_PATH, get(websocket))
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(ctx.config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            ctx.config.max_body_bytes,
            crate::coding::decode_requests,
        ))
        .layer(CompressionLayer::new())
}
