//! Conversions between the domain model and the generated protobuf messages, used by the
//! gRPC server, the floor protocol and the harness's clients alike, so every side maps
//! fields the same way.
//!
//! Domain → protobuf cannot fail. Protobuf → domain can (a missing nested message, an
//! unknown enum value, a timestamp out of range) and says which field was wrong.

use chrono::{DateTime, Utc};
use wirebench_domain as d;

use crate::v1 as pb;

/// A protobuf message that does not describe a valid domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid protobuf message: {0}")]
pub struct ConvertError(pub String);

fn missing(field: &str) -> ConvertError {
    ConvertError(format!("{field} is required"))
}

/// A domain time as a protobuf Timestamp.
pub fn timestamp(t: DateTime<Utc>) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

/// A protobuf Timestamp as a domain time.
pub fn time(t: Option<pbjson_types::Timestamp>, field: &str) -> Result<DateTime<Utc>, ConvertError> {
    let t = t.ok_or_else(|| missing(field))?;
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
        .ok_or_else(|| ConvertError(format!("{field} is out of range")))
}

impl From<d::OrderStatus> for pb::OrderStatus {
    fn from(s: d::OrderStatus) -> Self {
        match s {
            d::OrderStatus::Pending => pb::OrderStatus::Pending,
            d::OrderStatus::Paid => pb::OrderStatus::Paid,
            d::OrderStatus::Shipped => pb::OrderStatus::Shipped,
            d::OrderStatus::Delivered => pb::OrderStatus::Delivered,
            d::OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
        }
    }
}

/// A protobuf status value (as carried in an `i32` field) as a domain status.
/// `UNSPECIFIED` is `None`.
pub fn status(value: i32) -> Result<Option<d::OrderStatus>, ConvertError> {
    let s = pb::OrderStatus::try_from(value)
        .map_err(|_| ConvertError(format!("unknown order status {value}")))?;
    Ok(match s {
        pb::OrderStatus::Unspecified => None,
        pb::OrderStatus::Pending => Some(d::OrderStatus::Pending),
        pb::OrderStatus::Paid => Some(d::OrderStatus::Paid),
        pb::OrderStatus::Shipped => Some(d::OrderStatus::Shipped),
        pb::OrderStatus::Delivered => Some(d::OrderStatus::Delivered),
        pb::OrderStatus::Cancelled => Some(d::OrderStatus::Cancelled),
    })
}

fn required_status(value: i32) -> Result<d::OrderStatus, ConvertError> {
    status(value)?.ok_or_else(|| missing("status"))
}

impl From<d::Address> for pb::Address {
    fn from(a: d::Address) -> Self {
        pb::Address {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

impl From<pb::Address> for d::Address {
    fn from(a: pb::Address) -> Self {
        d::Address {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

impl From<d::User> for pb::User {
    fn from(u: d::User) -> Self {
        pb::User {
            id: u.id,
            name: u.name,
            email: u.email,
            phone: u.phone,
            address: Some(u.address.into()),
            company: u.company,
            avatar_url: u.avatar_url,
            bio: u.bio,
            preferences: Some(pb::Preferences {
                language: u.preferences.language,
                currency: u.preferences.currency,
                newsletter: u.preferences.newsletter,
                theme: u.preferences.theme,
                notifications: u.preferences.notifications,
            }),
            tags: u.tags,
            created_at: Some(timestamp(u.created_at)),
            updated_at: Some(timestamp(u.updated_at)),
        }
    }
}

impl TryFrom<pb::User> for d::User {
    type Error = ConvertError;

    fn try_from(u: pb::User) -> Result<Self, Self::Error> {
        let p = u.preferences.ok_or_else(|| missing("preferences"))?;
        Ok(d::User {
            id: u.id,
            name: u.name,
            email: u.email,
            phone: u.phone,
            address: u.address.ok_or_else(|| missing("address"))?.into(),
            company: u.company,
            avatar_url: u.avatar_url,
            bio: u.bio,
            preferences: d::Preferences {
                language: p.language,
                currency: p.currency,
                newsletter: p.newsletter,
                theme: p.theme,
                notifications: p.notifications,
            },
            tags: u.tags,
            created_at: time(u.created_at, "created_at")?,
            updated_at: time(u.updated_at, "updated_at")?,
        })
    }
}

impl From<d::LineItem> for pb::LineItem {
    fn from(i: d::LineItem) -> Self {
        pb::LineItem { sku: i.sku, name: i.name, quantity: i.quantity, unit_price_cents: i.unit_price_cents }
    }
}

impl From<pb::LineItem> for d::LineItem {
    fn from(i: pb::LineItem) -> Self {
        d::LineItem { sku: i.sku, name: i.name, quantity: i.quantity, unit_price_cents: i.unit_price_cents }
    }
}

impl From<d::Order> for pb::Order {
    fn from(o: d::Order) -> Self {
        pb::Order {
            id: o.id,
            user_id: o.user_id,
            status: pb::OrderStatus::from(o.status) as i32,
            items: o.items.into_iter().map(Into::into).collect(),
            total_cents: o.total_cents,
            currency: o.currency,
            shipping_address: Some(o.shipping_address.into()),
            created_at: Some(timestamp(o.created_at)),
        }
    }
}

impl TryFrom<pb::Order> for d::Order {
    type Error = ConvertError;

    fn try_from(o: pb::Order) -> Result<Self, Self::Error> {
        Ok(d::Order {
            id: o.id,
            user_id: o.user_id,
            status: required_status(o.status)?,
            items: o.items.into_iter().map(Into::into).collect(),
            total_cents: o.total_cents,
            currency: o.currency,
            shipping_address: o.shipping_address.ok_or_else(|| missing("shipping_address"))?.into(),
            created_at: time(o.created_at, "created_at")?,
        })
    }
}

impl From<d::NewOrder> for pb::NewOrder {
    fn from(n: d::NewOrder) -> Self {
        pb::NewOrder {
            user_id: n.user_id,
            items: n.items.into_iter().map(Into::into).collect(),
            currency: n.currency,
            shipping_address: Some(n.shipping_address.into()),
        }
    }
}

impl TryFrom<pb::NewOrder> for d::NewOrder {
    type Error = ConvertError;

    fn try_from(n: pb::NewOrder) -> Result<Self, Self::Error> {
        Ok(d::NewOrder {
            user_id: n.user_id,
            items: n.items.into_iter().map(Into::into).collect(),
            currency: n.currency,
            shipping_address: n.shipping_address.ok_or_else(|| missing("order.shipping_address"))?.into(),
        })
    }
}

impl From<d::OrderEventKind> for pb::OrderEventKind {
    fn from(k: d::OrderEventKind) -> Self {
        match k {
            d::OrderEventKind::Created => pb::OrderEventKind::Created,
            d::OrderEventKind::StatusChanged => pb::OrderEventKind::StatusChanged,
            d::OrderEventKind::Deleted => pb::OrderEventKind::Deleted,
        }
    }
}

impl From<d::OrderEvent> for pb::OrderEvent {
    fn from(e: d::OrderEvent) -> Self {
        pb::OrderEvent {
            seq: e.seq,
            kind: pb::OrderEventKind::from(e.kind) as i32,
            order: Some(e.order.into()),
        }
    }
}

impl TryFrom<pb::OrderEvent> for d::OrderEvent {
    type Error = ConvertError;

    fn try_from(e: pb::OrderEvent) -> Result<Self, Self::Error> {
        let kind = match pb::OrderEventKind::try_from(e.kind) {
            Ok(pb::OrderEventKind::Created) => d::OrderEventKind::Created,
            Ok(pb::OrderEventKind::StatusChanged) => d::OrderEventKind::StatusChanged,
            Ok(pb::OrderEventKind::Deleted) => d::OrderEventKind::Deleted,
            Ok(pb::OrderEventKind::Unspecified) | Err(_) => {
                return Err(ConvertError(format!("unknown order event kind {}", e.kind)));
            }
        };
        let order = e.order.ok_or_else(|| missing("order"))?.try_into()?;
        Ok(d::OrderEvent { seq: e.seq, kind, order })
    }
}

impl From<d::OrderSummary> for pb::OrderSummary {
    fn from(o: d::OrderSummary) -> Self {
        pb::OrderSummary {
            id: o.id,
            total_cents: o.total_cents,
            status: pb::OrderStatus::from(o.status) as i32,
        }
    }
}

/// The protobuf twin of the domain's `From<&Order>`: an order's summary fields.
impl From<&pb::Order> for pb::OrderSummary {
    fn from(o: &pb::Order) -> Self {
        pb::OrderSummary { id: o.id, total_cents: o.total_cents, status: o.status }
    }
}

impl TryFrom<pb::OrderSummary> for d::OrderSummary {
    type Error = ConvertError;

    fn try_from(o: pb::OrderSummary) -> Result<Self, ConvertError> {
        Ok(d::OrderSummary { id: o.id, total_cents: o.total_cents, status: required_status(o.status)? })
    }
}

impl From<d::UserRecentOrders> for pb::UserRecentOrders {
    fn from(u: d::UserRecentOrders) -> Self {
        pb::UserRecentOrders {
            id: u.id,
            name: u.name,
            orders: u.orders.into_iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::UserRecentOrders> for d::UserRecentOrders {
    type Error = ConvertError;

    fn try_from(u: pb::UserRecentOrders) -> Result<Self, ConvertError> {
        let orders = u.orders.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?;
        Ok(d::UserRecentOrders { id: u.id, name: u.name, orders })
    }
}

impl From<d::ImportSummary> for pb::ImportSummary {
    fn from(s: d::ImportSummary) -> Self {
        pb::ImportSummary {
            received: s.received,
            created: s.created,
            replayed: s.replayed,
            failed: s.failed,
            order_ids: s.order_ids,
            total_cents: s.total_cents,
            errors: s.errors,
        }
    }
}

impl From<pb::ImportSummary> for d::ImportSummary {
    fn from(s: pb::ImportSummary) -> Self {
        d::ImportSummary {
            received: s.received,
            created: s.created,
            replayed: s.replayed,
            failed: s.failed,
            order_ids: s.order_ids,
            total_cents: s.total_cents,
            errors: s.errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_orders_round_trip_unchanged() {
        let f = d::generate(d::Profiles::builtin().get("tiny").unwrap(), 9);
        for u in f.users {
            assert_eq!(d::User::try_from(pb::User::from(u.clone())).unwrap(), u);
        }
        for o in f.orders {
            assert_eq!(d::Order::try_from(pb::Order::from(o.clone())).unwrap(), o);
        }
    }

    #[test]
    fn bad_messages_name_the_field() {
        let err = d::Order::try_from(pb::Order { status: 1, ..Default::default() }).unwrap_err();
        assert!(err.0.contains("shipping_address"), "{err}");
        assert!(status(99).is_err());
        assert_eq!(status(0).unwrap(), None);
        let err = time(Some(pbjson_types::Timestamp { seconds: 0, nanos: -1 }), "created_at").unwrap_err();
        assert!(err.0.contains("created_at"));
    }
}
