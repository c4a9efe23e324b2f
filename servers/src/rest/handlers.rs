//! The handlers, one per route and method; their `#[utoipa::path]` annotations are the
//! OpenAPI document's operations.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde::Deserialize;
use utoipa::IntoParams;
use wirebench_domain::{
    BatchItem, DEFAULT_LIMIT, Id, ImportSummary, NewOrder, Order, OrderQuery, OrderStatus, Sort, User,
};

use super::errors::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::media::{self, Body, Media};
use super::responses::{Fields, USER_FIELDS, json_body, json_response, negotiated};
use super::schemas::Fieldset;
use super::shapes::{
    BatchRequest, BatchResponse, BatchResult, Embed, Health, OrderListParams, PageBody, StatusChange,
    UserListParams, UserParams, UserWithOrders,
};
use crate::ServerContext;
use wirebench_proto::v1 as pb;

/// What the GETs of single records and pages answer in.
const RECORDS: &[Media] = &[Media::Json, Media::Protobuf];

pub(super) type Ctx = State<ServerContext>;

/// Liveness: the process is serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Serving", body = Health)))]
pub(super) async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Readiness: fixtures are loaded.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready", body = Health),
        (status = 503, description = "Fixtures are still loading, or the connection is over the cap",
            body = ErrorBody)))]
pub(super) async fn readyz(State(ctx): Ctx) -> Response {
    if ctx.store.is_ready() {
        axum::Json(Health { status: "ready" }).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "fixtures are still loading")
            .into_response()
    }
}

/// List users in id order; `include=orders` embeds each one's recent orders.
#[utoipa::path(get, path = "/v1/users", tag = "users",
    params(UserListParams, ("If-None-Match" = Option<String>, Header, description = "ETag of a copy held")),
    responses(
        (status = 200, description = "A page of users", body = PageBody<UserWithOrders<User, Order>>,
            headers(("ETag" = String, description = "Weak tag of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names this representation",
            headers(("ETag" = String))),
        (status = 400, description = "A query parameter is unknown or invalid, or `cursor` was not \
            issued here", body = ErrorBody)))]
pub(super) async fn list_users(
    State(ctx): Ctx,
    headers: HeaderMap,
    Query(p): Query<UserListParams>,
) -> ApiResult {
    let fields = Fields::parse(p.fields.as_deref(), &USER_FIELDS, "fields")?;
    let embed = Embed::parse(p.include.as_deref(), p.orders_limit, p.order_fields.as_deref())?;
    let page = ctx
        .store
        .list_users(p.cursor.as_deref(), p.limit.unwrap_or(DEFAULT_LIMIT))
        .await
        .map_err(ApiError::domain)?;
    let Some(Embed { query, fields: order_fields }) = embed else {
        let body = PageBody {
            data: page.items.iter().map(|u| fields.apply(u)).collect(),
            next_cursor: page.next_cursor.clone(),
        };
        let protobuf = || pb::UserPage {
            users: page.items.iter().map(|u| media::user(u, fields.names())).collect(),
            next_cursor: page.next_cursor.clone().unwrap_or_default(),
        };
        let media = Media::negotiate(&headers, RECORDS);
        return Ok(negotiated(StatusCode::OK, Some(&headers), media, &body, protobuf));
    };
    // Every user's orders in one store call.
    let ids: Vec<Id> = page.items.iter().map(|u| u.id).collect();
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
    params(("id" = u64, Path, description = "User id", minimum = 1, maximum = 9223372036854775807_i64),
        UserParams,
        ("If-None-Match" = Option<String>, Header, description = "ETag of a copy held")),
    responses(
        (status = 200, description = "The user", body = UserWithOrders<User, Order>,
            headers(("ETag" = String, description = "Weak tag of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names this representation",
            headers(("ETag" = String))),
        (status = 400, description = "`id` is not a whole number of at most 64 bits, or a query \
            parameter is unknown or invalid", body = ErrorBody),
        (status = 404, description = "No user has this id", body = ErrorBody)))]
pub(super) async fn get_user(
    State(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<Id>,
    Query(p): Query<UserParams>,
) -> ApiResult {
    let fields = Fields::parse(p.fields.as_deref(), &USER_FIELDS, "fields")?;
    let embed = Embed::parse(p.include.as_deref(), p.orders_limit, p.order_fields.as_deref())?;
    let user = ctx.store.get_user(id).await.map_err(ApiError::domain)?;
    let Some(Embed { query, fields: order_fields }) = embed else {
        let media = Media::negotiate(&headers, RECORDS);
        let protobuf = || media::user(&user, fields.names());
        return Ok(negotiated(StatusCode::OK, Some(&headers), media, &fields.apply(&user), protobuf));
    };
    let page = ctx.store.user_orders(id, &query).await.map_err(ApiError::domain)?;
    let body = UserWithOrders {
        user: fields.apply(&user),
        orders: page.items.iter().map(|o| order_fields.apply(o)).collect(),
    };
    Ok(json_response(StatusCode::OK, &headers, &body))
}

/// A user's orders, newest first unless `sort` says otherwise.
#[utoipa::path(get, path = "/v1/users/{id}/orders", tag = "orders",
    params(("id" = u64, Path, description = "User id", minimum = 1, maximum = 9223372036854775807_i64),
        OrderListParams,
        ("If-None-Match" = Option<String>, Header, description = "ETag of a copy held")),
    responses(
        (status = 200, description = "A page of the user's orders", body = PageBody<Fieldset<Order>>,
            headers(("ETag" = String, description = "Weak tag of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names this representation",
            headers(("ETag" = String))),
        (status = 400, description = "`id` is not a whole number of at most 64 bits, a query parameter \
            is unknown or invalid, or `cursor` was not issued here for this `sort`", body = ErrorBody),
        (status = 404, description = "No user has this id", body = ErrorBody)))]
pub(super) async fn user_orders(
    State(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<Id>,
    Query(p): Query<OrderListParams>,
) -> ApiResult {
    let (query, fields) = p.query(Sort::NEWEST_FIRST)?;
    let page = ctx.store.user_orders(id, &query).await.map_err(ApiError::domain)?;
    Ok(order_page(&headers, &page, &fields))
}

/// All orders, in id order unless `sort` says otherwise.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(OrderListParams, ("If-None-Match" = Option<String>, Header, description = "ETag of a copy held")),
    responses(
        (status = 200, description = "A page of orders", body = PageBody<Fieldset<Order>>,
            headers(("ETag" = String, description = "Weak tag of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names this representation",
            headers(("ETag" = String))),
        (status = 400, description = "A query parameter is unknown or invalid, or `cursor` was not issued \
            here for this `sort`", body = ErrorBody)))]
pub(super) async fn list_orders(
    State(ctx): Ctx,
    headers: HeaderMap,
    Query(p): Query<OrderListParams>,
) -> ApiResult {
    let (query, fields) = p.query(Sort::default())?;
    let page = ctx.store.list_orders(&query).await.map_err(ApiError::domain)?;
    Ok(order_page(&headers, &page, &fields))
}

/// A page of orders, in JSON or as an `OrderPage` message.
fn order_page(headers: &HeaderMap, page: &wirebench_domain::Page<Order>, fields: &Fields) -> Response {
    let body = PageBody {
        data: page.items.iter().map(|o| fields.apply(o)).collect(),
        next_cursor: page.next_cursor.clone(),
    };
    let protobuf = || pb::OrderPage {
        orders: page.items.iter().map(|o| media::order(o, fields.names())).collect(),
        next_cursor: page.next_cursor.clone().unwrap_or_default(),
    };
    negotiated(StatusCode::OK, Some(headers), Media::negotiate(headers, RECORDS), &body, protobuf)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamParams {
    /// How many orders, in id order (default 20).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only orders with this status.
    status: Option<OrderStatus>,
}

/// Orders one message per order (the catalog's stream-orders): newline-delimited JSON, or
/// as `Accept` asks, server-sent events (one `data:` event per order) or varint-delimited
/// protobuf `Order` messages.
#[utoipa::path(get, path = "/v1/orders/stream", tag = "orders", params(StreamParams,
        ("Accept" = Option<String>, Header, description = "`text/event-stream` for server-sent events, \
        `application/x-protobuf` for delimited protobuf; otherwise newline-delimited JSON")),
    responses((status = 200, description = "One Order per message", content(
            (Order = "application/x-ndjson"),
            (Order = "text/event-stream"),
            (Vec<u8> = "application/x-protobuf; delimited=true"))),
        (status = 400, description = "A query parameter is unknown or invalid", body = ErrorBody)))]
pub(super) async fn stream_orders(
    State(ctx): Ctx,
    headers: HeaderMap,
    Query(p): Query<StreamParams>,
) -> ApiResult {
    let query =
        OrderQuery { status: p.status, limit: p.limit.unwrap_or(DEFAULT_LIMIT), ..OrderQuery::default() };
    let page = ctx.store.list_orders(&query).await.map_err(ApiError::domain)?;
    let orders = page.items.into_iter();
    let mut response = match Media::negotiate(&headers, &[Media::Json, Media::Protobuf, Media::EventStream]) {
        Media::Json => {
            let lines = futures::stream::iter(orders.map(|order| {
                let mut line = serde_json::to_vec(&order).expect("orders serialize");
                line.push(b'\n');
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(line))
            }));
            ([(header::CONTENT_TYPE, media::NDJSON)], axum::body::Body::from_stream(lines)).into_response()
        }
        Media::Protobuf => {
            let messages = futures::stream::iter(orders.map(|order| {
                let message = pb::Order::from(order).encode_length_delimited_to_vec();
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(message))
            }));
            ([(header::CONTENT_TYPE, media::PROTOBUF_DELIMITED)], axum::body::Body::from_stream(messages))
                .into_response()
        }
        Media::EventStream => {
            use axum::response::sse::{Event, Sse};
            let events = futures::stream::iter(orders.map(|order| {
                let data = serde_json::to_string(&order).expect("orders serialize");
                Ok::<_, std::convert::Infallible>(Event::default().data(data))
            }));
            Sse::new(events).into_response()
        }
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept"));
    Ok(response)
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
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "Stripe-style key, 1 to 255 visible ASCII characters: a repeat with the same body \
        replays the first answer")),
    responses(
        (status = 201, description = "Created (or replayed, with `Idempotent-Replayed: true`)", body = Order,
            headers(("Location" = String, description = "The new order's path"),
                ("Idempotent-Replayed" = String, description = "`true` when a repeat was replayed"),
                ("ETag" = String, description = "Weak tag of this representation"))),
        (status = 400, description = "The body is not JSON (or, declared protobuf, not a protobuf message), or `Idempotency-Key` is not ASCII",
            body = ErrorBody),
        (status = 409, description = "A request with this `Idempotency-Key` is still being processed",
            body = ErrorBody),
        (status = 413, description = "The body is over the size limit, or the order over 1000 items",
            body = ErrorBody),
        (status = 415, description = "The body is declared neither `application/json` nor `application/x-protobuf`", body = ErrorBody),
        (status = 422, description = "The body is not a valid `NewOrder`, its user does not exist, or \
            `Idempotency-Key` is invalid or was used with another body", body = ErrorBody)))]
pub(super) async fn create_order(
    State(ctx): Ctx,
    headers: HeaderMap,
    Body(new, _): Body<NewOrder, pb::NewOrder>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let created = ctx.store.create_order(key, new).await.map_err(ApiError::body)?;
    let media = Media::negotiate(&headers, RECORDS);
    let protobuf = || pb::Order::from(created.order.clone());
    let mut response = negotiated(StatusCode::CREATED, None, media, &created.order, protobuf);
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
    responses(
        (status = 200, description = "Each order's own outcome, in order: its status as a single POST \
            and the order or the error", body = BatchResponse,
            headers(("ETag" = String, description = "Weak tag of this representation"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 413, description = "The body is over the size limit, or the batch over 10000 orders",
            body = ErrorBody),
        (status = 415, description = "The body is not declared `application/json`", body = ErrorBody),
        (status = 422, description = "The body is not a `BatchRequest` (each order's values are checked \
            on their own, in `results`)", body = ErrorBody)))]
pub(super) async fn create_orders_batch(State(ctx): Ctx, Json(req): Json<BatchRequest>) -> ApiResult {
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
    Ok(json_body(StatusCode::OK, &body))
}

/// One order.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = u64, Path, description = "Order id", minimum = 1, maximum = 9223372036854775807_i64),
        ("If-None-Match" = Option<String>, Header, description = "ETag of a copy held")),
    responses(
        (status = 200, description = "The order", body = Order,
            headers(("ETag" = String, description = "Weak tag of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names this representation",
            headers(("ETag" = String))),
        (status = 400, description = "`id` is not a whole number of at most 64 bits", body = ErrorBody),
        (status = 404, description = "No order has this id", body = ErrorBody)))]
pub(super) async fn get_order(State(ctx): Ctx, headers: HeaderMap, Path(id): Path<Id>) -> ApiResult {
    let order = ctx.store.get_order(id).await.map_err(ApiError::domain)?;
    let media = Media::negotiate(&headers, RECORDS);
    Ok(negotiated(StatusCode::OK, Some(&headers), media, &order, || pb::Order::from(order.clone())))
}

/// Change an order's status.
#[utoipa::path(patch, path = "/v1/orders/{id}", tag = "orders", request_body = StatusChange,
    params(("id" = u64, Path, description = "Order id", minimum = 1, maximum = 9223372036854775807_i64)),
    responses(
        (status = 200, description = "The order with its new status", body = Order,
            headers(("ETag" = String, description = "Weak tag of this representation"))),
        (status = 400, description = "`id` is not a whole number of at most 64 bits, or the body is not \
            JSON", body = ErrorBody),
        (status = 404, description = "No order has this id", body = ErrorBody),
        (status = 409, description = "The order is delivered or cancelled: its status is final",
            body = ErrorBody),
        (status = 413, description = "The body is over the size limit", body = ErrorBody),
        (status = 415, description = "The body is not declared `application/json`", body = ErrorBody),
        (status = 422, description = "The body is not a `StatusChange`", body = ErrorBody)))]
pub(super) async fn update_order(
    State(ctx): Ctx,
    Path(id): Path<Id>,
    Json(change): Json<StatusChange>,
) -> ApiResult {
    let order = ctx.store.update_order_status(id, change.status).await.map_err(ApiError::domain)?;
    Ok(json_body(StatusCode::OK, &order))
}

/// Delete an order.
#[utoipa::path(delete, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = u64, Path, description = "Order id", minimum = 1, maximum = 9223372036854775807_i64)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`id` is not a whole number of at most 64 bits", body = ErrorBody),
        (status = 404, description = "No order has this id", body = ErrorBody)))]
pub(super) async fn delete_order(State(ctx): Ctx, Path(id): Path<Id>) -> ApiResult {
    ctx.store.delete_order(id).await.map_err(ApiError::domain)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
