//! Request and response shapes, documented in the OpenAPI document.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wirebench_domain::{DEFAULT_LIMIT, MAX_LIMIT, NewOrder, Order, OrderQuery, OrderStatus, Sort, User};

use super::errors::{ApiError, ErrorBody};
use super::responses::{Fields, ORDER_FIELDS};
use super::schemas::{FieldList, Fieldset, INCLUDE_ORDERS, Relation, SortName};

/// One page of a collection (full or sparse objects).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PageBody<T> {
    pub(super) data: Vec<T>,
    /// Pass back as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub(super) next_cursor: Option<String>,
}

/// A user, sparse when `fields` is given, with `orders` when `include=orders`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(bound = "")]
pub(super) struct UserWithOrders<U, O> {
    #[serde(flatten)]
    #[schema(value_type = Fieldset<User>)]
    pub(super) user: U,
    /// Present with `include=orders`: the user's most recent orders, sparse when
    /// `fields[orders]` is given.
    #[schema(value_type = Vec<Fieldset<Order>>, required = false)]
    pub(super) orders: Vec<O>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct UserListParams {
    /// `next_cursor` of the previous page, as it was given (any other value is refused).
    #[param(pattern = "^[A-Za-z0-9_-]+$")]
    pub(super) cursor: Option<String>,
    /// Page size (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub(super) limit: Option<u32>,
    /// Top-level fields to return, comma-separated (default: every field).
    #[param(value_type = Option<FieldList<User>>, inline, style = Form, explode = false)]
    pub(super) fields: Option<String>,
    /// `orders` embeds each user's most recent orders (one request, and one store call for
    /// all of them, instead of one request per user).
    #[param(value_type = Option<Relation>, inline)]
    pub(super) include: Option<String>,
    /// How many orders `include=orders` embeds per user, newest first (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub(super) orders_limit: Option<u32>,
    /// Fields of each embedded order, comma-separated (default: every field).
    #[serde(rename = "fields[orders]")]
    #[param(
        rename = "fields[orders]",
        value_type = Option<FieldList<Order>>,
        inline,
        style = Form,
        explode = false
    )]
    pub(super) order_fields: Option<String>,
}

/// The orders `include=orders` embeds: which, and cut to which fields. `include`,
/// `orders_limit` and `fields[orders]` are each checked whether or not orders are embedded.
#[derive(Debug)]
pub(super) struct Embed {
    pub(super) query: OrderQuery,
    pub(super) fields: Fields,
}

impl Embed {
    /// `None` when `include` asks for nothing.
    pub(super) fn parse(
        include: Option<&str>,
        limit: Option<u32>,
        fields: Option<&str>,
    ) -> Result<Option<Embed>, ApiError> {
        let include = match include {
            None => false,
            Some(INCLUDE_ORDERS) => true,
            Some(other) => {
                let message = format!("include: unknown relation {other:?}; known: {INCLUDE_ORDERS}");
                return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message));
            }
        };
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            let message = format!("orders_limit must be between 1 and {MAX_LIMIT}, got {limit}");
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", message));
        }
        let fields = Fields::parse(fields, &ORDER_FIELDS, "fields[orders]")?;
        Ok(include.then(|| Embed { query: OrderQuery::recent(limit), fields }))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct UserParams {
    /// Top-level user fields to return, comma-separated (default: every field).
    #[param(value_type = Option<FieldList<User>>, inline, style = Form, explode = false)]
    pub(super) fields: Option<String>,
    /// `orders` embeds the user's most recent orders (one round trip instead of two).
    #[param(value_type = Option<Relation>, inline)]
    pub(super) include: Option<String>,
    /// How many orders `include=orders` embeds, newest first (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub(super) orders_limit: Option<u32>,
    /// Fields of each embedded order, comma-separated (default: every field).
    #[serde(rename = "fields[orders]")]
    #[param(
        rename = "fields[orders]",
        value_type = Option<FieldList<Order>>,
        inline,
        style = Form,
        explode = false
    )]
    pub(super) order_fields: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct OrderListParams {
    /// `next_cursor` of the previous page, as it was given and with the same `sort` (any
    /// other value is refused).
    #[param(pattern = "^[A-Za-z0-9_-]+$")]
    pub(super) cursor: Option<String>,
    /// Page size (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub(super) limit: Option<u32>,
    /// Only orders with this status.
    pub(super) status: Option<OrderStatus>,
    /// `id`, `created_at` or `total_cents`; a leading `-` sorts descending.
    #[param(value_type = Option<SortName>, inline)]
    pub(super) sort: Option<String>,
    /// Top-level order fields to return, comma-separated (default: every field).
    #[param(value_type = Option<FieldList<Order>>, inline, style = Form, explode = false)]
    pub(super) fields: Option<String>,
}

impl OrderListParams {
    pub(super) fn query(&self, default_sort: Sort) -> Result<(OrderQuery, Fields), ApiError> {
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
pub(super) struct StatusChange {
    pub(super) status: OrderStatus,
}

/// Body of `POST /v1/orders/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchRequest {
    /// At most 10000 orders; each is checked on its own and answered in `results`.
    #[schema(max_items = 10000)]
    pub(super) items: Vec<BatchRequestItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchRequestItem {
    /// Per-item idempotency key: 1 to 255 visible ASCII characters.
    #[schema(pattern = "^[!-~]{1,255}$")]
    pub(super) idempotency_key: Option<String>,
    pub(super) order: NewOrder,
}

/// Answer of `POST /v1/orders/batch`: a summary and one result per item, in order.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BatchResponse {
    pub(super) received: u32,
    pub(super) created: u32,
    pub(super) replayed: u32,
    pub(super) failed: u32,
    pub(super) total_cents: i64,
    pub(super) results: Vec<BatchResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BatchResult {
    /// The status this item would have had as a single POST.
    pub(super) status: u16,
    /// The order created or replayed, when `status` is 201.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(super) order: Option<Order>,
    /// Why the order was refused, otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(super) error: Option<ErrorBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    pub(super) status: &'static str,
}
