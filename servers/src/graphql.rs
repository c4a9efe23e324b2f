//! GraphQL over HTTP (POST, HTTP/1.1 and h2c on one port) and over WebSockets
//! (graphql-transport-ws), with async-graphql on axum.
//!
//! Endpoints:
//! - `POST /graphql`: queries and mutations; `User.orders` is batched by a DataLoader.
//! - `POST /graphql/no-dataloader`: the same schema resolving `User.orders` with one store
//!   call per user, so the N+1 problem can be measured next to its fix.
//! - `GET /graphql/ws`: subscriptions (and queries and mutations sent as `subscribe`
//!   messages) over the graphql-transport-ws protocol (the legacy graphql-ws protocol is
//!   accepted too).
//! - `GET /graphql` and `GET /graphql/no-dataloader`: GraphiQL.
//!
//! The schema's types wrap the domain's records and borrow from them: the domain knows
//! nothing of GraphQL. Ids are `ID` scalars carrying the decimal `u64`; money is integer
//! cents as `Int`; timestamps are the `DateTime` scalar in the canonical JSON form (RFC 3339,
//! UTC, `Z`). Domain errors become GraphQL errors whose `extensions.code` is one of
//! `NOT_FOUND`, `BAD_USER_INPUT`, `CONFLICT`, `IDEMPOTENCY_KEY_REUSED` or `PAYLOAD_TOO_LARGE`
//! (plus `extensions.reason`, the domain's own code shared by every protocol). Root fields
//! are nullable, so a failing field is `null` next to its error and the rest of the answer
//! stands.
//!
//! Limits: [`MAX_DEPTH`] and [`MAX_COMPLEXITY`] per operation (see [`MAX_COMPLEXITY`] for
//! how cost is counted), `max_body_bytes` per HTTP body and per WebSocket message. A body
//! that is too large, not JSON or not a GraphQL request gets a 4xx with a GraphQL-shaped
//! error body (`{"errors":[{"message", "extensions":{"code"}}]}`); unknown routes get the
//! REST server's `{"error", "message"}` 404.
//!
//! The contract `schema/shop.graphql` is the schema's SDL, from [`sdl`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    BatchRequest, BatchResponse, Context, Enum, Error, ErrorExtensionValues, ErrorExtensions, ID,
    InputObject, InputValueError, InputValueResult, Object, Request, Result, Scalar, ScalarType, Schema,
    ServerError, ServerResult, SimpleObject, Subscription, ValidationResult, Value, Variables,
};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{SinkExt, StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use wirebench_domain::{
    Address, BatchItem, DomainError, Id, LineItem, MAX_LIMIT, NewOrder, Order, OrderEvent, OrderQuery, Page,
    Preferences, Sort, Store, StoreConfig, User,
};

use crate::{ProtocolServer, ServerContext};

/// Queries and mutations, with the DataLoader.
pub const PATH: &str = "/graphql";
/// Queries and mutations, without the DataLoader (one store call per user's orders).
pub const NO_DATALOADER_PATH: &str = "/graphql/no-dataloader";
/// graphql-transport-ws: subscriptions, and queries and mutations as `subscribe` messages.
pub const WS_PATH: &str = "/graphql/ws";

/// Deepest selection an operation may have (`{ a { b } }` has depth 2).
pub const MAX_DEPTH: usize = 12;
/// Deepest selection an introspection-only operation may have. The introspection query
/// every client sends (graphql-js `getIntrospectionQuery`, GraphiQL) nests `ofType` seven
/// times and reaches depth 13, so introspection gets a little more room than data.
pub const MAX_INTROSPECTION_DEPTH: usize = 15;
/// Most an operation may cost. Cost counts objects, not scalars: a scalar field costs 0,
/// an object field 1 plus its selection, and a connection `1 + first × (its selection)`, so
/// a page of `first` nodes costs about `first` times one node. A user's 1000 orders'
/// `id totalCents status` cost 1002; `orders(first: 1000)` with every order field under
/// `nodes` costs 3001 (each order is 1, plus 1 for `shippingAddress` and 1 for `items`).
/// A nested list without a page size (an order's `items`) costs as one object.
pub const MAX_COMPLEXITY: usize = 5000;
/// How long the DataLoader waits to gather keys before it calls the store: none beyond
/// the poll that registered them. Every key of one list (the users of one page) is
/// registered in a single poll of the request's task, and the load task spawned by the
/// first key in practice starts only after that poll ends (it is spawned onto the same
/// worker, then waits for a tick of async-graphql's timer thread), so one page of users
/// still makes one batched call (a test checks it). Any wait would be added to every query that reaches
/// `User.orders`; async-graphql's default is 1 ms. Concurrent requests are batched together
/// when their keys happen to meet in the same window.
pub const DATALOADER_DELAY: Duration = Duration::ZERO;

/// The GraphQL server.
#[derive(Debug)]
pub struct Graphql;

impl ProtocolServer for Graphql {
    fn name(&self) -> &'static str {
        "graphql"
    }

    fn describe(&self) -> &'static str {
        "GraphQL over HTTP POST (h1 and h2c) and graphql-transport-ws, with and without a DataLoader"
    }

    fn url(&self, addr: std::net::SocketAddr) -> String {
        format!("http://{addr}{PATH}")
    }

    fn contracts(&self) -> Vec<(&'static str, String)> {
        vec![("shop.graphql", sdl())]
    }

    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, std::io::Result<()>> {
        crate::serve_axum(listener, router(ctx, shutdown.clone()), shutdown)
    }
}

/// The shop's GraphQL schema.
pub type ShopSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema over `ctx`'s store; `dataloader` batches `User.orders` across users.
pub fn schema(ctx: &ServerContext, dataloader: bool) -> ShopSchema {
    let mut builder =
        Schema::build(QueryRoot, MutationRoot, SubscriptionRoot).data(ctx.store.clone()).extension(Limits);
    if dataloader {
        let loader = DataLoader::new(UserOrdersLoader { store: ctx.store.clone() }, tokio::spawn)
            .delay(DATALOADER_DELAY);
        builder = builder.data(loader);
    }
    builder.finish()
}

/// The schema's SDL, as written to `schema/shop.graphql`.
pub fn sdl() -> String {
    let ctx = ServerContext {
        store: Arc::new(Store::new(StoreConfig::default())),
        config: crate::ServerConfig::default(),
    };
    let mut text = schema(&ctx, true).sdl().trim_end().to_owned();
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------
// Errors.

/// A GraphQL error with `extensions.code`.
fn coded(message: impl Into<String>, code: &'static str) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// A client mistake in an argument.
fn bad_input(message: impl Into<String>) -> Error {
    coded(message, "BAD_USER_INPUT")
}

/// The one mapping from domain errors to GraphQL errors.
fn domain_error(e: &DomainError) -> Error {
    let code = match e {
        DomainError::NotFound { .. } => "NOT_FOUND",
        DomainError::Invalid(_) | DomainError::InvalidCursor(_) => "BAD_USER_INPUT",
        DomainError::Conflict(_) | DomainError::IdempotencyInFlight { .. } => "CONFLICT",
        DomainError::IdempotencyMismatch { .. } => "IDEMPOTENCY_KEY_REUSED",
        DomainError::TooLarge(_) => "PAYLOAD_TOO_LARGE",
    };
    let reason = e.code();
    Error::new(e.to_string()).extend_with(|_, ext| {
        ext.set("code", code);
        ext.set("reason", reason);
    })
}

/// `.gql()` maps a domain result. (A bare `?` would also compile, through async-graphql's
/// blanket `From<Display>`, but would lose the code; always go through here.)
trait GqlResult<T> {
    fn gql(self) -> Result<T>;
}

impl<T> GqlResult<T> for std::result::Result<T, DomainError> {
    fn gql(self) -> Result<T> {
        self.map_err(|e| domain_error(&e))
    }
}

/// Parses an `ID` argument into a domain id.
fn parse_id(id: &ID, what: &str) -> Result<Id> {
    id.parse().map_err(|_| bad_input(format!("{what} must be a decimal integer id, got {:?}", id.as_str())))
}

/// Checks a page size argument.
fn page_size(first: i32) -> Result<u32> {
    u32::try_from(first)
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| bad_input(format!("first must be between 1 and {MAX_LIMIT}, got {first}")))
}

/// Cost of a connection field: its own object plus `first` times its selection.
fn connection_cost(first: i32, child_complexity: usize) -> usize {
    let first = usize::try_from(first.clamp(1, MAX_LIMIT as i32)).unwrap_or(1);
    first.saturating_mul(child_complexity).saturating_add(1)
}

/// Resolves a nullable field: an error becomes `null` at this very field plus an entry in
/// `errors`, as GraphQL specifies (async-graphql would otherwise null the nearest nullable
/// ancestor, e.g. a whole page of users for one user's bad `orders` arguments).
fn nullable<T>(ctx: &Context<'_>, result: Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            ctx.add_error(ctx.set_error_path(e.into_server_error(ctx.item.pos)));
            None
        }
    }
}

fn store<'a>(ctx: &Context<'a>) -> &'a Arc<Store> {
    ctx.data_unchecked::<Arc<Store>>()
}

// ---------------------------------------------------------------------------------------
// Scalars and enums.

/// A timestamp, kept as its canonical JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DateTime(String);

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
enum OrderStatusGql {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

/// The kind of change an order event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "OrderEventKind", remote = "wirebench_domain::OrderEventKind")]
enum OrderEventKindGql {
    Created,
    StatusChanged,
    Deleted,
}

// ---------------------------------------------------------------------------------------
// Output objects: thin wrappers that borrow from the domain's records.

#[derive(Debug)]
struct UserNode(User);

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
            let page = match ctx.data_opt::<DataLoader<UserOrdersLoader>>() {
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
struct AddressRef<'a>(&'a Address);

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
struct PreferencesRef<'a>(&'a Preferences);

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
struct OrderNode(Order);

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
struct LineItemRef<'a>(&'a LineItem);

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
struct OrderEventNode {
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

// ---------------------------------------------------------------------------------------
// Connections.

/// Where a page ends.
#[derive(Debug, SimpleObject)]
struct PageInfo {
    #[graphql(complexity = 0)]
    has_next_page: bool,
    /// Pass as `after` to get the next page; null on the last page.
    #[graphql(complexity = 0)]
    end_cursor: Option<String>,
}

/// One page of orders, shared (through the DataLoader) without copying.
#[derive(Debug)]
struct OrderPage {
    nodes: Vec<OrderNode>,
    next_cursor: Option<String>,
}

impl From<Page<Order>> for OrderPage {
    fn from(page: Page<Order>) -> Self {
        OrderPage { nodes: page.items.into_iter().map(OrderNode).collect(), next_cursor: page.next_cursor }
    }
}

#[derive(Debug)]
struct OrderConnection {
    page: Arc<OrderPage>,
    /// The listing the page came from: its sort gives each edge's cursor.
    query: OrderQuery,
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
struct OrderEdge<'a> {
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
struct UserConnection {
    nodes: Vec<UserNode>,
    next_cursor: Option<String>,
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

// ---------------------------------------------------------------------------------------
// The DataLoader behind `User.orders`.

/// The arguments that shape a page of a user's orders; keys with equal arguments share one
/// store call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct OrdersArgs {
    first: u32,
    after: Option<String>,
    status: Option<wirebench_domain::OrderStatus>,
}

impl OrdersArgs {
    /// Newest first, as "a user's recent orders" always is.
    fn query(&self) -> OrderQuery {
        OrderQuery { status: self.status, cursor: self.after.clone(), ..OrderQuery::recent(self.first) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct UserOrdersKey {
    user_id: Id,
    args: OrdersArgs,
}

/// One batch of keys → one `Store::orders_of_users` call per distinct [`OrdersArgs`].
/// Errors are per key, so one bad cursor never fails another request's keys.
#[derive(Debug)]
struct UserOrdersLoader {
    store: Arc<Store>,
}

type PageResult = std::result::Result<Arc<OrderPage>, DomainError>;

impl Loader<UserOrdersKey> for UserOrdersLoader {
    type Value = PageResult;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[UserOrdersKey],
    ) -> std::result::Result<HashMap<UserOrdersKey, PageResult>, Infallible> {
        let mut groups: HashMap<&OrdersArgs, Vec<Id>> = HashMap::new();
        for key in keys {
            groups.entry(&key.args).or_default().push(key.user_id);
        }
        let calls = groups.into_iter().map(|(args, ids)| async move {
            let result = self.store.orders_of_users(&ids, &args.query()).await;
            (args, ids, result)
        });
        let mut out = HashMap::with_capacity(keys.len());
        for (args, ids, result) in futures::future::join_all(calls).await {
            for id in ids {
                let value = match &result {
                    Err(e) => Err(e.clone()),
                    Ok(_) => Err(DomainError::NotFound { kind: "user", id }),
                };
                out.insert(UserOrdersKey { user_id: id, args: args.clone() }, value);
            }
            if let Ok(pages) = result {
                for (id, page) in pages {
                    out.insert(UserOrdersKey { user_id: id, args: args.clone() }, Ok(Arc::new(page.into())));
                }
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Inputs.

/// A postal address.
#[derive(Debug, InputObject)]
struct AddressInput {
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
struct LineItemInput {
    sku: String,
    name: String,
    quantity: u32,
    unit_price_cents: i64,
}

/// What a client sends to create an order; the server assigns id, status, total and time.
#[derive(Debug, InputObject)]
struct NewOrderInput {
    user_id: ID,
    items: Vec<LineItemInput>,
    /// ISO 4217.
    currency: String,
    shipping_address: AddressInput,
}

impl NewOrderInput {
    fn into_domain(self) -> Result<NewOrder> {
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
struct ImportOrderInput {
    idempotency_key: Option<String>,
    order: NewOrderInput,
}

/// The answer to `createOrder`.
#[derive(Debug, SimpleObject)]
struct CreateOrderPayload {
    order: OrderNode,
    /// True when the idempotency key replayed an earlier creation.
    replayed: bool,
}

/// What `importOrders` did, item by item summed up.
#[derive(Debug, Default, SimpleObject)]
struct ImportSummary {
    received: u32,
    created: u32,
    replayed: u32,
    failed: u32,
    /// Ids of the orders created or replayed, in input order.
    order_ids: Vec<ID>,
    /// Sum of the totals of the orders created or replayed.
    total_cents: i64,
    /// One `"index: message"` per failed item.
    errors: Vec<String>,
}

impl From<wirebench_domain::ImportSummary> for ImportSummary {
    fn from(s: wirebench_domain::ImportSummary) -> Self {
        ImportSummary {
            received: s.received,
            created: s.created,
            replayed: s.replayed,
            failed: s.failed,
            order_ids: s.order_ids.into_iter().map(ID::from).collect(),
            total_cents: s.total_cents,
            errors: s.errors,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Roots.

/// Reads.
#[derive(Debug)]
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// One user; null (with a NOT_FOUND error) when there is none.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Option<UserNode> {
        let result: Result<UserNode> = async {
            let id = parse_id(&id, "id")?;
            Ok(UserNode(store(ctx).get_user(id).await.gql()?))
        }
        .await;
        nullable(ctx, result)
    }

    /// Users in id order.
    #[graphql(complexity = "connection_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Option<UserConnection> {
        let result: Result<UserConnection> = async {
            let page = store(ctx).list_users(after.as_deref(), page_size(first)?).await.gql()?;
            let nodes = page.items.into_iter().map(UserNode).collect();
            Ok(UserConnection { nodes, next_cursor: page.next_cursor })
        }
        .await;
        nullable(ctx, result)
    }

    /// One order; null (with a NOT_FOUND error) when there is none.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Option<OrderNode> {
        let result: Result<OrderNode> = async {
            let id = parse_id(&id, "id")?;
            Ok(OrderNode(store(ctx).get_order(id).await.gql()?))
        }
        .await;
        nullable(ctx, result)
    }

    /// All orders. `sort` is `id`, `created_at` or `total_cents`, with a leading `-` for
    /// descending.
    #[graphql(complexity = "connection_cost(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        status: Option<OrderStatusGql>,
        #[graphql(default_with = "String::from(\"id\")")] sort: String,
    ) -> Option<OrderConnection> {
        let result: Result<OrderConnection> = async {
            let sort: Sort = sort.parse().gql()?;
            let query =
                OrderQuery { status: status.map(Into::into), sort, cursor: after, limit: page_size(first)? };
            let page = store(ctx).list_orders(&query).await.gql()?;
            Ok(OrderConnection { page: Arc::new(page.into()), query })
        }
        .await;
        nullable(ctx, result)
    }
}

/// Writes.
#[derive(Debug)]
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates an order. With an idempotency key, a repeat replays the first answer
    /// (`replayed: true`); the same key with another input is IDEMPOTENCY_KEY_REUSED.
    async fn create_order(
        &self,
        ctx: &Context<'_>,
        input: NewOrderInput,
        idempotency_key: Option<String>,
    ) -> Option<CreateOrderPayload> {
        let result: Result<CreateOrderPayload> = async {
            let new = input.into_domain()?;
            let created = store(ctx).create_order(idempotency_key.as_deref(), new).await.gql()?;
            Ok(CreateOrderPayload { order: OrderNode(created.order), replayed: created.replayed })
        }
        .await;
        nullable(ctx, result)
    }

    /// Creates many orders in one store call; each item succeeds or fails on its own.
    async fn import_orders(&self, ctx: &Context<'_>, orders: Vec<ImportOrderInput>) -> Option<ImportSummary> {
        let result: Result<ImportSummary> = async {
            // Inputs that do not convert fail on their own; the rest go to the store in one call.
            let converted: Vec<_> = orders
                .into_iter()
                .map(|item| {
                    let key = item.idempotency_key;
                    item.order.into_domain().map(|order| BatchItem { idempotency_key: key, order })
                })
                .collect();
            let batch = converted.iter().filter_map(|c| c.as_ref().ok().cloned()).collect();
            let mut outcomes = store(ctx).create_orders(batch).await.gql()?.into_iter();
            let mut summary = wirebench_domain::ImportSummary::default();
            for (i, c) in converted.iter().enumerate() {
                match c {
                    Ok(_) => summary.record(i, &outcomes.next().expect("one outcome per stored item")),
                    Err(e) => summary.fail(i, &e.message),
                }
            }
            Ok(summary.into())
        }
        .await;
        nullable(ctx, result)
    }

    /// Moves an order to `status`. Delivered and cancelled orders are final (CONFLICT).
    async fn update_order_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: OrderStatusGql,
    ) -> Option<OrderNode> {
        let result: Result<OrderNode> = async {
            let id = parse_id(&id, "id")?;
            Ok(OrderNode(store(ctx).update_order_status(id, status.into()).await.gql()?))
        }
        .await;
        nullable(ctx, result)
    }
}

/// Pushes, over graphql-transport-ws.
#[derive(Debug)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every change to an order from now on. A subscriber that falls too far behind skips
    /// the events it missed (watch `seq`) and stays subscribed.
    async fn order_events(&self, ctx: &Context<'_>) -> BoxStream<'static, OrderEventNode> {
        BroadcastStream::new(store(ctx).subscribe())
            .filter_map(|event| std::future::ready(event.ok().map(OrderEventNode::from)))
            .boxed()
    }

    /// The first `first` orders in id order, one message each, then `complete`.
    async fn stream_orders(
        &self,
        ctx: &Context<'_>,
        first: i32,
        status: Option<OrderStatusGql>,
    ) -> Result<BoxStream<'static, Result<OrderNode>>> {
        let Some(total) = u32::try_from(first).ok().filter(|&n| n > 0) else {
            return Err(bad_input(format!("first must be positive, got {first}")));
        };
        let store = store(ctx).clone();
        let query = OrderQuery { status: status.map(Into::into), ..OrderQuery::default() };
        // One store call per page of up to MAX_LIMIT orders, fetched as the stream is read.
        let pages = stream::try_unfold((store, query, total), |(store, mut query, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            query.limit = left.min(MAX_LIMIT);
            let page = store.list_orders(&query).await?;
            let left = match page.next_cursor.clone() {
                Some(cursor) => {
                    query.cursor = Some(cursor);
                    left.saturating_sub(u32::try_from(page.items.len()).unwrap_or(u32::MAX))
                }
                None => 0,
            };
            Ok(Some((stream::iter(page.items.into_iter().map(Ok)), (store, query, left))))
        });
        Ok(pages.try_flatten().map(|order| order.map(OrderNode).gql()).boxed())
    }
}

// ---------------------------------------------------------------------------------------
// Limits, as an extension: introspection gets its own depth limit, and the errors say by
// how much a limit was exceeded.

/// Installs [`MAX_DEPTH`], [`MAX_INTROSPECTION_DEPTH`] and [`MAX_COMPLEXITY`].
#[derive(Debug)]
struct Limits;

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension::default())
    }
}

#[derive(Debug, Default)]
struct LimitsExtension {
    introspection_only: AtomicBool,
}

#[async_graphql::async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        self.introspection_only.store(is_introspection_only(&doc), Ordering::Relaxed);
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> std::result::Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let max_depth =
            if self.introspection_only.load(Ordering::Relaxed) { MAX_INTROSPECTION_DEPTH } else { MAX_DEPTH };
        let too_much = |message: String| {
            let mut e = ServerError::new(message, None);
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", "GRAPHQL_VALIDATION_FAILED");
            e.extensions = Some(ext);
            vec![e]
        };
        if result.depth > max_depth {
            return Err(too_much(format!(
                "query is nested too deep: depth {}, the limit is {max_depth}",
                result.depth
            )));
        }
        if result.complexity > MAX_COMPLEXITY {
            return Err(too_much(format!(
                "query is too complex: cost {}, the limit is {MAX_COMPLEXITY} \
                 (a connection costs `first` times its selection)",
                result.complexity
            )));
        }
        Ok(result)
    }
}

/// True when every operation selects only `__schema`, `__type` and `__typename`.
fn is_introspection_only(doc: &ExecutableDocument) -> bool {
    fn only_meta<'d>(doc: &'d ExecutableDocument, set: &'d SelectionSet, seen: &mut Vec<&'d str>) -> bool {
        set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => field.node.name.node.starts_with("__"),
            Selection::InlineFragment(inline) => only_meta(doc, &inline.node.selection_set.node, seen),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if seen.contains(&name) {
                    return true; // a cycle; validation rejects it
                }
                seen.push(name);
                doc.fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| only_meta(doc, &f.node.selection_set.node, seen))
            }
        })
    }
    let mut seen = Vec::new();
    doc.operations.iter().all(|(_, op)| only_meta(doc, &op.node.selection_set.node, &mut seen))
}

// ---------------------------------------------------------------------------------------
// HTTP.

#[derive(Clone)]
struct AppState {
    with_loader: ShopSchema,
    without_loader: ShopSchema,
    graphiql: Arc<str>,
    graphiql_no_dataloader: Arc<str>,
    max_body: usize,
    shutdown: CancellationToken,
}

/// A transport-level failure (the request never reached GraphQL), in the GraphQL response
/// shape with `extensions.code`.
fn http_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message.into(), "extensions": { "code": code } }]
    });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string())
        .into_response()
}

/// The body as one request or a batch (a JSON array), with serde's own account of what is
/// wrong when it is neither.
fn parse_body(body: &[u8]) -> std::result::Result<BatchRequest, String> {
    if body.trim_ascii().is_empty() {
        return Err("the body is empty; send {\"query\": \"...\"}".into());
    }
    let describe = |e: serde_json::Error| match e.classify() {
        serde_json::error::Category::Data => {
            format!("the body is JSON but not a GraphQL request {{\"query\": \"...\"}}: {e}")
        }
        _ => format!("malformed JSON body: {e}"),
    };
    if body.trim_ascii_start().starts_with(b"[") {
        let batch: Vec<Request> = serde_json::from_slice(body).map_err(describe)?;
        if batch.is_empty() {
            return Err("a batch must hold at least one request".into());
        }
        Ok(BatchRequest::Batch(batch))
    } else {
        let request: Request = serde_json::from_slice(body).map_err(describe)?;
        Ok(BatchRequest::Single(request))
    }
}

fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(ct) = content_type.to_str() else { return false };
    let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// GraphQL-over-HTTP: a client that accepts `application/graphql-response+json` gets it,
/// and with it a 400 for a request that could not be executed at all.
fn accepts_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/graphql-response+json"))
}

async fn execute(
    schema: &ShopSchema,
    max_body: usize,
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(ct) = headers.get(header::CONTENT_TYPE)
        && !is_json(ct)
    {
        return http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("send the request as application/json, not {ct:?}"),
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return http_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the request body is larger than the limit of {max_body} bytes"),
            );
        }
        Err(r) => return http_error(r.status(), "BAD_REQUEST", r.body_text()),
    };
    let batch = match parse_body(&body) {
        Ok(batch) => batch,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
    };
    let modern = accepts_graphql_response(headers);
    let response: BatchResponse = match batch {
        BatchRequest::Single(request) => schema.execute(request).await.into(),
        batch => schema.execute_batch(batch).await,
    };
    let status = match &response {
        BatchResponse::Single(r) if modern && r.data == Value::Null && !r.errors.is_empty() => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    let content_type = if modern { "application/graphql-response+json" } else { "application/json" };
    match serde_json::to_vec(&response) {
        Ok(json) => {
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], json).into_response()
        }
        Err(e) => http_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", e.to_string()),
    }
}

async fn post_with_loader(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    execute(&s.with_loader, s.max_body, &headers, body).await
}

async fn post_without_loader(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    execute(&s.without_loader, s.max_body, &headers, body).await
}

async fn graphiql(State(s): State<AppState>) -> Html<String> {
    Html(s.graphiql.to_string())
}

async fn graphiql_no_dataloader(State(s): State<AppState>) -> Html<String> {
    Html(s.graphiql_no_dataloader.to_string())
}

/// Upgrades to graphql-transport-ws (or the legacy graphql-ws), with the body limit as the
/// message limit.
async fn websocket(
    State(s): State<AppState>,
    upgrade: std::result::Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    protocol: std::result::Result<GraphQLProtocol, StatusCode>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(r) => return http_error(r.status(), "BAD_REQUEST", r.body_text()),
    };
    let Ok(protocol) = protocol else {
        return http_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "name a subprotocol: Sec-WebSocket-Protocol: graphql-transport-ws",
        );
    };
    let max = s.max_body;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(socket, s.with_loader, protocol, max, s.shutdown))
}

/// Runs one socket until the client leaves, a message cannot be read, or shutdown; the last
/// two end with a close frame that says why.
async fn serve_socket(
    socket: WebSocket,
    schema: ShopSchema,
    protocol: GraphQLProtocol,
    max: usize,
    shutdown: CancellationToken,
) {
    let (mut sink, stream) = socket.split();
    let unreadable = AtomicBool::new(false);
    let stream = stream.inspect(|message| {
        if message.is_err() {
            unreadable.store(true, Ordering::Relaxed);
        }
    });
    let shut_down = {
        let serve = GraphQLWebSocket::new_with_pair(&mut sink, stream, schema, protocol).serve();
        tokio::select! {
            () = serve => false,
            () = shutdown.cancelled() => true,
        }
    };
    let close = if shut_down {
        Some((1001, "server shutting down".to_owned()))
    } else if unreadable.load(Ordering::Relaxed) {
        Some((1009, format!("unreadable message (larger than {max} bytes?)")))
    } else {
        None
    };
    if let Some((code, reason)) = close {
        let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let body = serde_json::json!({
        "error": "not_found",
        "message": format!("no route for {method} {}; GraphQL is at {PATH}", uri.path()),
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let body = serde_json::json!({
        "error": "method_not_allowed",
        "message": format!("{method} is not allowed on {}", uri.path()),
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// The whole GraphQL application, apart from any socket.
pub fn app(ctx: ServerContext) -> Router {
    router(ctx, CancellationToken::new())
}

fn router(ctx: ServerContext, shutdown: CancellationToken) -> Router {
    use axum::routing::get;
    let page = |endpoint: &str| -> Arc<str> {
        GraphiQLSource::build()
            .endpoint(endpoint)
            .subscription_endpoint(WS_PATH)
            .title("wirebench shop")
            .finish()
            .into()
    };
    let state = AppState {
        with_loader: schema(&ctx, true),
        without_loader: schema(&ctx, false),
        graphiql: page(PATH),
        graphiql_no_dataloader: page(NO_DATALOADER_PATH),
        max_body: ctx.config.max_body_bytes,
        shutdown,
    };
    Router::new()
        .route(PATH, get(graphiql).post(post_with_loader))
        .route(NO_DATALOADER_PATH, get(graphiql_no_dataloader).post(post_without_loader))
        .route(WS_PATH, get(websocket))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(ctx.config.max_body_bytes))
        .layer(CompressionLayer::new())
}
