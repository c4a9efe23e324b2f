//! JSON-RPC 2.0 over HTTP (HTTP/1.1 and h2c on one port, like REST): `POST /rpc` with one
//! call, or a batch of calls in one array. The domain's records travel as the domain
//! serializes them; a batch answers its calls in one response, in order (the spec allows any
//! order; answering in order lets a client zip without reading ids).
//!
//! Methods: `getUser {id}`, `userOrders {id, limit}` (the user's name and their most recent
//! orders' summaries), `usersOrders {limit}`, `listOrders {limit}`, `getOrder {id}`,
//! `createOrder {order, idempotencyKey?}`. There is no stream: JSON-RPC answers each call
//! once.
//!
//! Errors are JSON-RPC's own: -32700 (not JSON), -32600 (not a request, an empty or too
//! large batch), -32601 (no such method), -32602 (bad params), and -32000 for a domain error
//! with the domain's code in `data.code`. The HTTP status is 200 for every answer that is
//! JSON-RPC; a body over the limit is HTTP 413, and a notification (no `id`) gets no answer.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wirebench_domain::{DomainError, NewOrder, OrderQuery, OrderSummary, UserRecentOrders};

use crate::http::{Flavor, serve_router};
use crate::{ProtocolServer, ServerContext};

/// The JSON-RPC server.
#[derive(Debug, Clone, Copy)]
pub struct JsonRpc;

/// Most calls in one batch (as many as a REST batch create takes).
pub const MAX_BATCH: usize = wirebench_domain::store::MAX_BATCH;

impl ProtocolServer for JsonRpc {
    fn name(&self) -> &'static str {
        "jsonrpc"
    }

    fn describe(&self) -> &'static str {
        "JSON-RPC 2.0 over HTTP/1.1 and h2c: POST /rpc, one call or a batch"
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("http://{addr}/rpc")
    }

    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, std::io::Result<()>> {
        let config = ctx.config.clone();
        serve_router(listener, app(ctx), config, Flavor::Http, shutdown)
    }
}

/// The whole application, apart from any socket.
pub fn app(ctx: ServerContext) -> Router {
    let max_body = ctx.config.max_body_bytes;
    Router::new()
        .route("/rpc", axum::routing::post(rpc))
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(ctx)
        .layer(DefaultBodyLimit::max(max_body))
}

/// One HTTP request: a call or a batch.
async fn rpc(State(ctx): State<ServerContext>, body: Bytes) -> Response {
    let answer = match serde_json::from_slice::<Value>(&body) {
        Err(e) => Some(failure(Value::Null, -32700, format!("not JSON: {e}"), None)),
        Ok(Value::Array(calls)) if calls.is_empty() || calls.len() > MAX_BATCH => Some(failure(
            Value::Null,
            -32600,
            format!("a batch holds 1 to {MAX_BATCH} calls, not {}", calls.len()),
            None,
        )),
        Ok(Value::Array(calls)) => {
            let mut answers = Vec::with_capacity(calls.len());
            for call in calls {
                answers.extend(one(&ctx, call).await);
            }
            (!answers.is_empty()).then_some(Value::Array(answers))
        }
        Ok(call) => one(&ctx, call).await,
    };
    match answer {
        Some(answer) => ([(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A request object as the spec has it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    jsonrpc: String,
    method: String,
    #[serde(default)]
    params: Value,
    id: Option<Value>,
}

/// One call's answer; `None` for a notification.
async fn one(ctx: &ServerContext, call: Value) -> Option<Value> {
    let request: Request = match serde_json::from_value(call) {
        Ok(r) => r,
        Err(e) => return Some(failure(Value::Null, -32600, format!("not a request: {e}"), None)),
    };
    let id = request.id.clone();
    if request.jsonrpc != "2.0" {
        return Some(failure(id.unwrap_or_default(), -32600, "jsonrpc must be \"2.0\"".into(), None));
    }
    let outcome = call_method(ctx, &request.method, request.params).await;
    let id = id?;
    Some(match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err(Failure { code, message, domain }) => failure(id, code, message, domain),
    })
}

/// An error object, with the domain's code as its data when the domain refused.
fn failure(id: Value, code: i32, message: String, domain: Option<&'static str>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(domain) = domain {
        error["data"] = json!({ "code": domain });
    }
    json!({"jsonrpc": "2.0", "error": error, "id": id})
}

struct Failure {
    code: i32,
    message: String,
    domain: Option<&'static str>,
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        Failure { code: -32000, message: e.to_string(), domain: Some(e.code()) }
    }
}

fn params<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, Failure> {
    serde_json::from_value(params).map_err(|e| Failure { code: -32602, message: e.to_string(), domain: None })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ById {
    id: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limited {
    limit: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserLimited {
    id: u64,
    limit: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Create {
    order: NewOrder,
    idempotency_key: Option<String>,
}

async fn call_method(ctx: &ServerContext, method: &str, p: Value) -> Result<Value, Failure> {
    let store = &ctx.store;
    Ok(match method {
        "getUser" => value(&store.get_user(params::<ById>(p)?.id).await?),
        "getOrder" => value(&store.get_order(params::<ById>(p)?.id).await?),
        "userOrders" => {
            let UserLimited { id, limit } = params(p)?;
            let name = store.get_user(id).await?.name;
            let orders = store.user_orders(id, &OrderQuery::recent(limit)).await?.items;
            json!({"name": name, "orders": orders.iter().map(OrderSummary::from).collect::<Vec<_>>()})
        }
        "usersOrders" => {
            let Limited { limit } = params(p)?;
            let mut out = Vec::new();
            for user in store.list_users(None, limit).await?.items {
                let orders = store.user_orders(user.id, &OrderQuery::recent(limit)).await?.items;
                let orders = orders.iter().map(OrderSummary::from).collect();
                out.push(UserRecentOrders { id: user.id, name: user.name, orders });
            }
            value(&out)
        }
        "listOrders" => {
            let Limited { limit } = params(p)?;
            value(&store.list_orders(&OrderQuery { limit, ..OrderQuery::default() }).await?.items)
        }
        "createOrder" => {
            let Create { order, idempotency_key } = params(p)?;
            let created = store.create_order(idempotency_key.as_deref(), order).await?;
            json!({"order": created.order, "replayed": created.replayed})
        }
        other => return Err(Failure { code: -32601, message: format!("no method {other:?}"), domain: None }),
    })
}

/// A domain record as JSON.
fn value<T: serde::Serialize>(record: &T) -> Value {
    serde_json::to_value(record).expect("domain records serialize")
}
