//! REST+JSON over HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on one port, with axum.
//!
//! Resource-oriented routes under `/v1`. Every error is `{"error": code, "message": text}`
//! with a 4xx status; rejections of the framework's own extractors are converted to that
//! same body. The OpenAPI document is generated from the handlers' `#[utoipa::path]`
//! annotations and the model's `ToSchema` derives: the router and the document are built
//! from the same list, so a route cannot exist without being documented.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use wirebench_domain::{
    BatchItem, DEFAULT_LIMIT, DomainError, Id, ImportSummary, LineItem, NewOrder, Order, OrderQuery,
    OrderStatus, Sort, User,
};

use crate::{ProtocolServer, ServerContext};

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
        crate::serve_axum(listener, app(ctx), shutdown)
    }
}

// ---------------------------------------------------------------------------------------
// Errors: one body for every failure.

/// The one error body every failure returns.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`, `malformed_json`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

/// An HTTP error: status plus the consistent body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    /// Maps a domain error for a request whose problem is in its query or path.
    fn domain(e: DomainError) -> Self {
        let status = match &e {
            DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
            DomainError::Invalid(_) | DomainError::InvalidCursor(_) => StatusCode::BAD_REQUEST,
            DomainError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            DomainError::Conflict(_) | DomainError::IdempotencyInFlight { .. } => StatusCode::CONFLICT,
            // The IETF idempotency-key draft's status for a key reused with another payload.
            DomainError::IdempotencyMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }

    /// Maps a domain error for a request whose problem is in its body: a well-formed body
    /// with invalid content (including a user that does not exist) is 422, not 400 or 404.
    fn body(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(_) | DomainError::NotFound { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
            }
            other => ApiError::domain(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.code.to_owned(), message: self.message };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let code = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "malformed_json",
        };
        ApiError::new(r.status(), code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

/// `axum::Json` with rejections turned into [`ApiError`].
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct Json<T>(T);

/// `axum::extract::Path` with rejections turned into [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
struct Path<T>(T);

/// `axum::extract::Query` with rejections turned into [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
struct Query<T>(T);

type ApiResult = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------
// Responses: JSON with a weak ETag, 304 on a matching If-None-Match.

/// Serializes `value` and answers 304 when the client already holds this representation.
fn json_response(status: StatusCode, request: &HeaderMap, value: &impl Serialize) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(e) => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
                .into_response();
        }
    };
    // The hash is stable within a build; a weak tag, so gzip may re-encode the same entity.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("W/\"{:016x}\"", hasher.finish());
    let etag_value = HeaderValue::from_str(&etag).expect("hex etag is a valid header");
    if status == StatusCode::OK && if_none_match(request, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response();
    }
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json")), (header::ETAG, etag_value)],
        body,
    )
        .into_response()
}

/// RFC 9110 weak comparison of `etag` against every tag in If-None-Match.
fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|tag| tag.trim() == "*" || opaque(tag) == opaque(etag)))
}

// ---------------------------------------------------------------------------------------
// Sparse fieldsets: `fields=a,b` keeps only the named top-level fields.

/// Top-level field names of a schema'd type, read from its generated schema.
fn field_names<T: PartialSchema>() -> Vec<String> {
    match T::schema() {
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

static USER_FIELDS: LazyLock<Vec<String>> = LazyLock::new(field_names::<User>);
static ORDER_FIELDS: LazyLock<Vec<String>> = LazyLock::new(field_names::<Order>);

/// A parsed `fields=` parameter; `None` keeps every field.
#[derive(Debug, Clone)]
struct Fields(Option<Vec<String>>);

impl Fields {
    fn parse(spec: Option<&str>, allowed: &[String], param: &str) -> Result<Fields, ApiError> {
        let Some(spec) = spec else { return Ok(Fields(None)) };
        let mut names = Vec::new();
        for name in spec.split(',').map(str::trim) {
            if !allowed.iter().any(|a| a == name) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("{param}: unknown field {name:?}; known fields: {}", allowed.join(",")),
                ));
            }
            names.push(name.to_owned());
        }
        Ok(Fields(Some(names)))
    }

    /// `item` as it will be serialized: whole when no fields were named, else sparse.
    fn apply<'a, T: Serialize>(&self, item: &'a T) -> Shaped<'a, T> {
        let Some(names) = &self.0 else { return Shaped::Full(item) };
        let mut value = serde_json::to_value(item).expect("model types serialize");
        if let Value::Object(map) = &mut value {
            map.retain(|k, _| names.iter().any(|n| n == k));
        }
        Shaped::Sparse(value)
    }
}

/// A record serialized whole (straight from the model, no intermediate tree) or sparse.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Shaped<'a, T> {
    Full(&'a T),
    Sparse(Value),
}

// ---------------------------------------------------------------------------------------
// Request and response shapes (documented in the OpenAPI document).

/// One page of a collection (full or sparse objects).
#[derive(Debug, Serialize, ToSchema)]
struct PageBody<T> {
    data: Vec<T>,
    /// Pass back as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A user, sparse when `fields` is given, with `orders` when `include=orders`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(bound = "")]
struct UserWithOrders<U, O> {
    #[serde(flatten)]
    #[schema(value_type = User)]
    user: U,
    /// Present with `include=orders`: the user's most recent orders.
    #[schema(value_type = Option<Vec<Order>>)]
    orders: Vec<O>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UserListParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    limit: Option<u32>,
    /// Comma-separated top-level fields to return.
    fields: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UserParams {
    /// Comma-separated top-level user fields to return.
    fields: Option<String>,
    /// `orders` embeds the user's most recent orders (one round trip instead of two).
    include: Option<String>,
    /// How many orders `include=orders` embeds, newest first (default 20).
    orders_limit: Option<u32>,
    /// Comma-separated fields of each embedded order.
    #[serde(rename = "fields[orders]")]
    #[param(rename = "fields[orders]")]
    order_fields: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OrderListParams {
    /// `next_cursor` of the previous page (only valid with the same `sort`).
    cursor: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    limit: Option<u32>,
    /// Only orders with this status.
    status: Option<OrderStatus>,
    /// `id`, `created_at` or `total_cents`; a leading `-` sorts descending.
    sort: Option<String>,
    /// Comma-separated top-level order fields to return.
    fields: Option<String>,
}

impl OrderListParams {
    fn query(&self, default_sort: Sort) -> Result<(OrderQuery, Fields), ApiError> {
        let sort = match &self.sort {
            Some(s) => s.parse().map_err(ApiError::domain)?,
            None => default_sort,
        };
        let fields = Fields::parse(self.fields.as_deref(), &ORDER_FIELDS, "fields")?;
        let query = OrderQuery {
            status: self.status,
            sort,
            cursor: self.cursor.clone(),
            limit: self.limit.unwrap_or(DEFAULT_LIMIT),
        };
        Ok((query, fields))
    }
}

/// Body of `PATCH /v1/orders/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: OrderStatus,
}

/// Body of `POST /v1/orders/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    items: Vec<BatchRequestItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchRequestItem {
    /// Per-item idempotency key.
    idempotency_key: Option<String>,
    order: NewOrder,
}

/// Answer of `POST /v1/orders/batch`: a summary and one result per item, in order.
#[derive(Debug, Serialize, ToSchema)]
struct BatchResponse {
    received: u32,
    created: u32,
    replayed: u32,
    failed: u32,
    total_cents: i64,
    results: Vec<BatchResult>,
}

#[derive(Debug, Serialize, ToSchema)]
struct BatchResult {
    /// The status this item would have had as a single POST.
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<Order>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Health {
    status: &'static str,
}

// ---------------------------------------------------------------------------------------
// Handlers.

type Ctx = State<ServerContext>;

/// Liveness: the process is serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Readiness: fixtures are loaded.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn readyz(State(ctx): Ctx) -> Response {
    if ctx.store.is_ready() {
        axum::Json(Health { status: "ready" }).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "fixtures are still loading")
            .into_response()
    }
}

/// List users in id order.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(UserListParams),
    responses((status = 200, body = PageBody<User>), (status = 400, body = ErrorBody)))]
async fn list_users(State(ctx): Ctx, headers: HeaderMap, Query(p): Query<UserListParams>) -> ApiResult {
    let fields = Fields::parse(p.fields.as_deref(), &USER_FIELDS, "fields")?;
    let page = ctx
        .store
        .list_users(p.cursor.as_deref(), p.limit.unwrap_or(DEFAULT_LIMIT))
        .await
        .map_err(ApiError::domain)?;
    let body = PageBody {
        data: page.items.iter().map(|u| fields.apply(u)).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &headers, &body))
}

/// One user; `include=orders` embeds their recent orders.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users",
    params(("id" = u64, Path, description = "User id"), UserParams),
    responses((status = 200, body = UserWithOrders<User, Order>), (status = 304, description = "Not modified"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<Id>,
    Query(p): Query<UserParams>,
) -> ApiResult {
    let fields = Fields::parse(p.fields.as_deref(), &USER_FIELDS, "fields")?;
    let include_orders = match p.include.as_deref() {
        None => false,
        Some("orders") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("include: unknown relation {other:?}; known: orders"),
            ));
        }
    };
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
async fn user_orders(
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
async fn list_orders(State(ctx): Ctx, headers: HeaderMap, Query(p): Query<OrderListParams>) -> ApiResult {
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
struct StreamParams {
    /// How many orders, in id order, 1 to 1000 (default 20).
    limit: Option<u32>,
    /// Only orders with this status.
    status: Option<OrderStatus>,
}

/// Orders as newline-delimited JSON, one chunk per order (the catalog's stream-orders).
#[utoipa::path(get, path = "/v1/orders/stream", tag = "orders", params(StreamParams),
    responses((status = 200, description = "One JSON Order per line", content_type = "application/x-ndjson",
        body = Order), (status = 400, body = ErrorBody)))]
async fn stream_orders(State(ctx): Ctx, Query(p): Query<StreamParams>) -> ApiResult {
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
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
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
async fn create_order(State(ctx): Ctx, headers: HeaderMap, Json(new): Json<NewOrder>) -> ApiResult {
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
async fn create_orders_batch(
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
async fn get_order(State(ctx): Ctx, headers: HeaderMap, Path(id): Path<Id>) -> ApiResult {
    let order = ctx.store.get_order(id).await.map_err(ApiError::domain)?;
    Ok(json_response(StatusCode::OK, &headers, &order))
}

/// Change an order's status.
#[utoipa::path(patch, path = "/v1/orders/{id}", tag = "orders", request_body = StatusChange,
    params(("id" = u64, Path, description = "Order id")),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_order(
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
async fn delete_order(State(ctx): Ctx, Path(id): Path<Id>) -> ApiResult {
    ctx.store.delete_order(id).await.map_err(ApiError::domain)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

// ---------------------------------------------------------------------------------------
// Router and OpenAPI document.

#[derive(OpenApi)]
#[openapi(
    info(title = "wirebench shop", description = "The wirebench shop over REST+JSON."),
    components(schemas(ErrorBody, LineItem)),
    tags((name = "users"), (name = "orders"), (name = "health"))
)]
struct ApiDoc;

/// The routes and their OpenAPI document, built from one list.
fn routes() -> (Router<ServerContext>, utoipa::openapi::OpenApi) {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    OpenApiRouter::with_openapi(doc)
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(user_orders))
        .routes(routes!(list_orders, create_order))
        .routes(routes!(create_orders_batch))
        .routes(routes!(stream_orders))
        .routes(routes!(get_order, update_order, delete_order))
        .split_for_parts()
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
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(request_ids()))
}
