//! The handlers, one per route and method; their `#[utoipa::path]` annotations are the
//! OpenAPI document's operations.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use wirebench_domain::{
    BatchItem, DEFAULT_LIMIT, Id, ImportSummary, NewOrder, Order, OrderQuery, OrderStatus, Sort, User,
};

use super::errors::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::responses::{Fields, ORDER_FIELDS, USER_FIELDS, json_response};
use super::shapes::{
    BatchRequest, BatchResponse, BatchResult, Health, OrderListParams, PageBody, StatusChange,
    UserListParams, UserParams, UserWithOrders, include_orders,
};
use crate::ServerContext;

pub(super) type Ctx = State<ServerContext>;

/// Liveness: the process is serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub(super) async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Readiness: fixtures are loaded.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub(super) async fn readyz(State(ctx): Ctx) -> Response {
    if ctx.store.is_ready() {
        axum::Json(Health { status: "ready" }).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "fixtures are still loading")
            .into_response()
    }
}

/// List users in id order; `include=orders` embeds each one's recent orders.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(UserListParams),
    responses((status = 200, body = PageBody<UserWithOrders<User, Order>>), (status = 400, body = ErrorBody)))]
pub(super) async fn list_users(
    State(ctx): Ctx,
    headers: HeaderMap,
    Query(p): Query<UserListParams>,
) -> ApiResult {
    let fields = Fields::parse(p.fields.as_deref(), &USER_FIELDS, "fields")?;
    let include_orders = include_orders(p.include.as_deref())?;
    let order_fields = Fields::parse(p.order_fields.as_deref(), &ORDER_FIELDS, "fields[orders]")?;
    let page = ctx
        .store
        .list_users(p.cursor.as_deref(), p.limit.unwrap_or(DEFAULT_LIMIT))
        .await
        .map_err(ApiError::domain)?;
    if !include_orders {
        let body = PageBody {
            data: page.items.iter().map(|u| fields.apply(u)).collect(),
            next_cursor: page.next_cursor,
        };
        return Ok(json_response(StatusCode::OK, &headers, &body));
    }
    // Every user's orders in one store call.
    let ids: Vec<Id> = page.items.iter().map(|u| u.id).collect();
    let query = OrderQuery::recent(p.orders_limit.unwrap_or(DEFAULT_LIMIT));
    let orders = ctx.store.orders_of_users(&ids, &query).await.map_err(ApiError::domain)?;
    let data = page
        .items
        .iter()
        .map(|u| {
            let own = orders.get(&u.id).map_or(&[][..], |p| p.items.as_slice());
            UserWithOrders {
                user: fields.apply(u),
                orders: own.iter().map(|o| order_fields.apply(o)).collect(),
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, &headers, &PageBody { data, next_cursor: page.next_cursor }))
}

/// One user; `include=orders` embeds their recent orders.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users",
    params(("id" = u64, Path, description = "User id"), UserParams),
    responses((status = 200, body = UserWithOrders<User, Order>), (status = 304, description = "Not modified"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_user(
    State(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<Id>,
    Query(p): Query<UserParams>,
) -> ApiResult {
    let fields = Fields::parse(p.fields.as_deref(), &USER_FIELDS, "fields")?;
    let include_orders = include_orders(p.include.as_deref())?;
    let order_fields = Fields::parse(p.order_fields.as_deref(), &ORDER_FIELDS, "fields[orders]")?;
    let user = ctx.store.get_user(id).await.map_err(ApiError::domain)?;
    if !include_orders {
        return Ok(json_response(StatusCode::OK, &headers, &fields.apply(&user)));
    }
    let query = OrderQuery::recent(p.orders_limit.unwrap_or(DEFAULT_LIMIT));
    let page = ctx.store.user_orders(id, &query).await.map_err(ApiError::domain)?;
    let body = UserWithOrders {
        user: fields.apply(&user),
        orders: page.items.iter().map(|o| order_fields.apply(o)).collect(),
    };
    Ok(json_response(StatusCode::OK, &headers, &body))
}

/// A user's orders, newest first unless `sort` says otherwise.
#[utoipa::path(get, path = "/v1/users/{id}/orders", tag = "orders",
    params(("id" = u64, Path, description = "User id"), OrderListParams),
    responses((status = 200, body = PageBody<Order>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn user_orders(
    State(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<Id>,
    Query(p): Query<OrderListParams>,
) -> ApiResult {
    let (query, fields) = p.query(Sort::NEWEST_FIRST)?;
    let page = ctx.store.user_orders(id, &query).await.map_err(ApiError::domain)?;
    let body = PageBody {
        data: page.items.iter().map(|o| fields.apply(o)).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &headers, &body))
}

/// All orders, in id order unless `sort` says otherwise.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(OrderListParams),
    responses((status = 200, body = PageBody<Order>), (status = 400, body = ErrorBody)))]
pub(super) async fn list_orders(
    State(ctx): Ctx,
    headers: HeaderMap,
    Query(p): Query<OrderListParams>,
) -> ApiResult {
    let (query, fields) = p.query(Sort::default())?;
    let page = ctx.store.list_orders(&query).await.map_err(ApiError::domain)?;
    let body = PageBody {
        data: page.items.iter().map(|o| fields.apply(o)).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &headers, &body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamParams {
    /// How many orders, in id order, 1 to 1000 (default 20).
    limit: Option<u32>,
    /// Only orders with this status.
    status: Option<OrderStatus>,
}

/// Orders as newline-delimited JSON, one chunk per order (the catalog's stream-orders).
#[utoipa::path(get, path = "/v1/orders/stream", tag = "orders", params(StreamParams),
    responses((status = 200, description = "One JSON Order per line", content_type = "application/x-ndjson",
        body = Order), (status = 400, body = ErrorBody)))]
pub(super) async fn stream_orders(State(ctx): Ctx, Query(p): Query<StreamParams>) -> ApiResult {
    let query =
        OrderQuery { status: p.status, limit: p.limit.unwrap_or(DEFAULT_LIMIT), ..OrderQuery::default() };
    let page = ctx.store.list_orders(&query).await.map_err(ApiError::domain)?;
    let lines = futures::stream::iter(page.items.into_iter().map(|order| {
        let mut line = serde_json::to_vec(&order).expect("orders serialize");
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(line))
    }));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], axum::body::Body::from_stream(lines))
        .into_response())
}

/// The `Idempotency-Key` header, if any.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", "Idempotency-Key must be ASCII")
            })
        })
        .transpose()
}

/// Create an order. With `Idempotency-Key`, a repeat replays the first answer exactly.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = NewOrder,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Stripe-style key: repeats replay the first answer")),
    responses((status = 201, body = Order, headers(("Location" = String))),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_order(
    State(ctx): Ctx,
    headers: HeaderMap,
    Json(new): Json<NewOrder>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let created = ctx.store.create_order(key, new).await.map_err(ApiError::body)?;
    let mut response = json_response(StatusCode::CREATED, &headers, &created.order);
    let location = format!("/v1/orders/{}", created.order.id);
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&location).expect("ascii path"));
    if created.replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Create many orders in one request (the batch variant of import-orders).
#[utoipa::path(post, path = "/v1/orders/batch", tag = "orders", request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 400, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_orders_batch(
    State(ctx): Ctx,
    headers: HeaderMap,
    Json(req): Json<BatchRequest>,
) -> ApiResult {
    let items = req
        .items
        .into_iter()
        .map(|i| BatchItem { idempotency_key: i.idempotency_key, order: i.order })
        .collect();
    let outcomes = ctx.store.create_orders(items).await.map_err(ApiError::domain)?;
    let summary = ImportSummary::of(&outcomes);
    let results = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(created) => BatchResult { status: 201, order: Some(created.order), error: None },
            Err(e) => {
                let e = ApiError::body(e);
                let error = Some(ErrorBody { error: e.code.to_owned(), message: e.message });
                BatchResult { status: e.status.as_u16(), order: None, error }
            }
        })
        .collect();
    let body = BatchResponse {
        received: summary.received,
        created: summary.created,
        replayed: summary.replayed,
        failed: summary.failed,
        total_cents: summary.total_cents,
        results,
    };
    Ok(json_response(StatusCode::OK, &headers, &body))
}

/// One order.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = u64, Path, description = "Order id")),
    responses((status = 200, body = Order), (status = 304, description = "Not modified"),
        (status = 404, body = ErrorBody)))]
pub(super) async fn get_order(State(ctx): Ctx, headers: HeaderMap, Path(id): Path<Id>) -> ApiResult {
    let order = ctx.store.get_order(id).await.map_err(ApiError::domain)?;
    Ok(json_response(StatusCode::OK, &headers, &order))
}

/// Change an order's status.
#[utoipa::path(patch, path = "/v1/orders/{id}", tag = "orders", request_body = StatusChange,
    params(("id" = u64, Path, description = "Order id")),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn update_order(
    State(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<Id>,
    Json(change): Json<StatusChange>,
) -> ApiResult {
    let order = ctx.store.update_order_status(id, change.status).await.map_err(ApiError::domain)?;
    Ok(json_response(StatusCode::OK, &headers, &order))
}

/// Delete an order.
#[utoipa::path(delete, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = u64, Path, description = "Order id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_order(State(ctx): Ctx, Path(id): Path<Id>) -> ApiResult {
    ctx.store.delete_order(id).await.map_err(ApiError::domain)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
