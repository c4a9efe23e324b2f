//! Scalars, enums and the output objects: thin wrappers that borrow from the domain's records,
//! and the connections that page them (users and orders refer to each other's pages, so they
//! live together).

use async_graphql::dataloader::DataLoader;
use async_graphql::{
    Context, Enum, ID, InputValueError, InputValueResult, Object, Result, Scalar, ScalarType, SimpleObject,
    Value,
};
use std::sync::Arc;

use serde::Serialize;
use wirebench_domain::{
    Address, DomainError, LineItem, Order, OrderEvent, OrderQuery, Page, Preferences, User,
};

use super::errors::{GqlResult, connection_cost, nullable, page_size, store};
use super::loader::{OrdersArgs, UserOrdersKey, UserOrdersLoader};

/// The DataLoader behind `User.orders`, making pages of order nodes.
pub(super) type OrdersLoader = UserOrdersLoader<OrderPage>;

/// A timestamp, kept as its canonical JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DateTime(String);

impl DateTime {
    /// The canonical JSON text of a timestamp (no need to name chrono here).
    fn of(t: &impl Serialize) -> DateTime {
        match serde_json::to_value(t) {
            Ok(serde_json::Value::String(s)) => DateTime(s),
            other => DateTime(format!("{other:?}")),
        }
    }
}

/// An instant in RFC 3339 form, UTC, e.g. `2024-05-01T12:00:00.123Z` (the canonical JSON
/// form of every wirebench timestamp).
#[Scalar(name = "DateTime", specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(DateTime(s)),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "OrderStatus", remote = "wirebench_domain::OrderStatus")]
pub(super) enum OrderStatusGql {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

/// The kind of change an order event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "OrderEventKind", remote = "wirebench_domain::OrderEventKind")]
pub(super) enum OrderEventKindGql {
    Created,
    StatusChanged,
    Deleted,
}

#[derive(Debug)]
pub(super) struct UserNode(pub(super) User);

/// A full user profile.
#[Object(name = "User")]
impl UserNode {
    #[graphql(complexity = 0)]
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }

    #[graphql(complexity = 0)]
    async fn name(&self) -> &str {
        &self.0.name
    }

    #[graphql(complexity = 0)]
    async fn email(&self) -> &str {
        &self.0.email
    }

    #[graphql(complexity = 0)]
    async fn phone(&self) -> &str {
        &self.0.phone
    }

    async fn address(&self) -> AddressRef<'_> {
        AddressRef(&self.0.address)
    }

    #[graphql(complexity = 0)]
    async fn company(&self) -> &str {
        &self.0.company
    }

    #[graphql(complexity = 0)]
    async fn avatar_url(&self) -> &str {
        &self.0.avatar_url
    }

    #[graphql(complexity = 0)]
    async fn bio(&self) -> &str {
        &self.0.bio
    }

    async fn preferences(&self) -> PreferencesRef<'_> {
        PreferencesRef(&self.0.preferences)
    }

    #[graphql(complexity = 0)]
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }

    #[graphql(complexity = 0)]
    async fn created_at(&self) -> DateTime {
        DateTime::of(&self.0.created_at)
    }

    #[graphql(complexity = 0)]
    async fn updated_at(&self) -> DateTime {
        DateTime::of(&self.0.updated_at)
    }

    /// The user's orders, newest first.
    #[graphql(complexity = "connection_cost(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        status: Option<OrderStatusGql>,
    ) -> Option<OrderConnection> {
        let result: Result<OrderConnection> = async {
            let args = OrdersArgs { first: page_size(first)?, after, status: status.map(Into::into) };
            let query = args.query();
            let page = match ctx.data_opt::<DataLoader<OrdersLoader>>() {
                Some(loader) => {
                    let key = UserOrdersKey { user_id: self.0.id, args };
                    let loaded = loader.load_one(key).await.unwrap_or_else(|never| match never {});
                    loaded.unwrap_or(Err(DomainError::NotFound { kind: "user", id: self.0.id })).gql()?
                }
                None => Arc::new(OrderPage::from(store(ctx).user_orders(self.0.id, &query).await.gql()?)),
            };
            Ok(OrderConnection { page, query })
        }
        .await;
        nullable(ctx, result)
    }
}

#[derive(Debug)]
pub(super) struct AddressRef<'a>(&'a Address);

/// A postal address.
#[Object(name = "Address")]
impl AddressRef<'_> {
    #[graphql(complexity = 0)]
    async fn line1(&self) -> &str {
        &self.0.line1
    }

    /// Empty when the address has no second line.
    #[graphql(complexity = 0)]
    async fn line2(&self) -> &str {
        &self.0.line2
    }

    #[graphql(complexity = 0)]
    async fn city(&self) -> &str {
        &self.0.city
    }

    #[graphql(complexity = 0)]
    async fn region(&self) -> &str {
        &self.0.region
    }

    #[graphql(complexity = 0)]
    async fn postal_code(&self) -> &str {
        &self.0.postal_code
    }

    /// ISO 3166-1 alpha-2.
    #[graphql(complexity = 0)]
    async fn country(&self) -> &str {
        &self.0.country
    }
}

#[derive(Debug)]
pub(super) struct PreferencesRef<'a>(&'a Preferences);

/// A user's settings.
#[Object(name = "Preferences")]
impl PreferencesRef<'_> {
    /// BCP 47 language tag.
    #[graphql(complexity = 0)]
    async fn language(&self) -> &str {
        &self.0.language
    }

    /// ISO 4217 currency the user pays in.
    #[graphql(complexity = 0)]
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    #[graphql(complexity = 0)]
    async fn newsletter(&self) -> bool {
        self.0.newsletter
    }

    #[graphql(complexity = 0)]
    async fn theme(&self) -> &str {
        &self.0.theme
    }

    /// Channels the user wants notifications on ("email", "sms", "push").
    #[graphql(complexity = 0)]
    async fn notifications(&self) -> &[String] {
        &self.0.notifications
    }
}

#[derive(Debug)]
pub(super) struct OrderNode(pub(super) Order);

/// An order. Money is integer cents.
#[Object(name = "Order")]
impl OrderNode {
    #[graphql(complexity = 0)]
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }

    #[graphql(complexity = 0)]
    async fn user_id(&self) -> ID {
        ID::from(self.0.user_id)
    }

    #[graphql(complexity = 0)]
    async fn status(&self) -> OrderStatusGql {
        self.0.status.into()
    }

    async fn items(&self) -> Vec<LineItemRef<'_>> {
        self.0.items.iter().map(LineItemRef).collect()
    }

    /// Sum of quantity × unit price over the items.
    #[graphql(complexity = 0)]
    async fn total_cents(&self) -> i64 {
        self.0.total_cents
    }

    /// ISO 4217.
    #[graphql(complexity = 0)]
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    async fn shipping_address(&self) -> AddressRef<'_> {
        AddressRef(&self.0.shipping_address)
    }

    #[graphql(complexity = 0)]
    async fn created_at(&self) -> DateTime {
        DateTime::of(&self.0.created_at)
    }
}

#[derive(Debug)]
pub(super) struct LineItemRef<'a>(&'a LineItem);

/// One product line of an order.
#[Object(name = "LineItem")]
impl LineItemRef<'_> {
    #[graphql(complexity = 0)]
    async fn sku(&self) -> &str {
        &self.0.sku
    }

    #[graphql(complexity = 0)]
    async fn name(&self) -> &str {
        &self.0.name
    }

    #[graphql(complexity = 0)]
    async fn quantity(&self) -> u32 {
        self.0.quantity
    }

    #[graphql(complexity = 0)]
    async fn unit_price_cents(&self) -> i64 {
        self.0.unit_price_cents
    }
}

#[derive(Debug)]
pub(super) struct OrderEventNode {
    seq: u64,
    kind: OrderEventKindGql,
    order: OrderNode,
}

impl From<OrderEvent> for OrderEventNode {
    fn from(e: OrderEvent) -> Self {
        OrderEventNode { seq: e.seq, kind: e.kind.into(), order: OrderNode(e.order) }
    }
}

/// A change to an order.
#[Object(name = "OrderEvent")]
impl OrderEventNode {
    /// Position in the feed, increasing by one per event.
    async fn seq(&self) -> u64 {
        self.seq
    }

    async fn kind(&self) -> OrderEventKindGql {
        self.kind
    }

    /// The order after the change (for `DELETED`, the order as it was).
    async fn order(&self) -> &OrderNode {
        &self.order
    }
}

/// The answer to `createOrder`.
#[derive(Debug, SimpleObject)]
pub(super) struct CreateOrderPayload {
    pub(super) order: OrderNode,
    /// True when the idempotency key replayed an earlier creation.
    pub(super) replayed: bool,
}

/// The domain's import summary as GraphQL shows it.
pub(super) struct ImportSummaryNode(pub(super) wirebench_domain::ImportSummary);

/// What `importOrders` did, item by item summed up.
#[Object(name = "ImportSummary")]
impl ImportSummaryNode {
    async fn received(&self) -> u32 {
        self.0.received
    }

    async fn created(&self) -> u32 {
        self.0.created
    }

    async fn replayed(&self) -> u32 {
        self.0.replayed
    }

    async fn failed(&self) -> u32 {
        self.0.failed
    }

    /// Ids of the orders created or replayed, in input order.
    async fn order_ids(&self) -> Vec<ID> {
        self.0.order_ids.iter().map(|&id| ID::from(id)).collect()
    }

    /// Sum of the totals of the orders created or replayed.
    async fn total_cents(&self) -> i64 {
        self.0.total_cents
    }

    /// One `"index: message"` per failed item.
    async fn errors(&self) -> &[String] {
        &self.0.errors
    }
}

// Connections: pages of orders and users, with cursors.

/// Where a page ends.
#[derive(Debug, SimpleObject)]
pub(super) struct PageInfo {
    #[graphql(complexity = 0)]
    has_next_page: bool,
    /// Pass as `after` to get the next page; null on the last page.
    #[graphql(complexity = 0)]
    end_cursor: Option<String>,
}

/// One page of orders, shared (through the DataLoader) without copying.
#[derive(Debug)]
pub(super) struct OrderPage {
    pub(super) nodes: Vec<OrderNode>,
    pub(super) next_cursor: Option<String>,
}

impl From<Page<Order>> for OrderPage {
    fn from(page: Page<Order>) -> Self {
        OrderPage { nodes: page.items.into_iter().map(OrderNode).collect(), next_cursor: page.next_cursor }
    }
}

#[derive(Debug)]
pub(super) struct OrderConnection {
    pub(super) page: Arc<OrderPage>,
    /// The listing the page came from: its sort gives each edge's cursor.
    pub(super) query: OrderQuery,
}

/// A page of orders.
#[Object]
impl OrderConnection {
    async fn edges(&self) -> Vec<OrderEdge<'_>> {
        self.page.nodes.iter().map(|node| OrderEdge { node, query: &self.query }).collect()
    }

    async fn nodes(&self) -> &[OrderNode] {
        &self.page.nodes
    }

    #[graphql(complexity = 0)]
    async fn page_info(&self) -> PageInfo {
        PageInfo { has_next_page: self.page.next_cursor.is_some(), end_cursor: self.page.next_cursor.clone() }
    }
}

#[derive(Debug)]
pub(super) struct OrderEdge<'a> {
    node: &'a OrderNode,
    query: &'a OrderQuery,
}

/// An order and the cursor right after it.
#[Object]
impl OrderEdge<'_> {
    /// Pass as `after` to continue after this order.
    #[graphql(complexity = 0)]
    async fn cursor(&self) -> String {
        self.query.cursor_after(&self.node.0)
    }

    async fn node(&self) -> &OrderNode {
        self.node
    }
}

#[derive(Debug)]
pub(super) struct UserConnection {
    pub(super) nodes: Vec<UserNode>,
    pub(super) next_cursor: Option<String>,
}

/// A page of users, in id order. (No `edges`: the domain issues user cursors only at the
/// end of a page.)
#[Object]
impl UserConnection {
    async fn nodes(&self) -> &[UserNode] {
        &self.nodes
    }

    #[graphql(complexity = 0)]
    async fn page_info(&self) -> PageInfo {
        PageInfo { has_next_page: self.next_cursor.is_some(), end_cursor: self.next_cursor.clone() }
    }
}
