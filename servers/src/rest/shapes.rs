//! Request and response shapes, documented in the OpenAPI document.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wirebench_domain::{DEFAULT_LIMIT, NewOrder, Order, OrderQuery, OrderStatus, Sort, User};

use super::errors::{ApiError, ErrorBody};
use super::responses::{Fields, ORDER_FIELDS};

/// One page of a collection (full or sparse objects).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PageBody<T> {
    pub(super) data: Vec<T>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub(super) next_cursor: Option<String>,
}

/// A user, sparse when `fields` is given, with `orders` when `include=orders`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(bound = "")]
pub(super) struct UserWithOrders<U, O> {
    #[serde(flatten)]
    #[schema(value_type = User)]
    pub(super) user: U,
    /// Present with `include=orders`: the user's most recent orders.
    #[schema(value_type = Option<Vec<Order>>)]
    pub(super) orders: Vec<O>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct UserListParams {
    /// `next_cursor` of the previous page.
    pub(super) cursor: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    pub(super) limit: Option<u32>,
    /// Comma-separated top-level fields to return.
    pub(super) fields: Option<String>,
    /// `orders` embeds each user's most recent orders (one request, and one store call for
    /// all of them, instead of one request per user).
    pub(super) include: Option<String>,
    /// How many orders `include=orders` embeds per user, newest first (default 20).
    pub(super) orders_limit: Option<u32>,
    /// Comma-separated fields of each embedded order.
    #[serde(rename = "fields[orders]")]
    #[param(rename = "fields[orders]")]
    pub(super) order_fields: Option<String>,
}

/// `include`: which relation to embed (only `orders` exists).
pub(super) fn include_orders(include: Option<&str>) -> Result<bool, ApiError> {
    match include {
        None => Ok(false),
        Some("orders") => Ok(true),
        Some(other) => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("include: unknown relation {other:?}; known: orders"),
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct UserParams {
    /// Comma-separated top-level user fields to return.
    pub(super) fields: Option<String>,
    /// `orders` embeds the user's most recent orders (one round trip instead of two).
    pub(super) include: Option<String>,
    /// How many orders `include=orders` embeds, newest first (default 20).
    pub(super) orders_limit: Option<u32>,
    /// Comma-separated fields of each embedded order.
    #[serde(rename = "fields[orders]")]
    #[param(rename = "fields[orders]")]
    pub(super) order_fields: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct OrderListParams {
    /// `next_cursor` of the previous page (only valid with the same `sort`).
    pub(super) cursor: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    pub(super) limit: Option<u32>,
    /// Only orders with this status.
    pub(super) status: Option<OrderStatus>,
    /// `id`, `created_at` or `total_cents`; a leading `-` sorts descending.
    pub(super) sort: Option<String>,
    /// Comma-separated top-level order fields to return.
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
    pub(super) items: Vec<BatchRequestItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchRequestItem {
    /// Per-item idempotency key.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) order: Option<Order>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<ErrorBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    pub(super) status: &'static str,
}
