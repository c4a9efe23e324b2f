//! The WebSocket message contract: what a client may send ([`ClientMessage`]) and what the
//! server answers ([`ServerMessage`]); the source of `schema/ws.schema.json`.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use wirebench_domain::{DomainError, Id, NewOrder, Order, OrderEvent, OrderStatus, User};
pub use wirebench_domain::{ImportSummary, OrderSummary, UserRecentOrders};

use super::PATH;

/// A message from client to server. `id` is chosen by the client and echoed in every
/// message that answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// One full user. Answered by a `reply` whose data is a `User`.
    GetUser {
        /// Correlation id, echoed in the answer.
        id: u64,
        user_id: Id,
    },
    /// A user's name and their `limit` most recent orders (id, total, status), newest
    /// first. Answered by a `reply` whose data is a `UserOrders`.
    UserOrders {
        /// Correlation id, echoed in the answer.
        id: u64,
        user_id: Id,
        /// How many orders, 1 to 1000.
        limit: u32,
    },
    /// The first `limit` users in id order, each with their `limit` most recent orders (id,
    /// total, status), newest first. Answered by a `reply` whose data is a list of
    /// `UserRecentOrders`.
    UsersOrders {
        /// Correlation id, echoed in the answer.
        id: u64,
        /// How many users, and how many orders each, 1 to 1000.
        limit: u32,
    },
    /// A page of full orders. Answered by a `reply` whose data is an `OrderPage`.
    ListOrders {
        /// Correlation id, echoed in the answer.
        id: u64,
        /// Page size, 1 to 1000.
        limit: u32,
        /// `next_cursor` of the previous page (only valid with the same `sort`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        /// Only orders with this status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<OrderStatus>,
        /// `id` (the default), `created_at` or `total_cents`; a leading `-` sorts descending.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sort: Option<String>,
    },
    /// The first `limit` orders in id order, one message each: `limit` `item` messages
    /// (fewer if there are fewer orders) followed by one `end`.
    StreamOrders {
        /// Correlation id, echoed in every item and in the end.
        id: u64,
        /// How many orders to stream; 0 streams none.
        limit: u32,
        /// Only orders with this status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<OrderStatus>,
    },
    /// One order. Answered by a `reply` whose data is an `Order`.
    GetOrder {
        /// Correlation id, echoed in the answer.
        id: u64,
        order_id: Id,
    },
    /// Creates an order. With an idempotency key a repeat replays the first answer (with
    /// `replayed: true`); the same key with another order is `idempotency_key_reused`.
    /// Answered by a `reply` whose data is a `CreatedOrder`.
    CreateOrder {
        /// Correlation id, echoed in the answer.
        id: u64,
        /// Stripe-style idempotency key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
        order: NewOrder,
    },
    /// Adds an order to the named import batch of this socket. Not answered (except by an
    /// `error` when the socket already buffers too many orders or the message is
    /// malformed); `import_commit` creates the whole batch.
    ImportOrder {
        /// Correlation id; only an error answers it.
        id: u64,
        /// Name of the batch, chosen by the client; batches are private to a socket.
        batch: String,
        /// Per-order idempotency key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
        order: NewOrder,
    },
    /// Creates every order buffered in the batch, in one store call, and forgets the batch.
    /// Answered by one `reply` whose data is an `ImportSummary`.
    ImportCommit {
        /// Correlation id, echoed in the answer.
        id: u64,
        batch: String,
    },
    /// Starts pushing every order event. Answered by a `reply` with `{"subscribed": true}`,
    /// then by one `event` message per event, all carrying this message's id.
    SubscribeEvents {
        /// Correlation id; also names the subscription.
        id: u64,
    },
    /// Stops a subscription. Answered by a `reply` with `{"subscribed": false}`.
    Unsubscribe {
        /// Correlation id, echoed in the answer.
        id: u64,
        /// The id of the `subscribe_events` message that started the subscription.
        subscription: u64,
    },
}

impl ClientMessage {
    /// The correlation id.
    pub fn id(&self) -> u64 {
        match self {
            ClientMessage::GetUser { id, .. }
            | ClientMessage::UserOrders { id, .. }
            | ClientMessage::UsersOrders { id, .. }
            | ClientMessage::ListOrders { id, .. }
            | ClientMessage::StreamOrders { id, .. }
            | ClientMessage::GetOrder { id, .. }
            | ClientMessage::CreateOrder { id, .. }
            | ClientMessage::ImportOrder { id, .. }
            | ClientMessage::ImportCommit { id, .. }
            | ClientMessage::SubscribeEvents { id }
            | ClientMessage::Unsubscribe { id, .. } => *id,
        }
    }
}

/// A message from server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMessage {
    /// The one answer to a request.
    Reply {
        /// The request's correlation id.
        id: u64,
        data: ReplyData,
    },
    /// One order of a `stream_orders` stream.
    Item {
        /// The `stream_orders` request's id.
        id: u64,
        /// Position in the stream, from 0.
        seq: u64,
        data: Order,
    },
    /// The end of a `stream_orders` stream.
    End {
        /// The `stream_orders` request's id.
        id: u64,
        /// How many items the stream carried.
        count: u64,
    },
    /// An order event pushed to a subscription.
    Event {
        /// The `subscribe_events` request's id.
        id: u64,
        data: OrderEvent,
    },
    /// A request failed, or a subscription skipped events (`lagged`). The socket stays open.
    Error {
        /// The request's id; null when it could not be read from the message.
        id: Option<u64>,
        /// Stable, machine-readable: the domain's codes (`not_found`, `invalid_argument`,
        /// `invalid_cursor`, `too_large`, `conflict`, `idempotency_key_reused`,
        /// `idempotency_key_in_flight`) or `malformed_message`, `unsupported`, `lagged`.
        code: Cow<'static, str>,
        /// What went wrong, for people.
        message: String,
    },
}

impl ServerMessage {
    /// The correlation id this message answers, if any.
    pub fn id(&self) -> Option<u64> {
        match self {
            ServerMessage::Reply { id, .. }
            | ServerMessage::Item { id, .. }
            | ServerMessage::End { id, .. }
            | ServerMessage::Event { id, .. } => Some(*id),
            ServerMessage::Error { id, .. } => *id,
        }
    }

    /// An error message with a code of this protocol's own.
    pub fn error(id: Option<u64>, code: &'static str, message: impl Into<String>) -> Self {
        ServerMessage::Error { id, code: Cow::Borrowed(code), message: message.into() }
    }

    /// The error message for a domain error.
    pub fn domain_error(id: u64, e: &DomainError) -> Self {
        ServerMessage::error(Some(id), e.code(), e.to_string())
    }
}

/// The data of a `reply`; which one depends on the request's `op`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per reply and serialized; a box would add an allocation"
)]
pub enum ReplyData {
    /// Answers `get_user`.
    User(User),
    /// Answers `get_order`.
    Order(Order),
    /// Answers `user_orders`.
    UserOrders(UserOrders),
    /// Answers `users_orders`.
    UsersOrders(Vec<UserRecentOrders>),
    /// Answers `list_orders`.
    OrderPage(OrderPage),
    /// Answers `create_order`.
    CreatedOrder(CreatedOrder),
    /// Answers `import_commit`.
    ImportSummary(ImportSummary),
    /// Answers `subscribe_events` and `unsubscribe`.
    SubscriptionState(SubscriptionState),
}

/// A user's name and recent orders: the catalog's user-orders in one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserOrders {
    pub name: String,
    /// Newest first.
    pub orders: Vec<OrderSummary>,
}

/// One page of orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPage {
    pub data: Vec<Order>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A created order, or the replay of an earlier creation with the same idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedOrder {
    pub order: Order,
    /// True when the idempotency key replayed an earlier creation.
    pub replayed: bool,
}

/// Whether a subscription is now active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionState {
    pub subscribed: bool,
}

/// The JSON Schema of the protocol, as written to `schema/ws.schema.json`: one root whose
/// `$defs` hold `ClientMessage`, `ServerMessage` and everything they use.
pub fn schema_json() -> String {
    let mut generator = schemars::SchemaGenerator::default();
    let client = generator.subschema_for::<ClientMessage>();
    let server = generator.subschema_for::<ServerMessage>();
    let mut defs: Vec<_> = generator.take_definitions(true).into_iter().collect();
    defs.sort_by(|a, b| a.0.cmp(&b.0));
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "wirebench WebSocket protocol",
        "description": format!(
            "JSON text frames on ws://host{PATH}. A client sends ClientMessage (tagged by `op`); \
             the server sends ServerMessage (tagged by `type`), echoing the request's `id`."
        ),
        "oneOf": [client, server],
        "$defs": serde_json::Map::from_iter(defs),
    });
    let mut text = serde_json::to_string_pretty(&root).expect("schemas serialize");
    text.push('\n');
    text
}
