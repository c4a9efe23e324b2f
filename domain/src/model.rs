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

/// One product line of an order. Money is integer cents, never floating point (a whole
/// number written `12.0` is the integer 12, as in JSON Schema; `12.5` is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct LineItem {
    #[schema(min_length = 1)]
    #[schemars(length(min = 1))]
    pub sku: String,
    pub name: String,
    /// 1 to 1000000.
    #[serde(deserialize_with = "crate::whole::integer")]
    #[schema(minimum = 1, maximum = 1000000)]
    #[schemars(range(min = 1, max = MAX_QUANTITY))]
    pub quantity: u32,
    /// 0 to 1000000000.
    #[serde(deserialize_with = "crate::whole::integer")]
    #[schema(minimum = 0, maximum = 1000000000)]
    #[schemars(range(min = 0, max = MAX_UNIT_PRICE_CENTS))]
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
    /// An existing user (positive; one that does not exist is refused).
    #[serde(deserialize_with = "crate::whole::integer")]
    #[schema(value_type = u64, minimum = 1, maximum = 9223372036854775807_i64)]
    #[schemars(range(min = 1))]
    pub user_id: Id,
    /// 1 to 1000 items.
    #[schema(min_items = 1, max_items = 1000)]
    #[schemars(length(min = 1, max = MAX_ITEMS_PER_ORDER))]
    pub items: Vec<LineItem>,
    /// ISO 4217: three capital letters.
    #[schema(pattern = "^[A-Z]{3}$")]
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
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

/// Most line items one order may have.
pub const MAX_ITEMS_PER_ORDER: usize = 1000;
/// Largest quantity of one line item.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// Largest unit price, in cents (ten million in the currency's main unit).
pub const MAX_UNIT_PRICE_CENTS: i64 = 1_000_000_000;

// With every item within these bounds no order total can overflow (10^18 < i64::MAX), so an
// order the contracts describe as valid is never refused for its total.
const _: () = assert!(
    MAX_ITEMS_PER_ORDER as i128 * MAX_QUANTITY as i128 * MAX_UNIT_PRICE_CENTS as i128 <= i64::MAX as i128
);

/// Sum of quantity × unit price, or `None` if it overflows.
pub fn checked_order_total(items: &[LineItem]) -> Option<i64> {
    items.iter().try_fold(0i64, |sum, item| {
        item.unit_price_cents.checked_mul(i64::from(item.quantity)).and_then(|v| sum.checked_add(v))
    })
}

/// Sum of quantity × unit price for items already known to be in range (validated orders
/// and fixtures).
pub fn order_total(items: &[LineItem]) -> i64 {
    checked_order_total(items).expect("order total overflow")
}

impl NewOrder {
    /// The order this request becomes when the store gives it `id` at `now`: pending, its
    /// total the sum of its items, its time at millisecond precision (which survives every
    /// wire format unchanged).
    pub fn into_order(self, id: Id, now: chrono::DateTime<chrono::Utc>) -> Order {
        use chrono::SubsecRound as _;
        Order {
            id,
            user_id: self.user_id,
            status: OrderStatus::Pending,
            total_cents: order_total(&self.items),
            items: self.items,
            currency: self.currency,
            shipping_address: self.shipping_address,
            created_at: now.trunc_subsecs(3),
        }
    }

    /// Checks a new order before anything is stored or claimed (so a rejected request does
    /// not use up its idempotency key, as with Stripe).
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let invalid = |msg: String| Err(crate::DomainError::Invalid(msg));
        if self.user_id == 0 {
            return invalid("user_id must be positive".into());
        }
        if self.items.is_empty() {
            return invalid("an order needs at least one item".into());
        }
        if self.items.len() > MAX_ITEMS_PER_ORDER {
            return Err(crate::DomainError::TooLarge(format!(
                "an order holds at most {MAX_ITEMS_PER_ORDER} items, got {}",
                self.items.len()
            )));
        }
        for (i, item) in self.items.iter().enumerate() {
            if item.sku.is_empty() {
                return invalid(format!("items[{i}].sku must not be empty"));
            }
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                return invalid(format!("items[{i}].quantity must be 1 to {MAX_QUANTITY}"));
            }
            if !(0..=MAX_UNIT_PRICE_CENTS).contains(&item.unit_price_cents) {
                return invalid(format!("items[{i}].unit_price_cents must be 0 to {MAX_UNIT_PRICE_CENTS}"));
            }
        }
        if checked_order_total(&self.items).is_none() {
            return invalid("order total overflows".into());
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return invalid(format!(
                "currency must be an ISO 4217 code such as EUR, got {:?}",
                self.currency
            ));
        }
        Ok(())
    }
}

/// The three fields of an order that a list view shows (the catalog's user-orders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderSummary {
    pub id: Id,
    pub total_cents: i64,
    pub status: OrderStatus,
}

impl From<&Order> for OrderSummary {
    fn from(o: &Order) -> Self {
        OrderSummary { id: o.id, total_cents: o.total_cents, status: o.status }
    }
}

/// A user's id and name with a summary of their most recent orders, newest first (one
/// entry of the catalog's users-orders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRecentOrders {
    pub id: Id,
    pub name: String,
    pub orders: Vec<OrderSummary>,
}

/// A created (or replayed) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub order: Order,
    /// True when an idempotency key replayed an earlier creation instead of creating.
    pub replayed: bool,
}

/// One entry of a batch create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    pub idempotency_key: Option<String>,
    pub order: NewOrder,
}

/// An import (a batch create) summed up item by item: what every protocol's import answer
/// reports, computed in one place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSummary {
    /// Orders received, failed ones included.
    pub received: u32,
    /// Orders created now.
    pub created: u32,
    /// Orders whose idempotency key replayed an earlier creation.
    pub replayed: u32,
    pub failed: u32,
    /// Ids of the orders created or replayed, in item order.
    pub order_ids: Vec<Id>,
    /// Sum of their totals.
    pub total_cents: i64,
    /// One `"index: message"` per failed item, in item order.
    pub errors: Vec<String>,
}

impl ImportSummary {
    /// The summary of a batch whose outcomes are in item order.
    pub fn of(outcomes: &[Result<Created, crate::DomainError>]) -> Self {
        let mut summary = ImportSummary::default();
        for (index, outcome) in outcomes.iter().enumerate() {
            summary.record(index, outcome);
        }
        summary
    }

    /// Counts item `index`, which reached the store.
    pub fn record(&mut self, index: usize, outcome: &Result<Created, crate::DomainError>) {
        match outcome {
            Ok(created) => {
                self.received += 1;
                if created.replayed {
                    self.replayed += 1;
                } else {
                    self.created += 1;
                }
                self.order_ids.push(created.order.id);
                self.total_cents = self.total_cents.saturating_add(created.order.total_cents);
            }
            Err(e) => self.fail(index, e),
        }
    }

    /// Counts item `index` as failed (also for items rejected before the store).
    pub fn fail(&mut self, index: usize, message: impl std::fmt::Display) {
        self.received += 1;
        self.failed += 1;
        self.errors.push(format!("{index}: {message}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_of(quantity: u32, unit_price_cents: i64, items: usize) -> NewOrder {
        let item = LineItem { sku: "S".into(), name: String::new(), quantity, unit_price_cents };
        let address = Address {
            line1: String::new(),
            line2: String::new(),
            city: String::new(),
            region: String::new(),
            postal_code: String::new(),
            country: String::new(),
        };
        NewOrder { user_id: 1, items: vec![item; items], currency: "EUR".into(), shipping_address: address }
    }

    #[test]
    fn the_largest_valid_order_is_valid_and_its_total_fits() {
        let largest = order_of(MAX_QUANTITY, MAX_UNIT_PRICE_CENTS, MAX_ITEMS_PER_ORDER);
        assert_eq!(largest.validate(), Ok(()));
        assert_eq!(order_total(&largest.items), 1_000_000_000_000_000_000);
        assert_eq!(order_of(1, 0, 1).validate(), Ok(()));
    }

    #[test]
    fn values_past_each_bound_are_invalid() {
        for order in [
            order_of(MAX_QUANTITY + 1, 1, 1),
            order_of(0, 1, 1),
            order_of(1, MAX_UNIT_PRICE_CENTS + 1, 1),
            order_of(1, -1, 1),
            order_of(1, 1, 0),
        ] {
            assert!(matches!(order.validate(), Err(crate::DomainError::Invalid(_))), "{order:?}");
        }
        let too_many = order_of(1, 1, MAX_ITEMS_PER_ORDER + 1);
        assert!(matches!(too_many.validate(), Err(crate::DomainError::TooLarge(_))));
    }

    #[test]
    fn json_integers_may_be_written_as_whole_floats() {
        let json = r#"{"sku": "S", "name": "", "quantity": 2.0, "unit_price_cents": 150.0}"#;
        let item: LineItem = serde_json::from_str(json).unwrap();
        assert_eq!((item.quantity, item.unit_price_cents), (2, 150));
        assert!(serde_json::from_str::<LineItem>(&json.replace("150.0", "150.5")).is_err());
    }
}
