//! The GraphQL response shapes, decoded and then mapped to domain types: ids are ID strings
//! and statuses are upper-case enum values on this wire.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use wirebench_domain as d;

use crate::clients::ClientError;

#[derive(Deserialize)]
pub(super) struct Response<T> {
    pub(super) data: Option<T>,
    #[serde(default)]
    pub(super) errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
pub(super) struct GraphqlError {
    pub(super) message: String,
    #[serde(default)]
    pub(super) extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct GUser {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) phone: String,
    // The query aliases every field to the domain's name, so these decode as they are.
    pub(super) address: d::Address,
    pub(super) company: String,
    pub(super) avatar_url: String,
    pub(super) bio: String,
    pub(super) preferences: d::Preferences,
    pub(super) tags: Vec<String>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

#[derive(Deserialize)]
pub(super) struct GOrder {
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) status: String,
    pub(super) items: Vec<d::LineItem>,
    pub(super) total_cents: i64,
    pub(super) currency: String,
    pub(super) shipping_address: d::Address,
    pub(super) created_at: DateTime<Utc>,
}

pub(super) fn id(s: &str) -> Result<d::Id, ClientError> {
    s.parse().map_err(|_| ClientError::Decode(format!("ID {s:?} is not a number")))
}

pub(super) fn status(s: &str) -> Result<d::OrderStatus, ClientError> {
    s.to_ascii_lowercase().parse().map_err(ClientError::decode)
}

impl GOrder {
    pub(super) fn into_domain(self) -> Result<d::Order, ClientError> {
        Ok(d::Order {
            id: id(&self.id)?,
            user_id: id(&self.user_id)?,
            status: status(&self.status)?,
            items: self.items,
            total_cents: self.total_cents,
            currency: self.currency,
            shipping_address: self.shipping_address,
            created_at: self.created_at,
        })
    }
}

impl GUser {
    pub(super) fn into_domain(self) -> Result<d::User, ClientError> {
        Ok(d::User {
            id: id(&self.id)?,
            name: self.name,
            email: self.email,
            phone: self.phone,
            address: self.address,
            company: self.company,
            avatar_url: self.avatar_url,
            bio: self.bio,
            preferences: self.preferences,
            tags: self.tags,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Deserialize)]
pub(super) struct UserData {
    pub(super) user: Option<GUser>,
}

#[derive(Deserialize)]
pub(super) struct GSummary {
    pub(super) id: String,
    pub(super) total_cents: i64,
    pub(super) status: String,
}

#[derive(Deserialize)]
pub(super) struct Nodes<T> {
    pub(super) nodes: Vec<T>,
}

#[derive(Deserialize)]
pub(super) struct NameAndOrders {
    pub(super) name: String,
    pub(super) orders: Nodes<GSummary>,
}

#[derive(Deserialize)]
pub(super) struct UserOrdersData {
    pub(super) user: Option<NameAndOrders>,
}

#[derive(Deserialize)]
pub(super) struct GUserOrders {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) orders: Nodes<GSummary>,
}

impl GUserOrders {
    pub(super) fn into_domain(self) -> Result<d::UserRecentOrders, ClientError> {
        let orders = self.orders.nodes.into_iter().map(GSummary::into_domain).collect::<Result<_, _>>()?;
        Ok(d::UserRecentOrders { id: id(&self.id)?, name: self.name, orders })
    }
}

#[derive(Deserialize)]
pub(super) struct UsersOrdersData {
    pub(super) users: Option<Nodes<GUserOrders>>,
}

#[derive(Deserialize)]
pub(super) struct OrdersData {
    pub(super) orders: Nodes<GOrder>,
}

#[derive(Deserialize)]
pub(super) struct OrderData {
    pub(super) order: Option<GOrder>,
}

#[derive(Deserialize)]
pub(super) struct StreamData {
    #[serde(rename = "streamOrders")]
    pub(super) stream_orders: GOrder,
}

#[derive(Deserialize)]
pub(super) struct CreatePayload {
    pub(super) replayed: bool,
    pub(super) order: GOrder,
}

#[derive(Deserialize)]
pub(super) struct CreateData {
    #[serde(rename = "createOrder")]
    pub(super) create_order: Option<CreatePayload>,
}

#[derive(Deserialize)]
pub(super) struct GImport {
    pub(super) received: u32,
    pub(super) created: u32,
    pub(super) replayed: u32,
    pub(super) failed: u32,
    pub(super) order_ids: Vec<String>,
    pub(super) total_cents: i64,
    pub(super) errors: Vec<String>,
}

impl GImport {
    pub(super) fn into_domain(self) -> Result<d::ImportSummary, ClientError> {
        Ok(d::ImportSummary {
            received: self.received,
            created: self.created,
            replayed: self.replayed,
            failed: self.failed,
            order_ids: self.order_ids.iter().map(|s| id(s)).collect::<Result<_, _>>()?,
            total_cents: self.total_cents,
            errors: self.errors,
        })
    }
}

impl GSummary {
    pub(super) fn into_domain(self) -> Result<d::OrderSummary, ClientError> {
        Ok(d::OrderSummary {
            id: id(&self.id)?,
            total_cents: self.total_cents,
            status: status(&self.status)?,
        })
    }
}

#[derive(Deserialize)]
pub(super) struct ImportData {
    #[serde(rename = "importOrders")]
    pub(super) import_orders: Option<GImport>,
}

/// The first GraphQL error as a client error (its `extensions.code` as the code).
pub(super) fn graphql_error(errors: Vec<GraphqlError>) -> ClientError {
    let Some(e) = errors.into_iter().next() else {
        return ClientError::Server {
            code: "NO_DATA".to_owned(),
            message: "a response with neither data nor errors".to_owned(),
        };
    };
    let ext = |k: &str| e.extensions.get(k);
    let code = ext("code").and_then(|c| c.as_str()).unwrap_or("GRAPHQL_ERROR").to_owned();
    let retry_after =
        ext("retryAfterMs").and_then(serde_json::Value::as_u64).map(std::time::Duration::from_millis);
    // The server's `reason` extension is the domain's code.
    let reason = ext("reason").and_then(|r| r.as_str()).map(str::to_owned);
    ClientError::answered(reason.as_deref(), code, e.message, retry_after)
}

pub(super) fn data<T>(r: Response<T>) -> Result<T, ClientError> {
    match (r.data, r.errors.is_empty()) {
        (Some(d), true) => Ok(d),
        (_, _) => Err(graphql_error(r.errors)),
    }
}

pub(super) fn new_order_input(o: &d::NewOrder) -> serde_json::Value {
    json!({
        "userId": o.user_id.to_string(),
        "items": o.items.iter().map(|i| json!({
            "sku": i.sku, "name": i.name, "quantity": i.quantity, "unitPriceCents": i.unit_price_cents
        })).collect::<Vec<_>>(),
        "currency": o.currency,
        "shippingAddress": {
            "line1": o.shipping_address.line1, "line2": o.shipping_address.line2,
            "city": o.shipping_address.city, "region": o.shipping_address.region,
            "postalCode": o.shipping_address.postal_code, "country": o.shipping_address.country,
        },
    })
}

/// Decodes a get-user response body to the domain user.
pub fn decode_user(body: &[u8]) -> Result<d::User, ClientError> {
    let r: Response<UserData> = serde_json::from_slice(body).map_err(ClientError::decode)?;
    data(r)?.user.ok_or_else(|| ClientError::decode("user is null"))?.into_domain()
}

/// Decodes a list-orders response body to domain orders.
pub fn decode_orders(body: &[u8]) -> Result<Vec<d::Order>, ClientError> {
    let r: Response<OrdersData> = serde_json::from_slice(body).map_err(ClientError::decode)?;
    data(r)?.orders.nodes.into_iter().map(GOrder::into_domain).collect()
}
