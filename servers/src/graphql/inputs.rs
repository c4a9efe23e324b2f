//! Input objects, and their conversion to the domain's requests.

use async_graphql::{ID, InputObject, Result};
use wirebench_domain::{Address, LineItem, NewOrder};

use super::errors::parse_id;

/// A postal address.
#[derive(Debug, InputObject)]
pub(super) struct AddressInput {
    line1: String,
    /// Empty when the address has no second line.
    #[graphql(default)]
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    /// ISO 3166-1 alpha-2.
    country: String,
}

impl From<AddressInput> for Address {
    fn from(a: AddressInput) -> Self {
        Address {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

/// One product line of a new order.
#[derive(Debug, InputObject)]
pub(super) struct LineItemInput {
    sku: String,
    name: String,
    quantity: u32,
    unit_price_cents: i64,
}

/// What a client sends to create an order; the server assigns id, status, total and time.
#[derive(Debug, InputObject)]
pub(super) struct NewOrderInput {
    user_id: ID,
    items: Vec<LineItemInput>,
    /// ISO 4217.
    currency: String,
    shipping_address: AddressInput,
}

impl NewOrderInput {
    pub(super) fn into_domain(self) -> Result<NewOrder> {
        Ok(NewOrder {
            user_id: parse_id(&self.user_id, "userId")?,
            items: self
                .items
                .into_iter()
                .map(|i| LineItem {
                    sku: i.sku,
                    name: i.name,
                    quantity: i.quantity,
                    unit_price_cents: i.unit_price_cents,
                })
                .collect(),
            currency: self.currency,
            shipping_address: self.shipping_address.into(),
        })
    }
}

/// One order of an import, with its own idempotency key.
#[derive(Debug, InputObject)]
pub(super) struct ImportOrderInput {
    pub(super) idempotency_key: Option<String>,
    pub(super) order: NewOrderInput,
}
