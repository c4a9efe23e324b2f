//! The shop's records. Plain data: every protocol maps these to and from its own wire form,
//! and the equivalence check compares protocols by decoding back to these types.
//!
//! `Serialize`/`Deserialize` give the canonical JSON form (used by REST, GraphQL's scalars
//! and WebSocket messages); `JsonSchema` and `ToSchema` describe that same form for the
//! generated contracts in `schema/`. They describe data, not a protocol.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Identifier of a user or an order. Positive; 0 is never issued.
pub type Id = u64;

/// A postal address, nested in users and orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct Address {
    pub line1: String,
    /// Empty when the address has no second line.
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// A user's settings: nested, rarely needed by a list view, so worth over-fetching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct Preferences {
    /// BCP 47 language tag.
    pub language: String,
    /// ISO 4217 currency the user pays in.
    pub currency: String,
    pub newsletter: bool,
    pub theme: String,
    /// Channels the user wants notifications on ("email", "sms", "push").
    pub notifications: Vec<String>,
}

/// A full user profile: the record that list and summary views over-fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct User {
    pub id: Id,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub address: Address,
    pub company: String,
    pub avatar_url: String,
    pub bio: String,
    pub preferences: Preferences,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    /// The snake_case name used on every text wire.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for OrderStatus {
    type Err = crate::DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| crate::DomainError::Invalid(format!("unknown order status {s:?}")))
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One product line of an order. Money is integer cents, never floating point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct LineItem {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

/// An order as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct Order {
    pub id: Id,
    pub user_id: Id,
    pub status: OrderStatus,
    pub items: Vec<LineItem>,
    /// Sum of quantity × unit price over the items; computed by the store, never trusted
    /// from a client.
    pub total_cents: i64,
    /// ISO 4217.
    pub currency: String,
    pub shipping_address: Address,
    pub created_at: DateTime<Utc>,
}

/// What a client sends to create an order. The store assigns id, status, total and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub user_id: Id,
    pub items: Vec<LineItem>,
    pub currency: String,
    pub shipping_address: Address,
}

/// What happened to an order; the feed that streaming operations carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderEvent {
    /// Position in the feed, increasing by one per event.
    pub seq: u64,
    pub kind: OrderEventKind,
    /// The order after the change (for `deleted`, the order as it was).
    pub order: Order,
}

/// The kind of change an [`OrderEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderEventKind {
    Created,
    StatusChanged,
    Deleted,
}
