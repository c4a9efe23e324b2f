//! GraphQL client: queries and mutations as HTTP/1.1 POSTs (keep-alive), stream-orders as a
//! subscription and track-orders as N queries over one graphql-transport-ws socket.
//!
//! Two variants: `graphql` (the DataLoader endpoint) and `graphql-no-dataloader` (the same
//! schema resolving each user's orders with its own store call), which differs only where
//! the DataLoader can matter, user-orders.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use futures::{SinkExt, StreamExt};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wirebench_domain as d;

use super::{Call, ClientError, Connection, Marks, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::wire::{Counted, WireCounters};

/// A GraphQL variant.
#[derive(Debug)]
pub struct Graphql {
    name: &'static str,
    describe: &'static str,
    path: &'static str,
}

pub static GRAPHQL: Graphql = Graphql {
    name: "graphql",
    describe: "GraphQL: POST /graphql over HTTP/1.1, subscriptions and N-query conversations over graphql-transport-ws",
    path: "/graphql",
};
pub static GRAPHQL_NO_DATALOADER: Graphql = Graphql {
    name: "graphql-no-dataloader",
    describe: "the same GraphQL queries on /graphql/no-dataloader (per-user store calls, no batching)",
    path: "/graphql/no-dataloader",
};

/// Every field of an order, aliased to the domain's names.
const ORDER: &str = "id user_id: userId status items { sku name quantity unit_price_cents: unitPriceCents } \
    total_cents: totalCents currency shipping_address: shippingAddress { line1 line2 city region \
    postal_code: postalCode country } created_at: createdAt";

/// The catalog's get-user query (the codec benches execute the same text).
pub const GET_USER: &str = "query($id: ID!) { user(id: $id) { id name email phone address { line1 line2 city region \
    postal_code: postalCode country } company avatar_url: avatarUrl bio preferences { language currency \
    newsletter theme notifications } tags created_at: createdAt updated_at: updatedAt } }";
const USER_ORDERS: &str = "query($id: ID!, $n: Int!) { user(id: $id) { name orders(first: $n) { nodes { id total_cents: totalCents status } } } }";

/// The catalog's list-orders query, for `$n` orders (the codec benches execute it too).
pub fn list_orders() -> String {
    format!("query($n: Int!) {{ orders(first: $n) {{ nodes {{ {ORDER} }} }} }}")
}
fn stream_orders() -> String {
    format!("subscription($n: Int!) {{ streamOrders(first: $n) {{ {ORDER} }} }}")
}
fn get_order() -> String {
    format!("query($id: ID!) {{ order(id: $id) {{ {ORDER} }} }}")
}
fn create_order() -> String {
    format!(
        "mutation($input: NewOrderInput!, $key: String) {{ createOrder(input: $input, idempotencyKey: $key) \
         {{ replayed order {{ {ORDER} }} }} }}"
    )
}
const IMPORT_ORDERS: &str = "mutation($orders: [ImportOrderInput!]!) { importOrders(orders: $orders) { received \
    created replayed failed order_ids: orderIds total_cents: totalCents errors } }";

impl Protocol for Graphql {
    fn name(&self) -> &'static str {
        self.name
    }

    fn describe(&self) -> &'static str {
        self.describe
    }

    fn server(&self) -> &'static str {
        "graphql"
    }

    fn unsupported(&self, op: Operation) -> Option<&'static str> {
        (self.path != GRAPHQL.path && op != Operation::UserOrders).then_some(
            "same requests as `graphql`: this variant differs only where the DataLoader resolves orders",
        )
    }

    fn connect(
        &'static self,
        addr: SocketAddr,
        op: Operation,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Connection>, ClientError>> {
        Box::pin(async move {
            let (stream, counters) = crate::wire::connect(addr).await.map_err(ClientError::Connect)?;
            let transport = if matches!(op, Operation::StreamOrders | Operation::TrackOrders) {
                let mut req = format!("ws://{addr}/graphql/ws").into_client_request().map_err(ws_error)?;
                req.headers_mut()
                    .insert("sec-websocket-protocol", http::HeaderValue::from_static("graphql-transport-ws"));
                let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.map_err(ws_error)?;
                ws.send(Message::text(r#"{"type":"connection_init"}"#)).await.map_err(ws_error)?;
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.contains("connection_ack") => {}
                    other => return Err(ClientError::Decode(format!("no connection_ack: {other:?}"))),
                }
                Transport::Ws(ws)
            } else {
                let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(hyper_error)?;
                tokio::spawn(conn);
                sender.ready().await.map_err(hyper_error)?;
                Transport::Http(sender)
            };
            let authority = addr.to_string();
            Ok(Box::new(GraphqlConnection { transport, counters, authority, path: self.path, next_id: 0 })
                as Box<dyn Connection>)
        })
    }
}

fn hyper_error(e: hyper::Error) -> ClientError {
    ClientError::Io(std::io::Error::other(e))
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> ClientError {
    ClientError::Io(std::io::Error::other(e))
}

/// One connection holds one of these for its whole life, so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Transport {
    Http(http1::SendRequest<Full<Bytes>>),
    Ws(WebSocketStream<Counted<TcpStream>>),
}

struct GraphqlConnection {
    transport: Transport,
    counters: Arc<WireCounters>,
    authority: String,
    path: &'static str,
    next_id: u64,
}

// The GraphQL shapes, decoded and then mapped to domain types: ids are ID strings and
// statuses are upper-case enum values on this wire.

#[derive(Deserialize)]
struct Response<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(default)]
    extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct GAddress {
    line1: String,
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
}

impl From<GAddress> for d::Address {
    fn from(a: GAddress) -> Self {
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

#[derive(Deserialize)]
struct GPreferences {
    language: String,
    currency: String,
    newsletter: bool,
    theme: String,
    notifications: Vec<String>,
}

#[derive(Deserialize)]
struct GUser {
    id: String,
    name: String,
    email: String,
    phone: String,
    address: GAddress,
    company: String,
    avatar_url: String,
    bio: String,
    preferences: GPreferences,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct GOrder {
    id: String,
    user_id: String,
    status: String,
    items: Vec<d::LineItem>,
    total_cents: i64,
    currency: String,
    shipping_address: GAddress,
    created_at: DateTime<Utc>,
}

fn id(s: &str) -> Result<d::Id, ClientError> {
    s.parse().map_err(|_| ClientError::Decode(format!("ID {s:?} is not a number")))
}

fn status(s: &str) -> Result<d::OrderStatus, ClientError> {
    s.to_ascii_lowercase().parse().map_err(ClientError::decode)
}

impl GOrder {
    fn into_domain(self) -> Result<d::Order, ClientError> {
        Ok(d::Order {
            id: id(&self.id)?,
            user_id: id(&self.user_id)?,
            status: status(&self.status)?,
            items: self.items,
            total_cents: self.total_cents,
            currency: self.currency,
            shipping_address: self.shipping_address.into(),
            created_at: self.created_at,
        })
    }
}

impl GUser {
    fn into_domain(self) -> Result<d::User, ClientError> {
        let p = self.preferences;
        Ok(d::User {
            id: id(&self.id)?,
            name: self.name,
            email: self.email,
            phone: self.phone,
            address: self.address.into(),
            company: self.company,
            avatar_url: self.avatar_url,
            bio: self.bio,
            preferences: d::Preferences {
                language: p.language,
                currency: p.currency,
                newsletter: p.newsletter,
                theme: p.theme,
                notifications: p.notifications,
            },
            tags: self.tags,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Deserialize)]
struct UserData {
    user: Option<GUser>,
}

#[derive(Deserialize)]
struct GSummary {
    id: String,
    total_cents: i64,
    status: String,
}

#[derive(Deserialize)]
struct Nodes<T> {
    nodes: Vec<T>,
}

#[derive(Deserialize)]
struct NameAndOrders {
    name: String,
    orders: Nodes<GSummary>,
}

#[derive(Deserialize)]
struct UserOrdersData {
    user: Option<NameAndOrders>,
}

#[derive(Deserialize)]
struct OrdersData {
    orders: Nodes<GOrder>,
}

#[derive(Deserialize)]
struct OrderData {
    order: Option<GOrder>,
}

#[derive(Deserialize)]
struct StreamData {
    #[serde(rename = "streamOrders")]
    stream_orders: GOrder,
}

#[derive(Deserialize)]
struct CreatePayload {
    replayed: bool,
    order: GOrder,
}

#[derive(Deserialize)]
struct CreateData {
    #[serde(rename = "createOrder")]
    create_order: Option<CreatePayload>,
}

#[derive(Deserialize)]
struct GImport {
    received: u32,
    created: u32,
    replayed: u32,
    failed: u32,
    order_ids: Vec<String>,
    total_cents: i64,
    errors: Vec<String>,
}

impl GImport {
    fn into_domain(self) -> Result<d::ImportSummary, ClientError> {
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
    fn into_domain(self) -> Result<d::OrderSummary, ClientError> {
        Ok(d::OrderSummary {
            id: id(&self.id)?,
            total_cents: self.total_cents,
            status: status(&self.status)?,
        })
    }
}

#[derive(Deserialize)]
struct ImportData {
    #[serde(rename = "importOrders")]
    import_orders: Option<GImport>,
}

/// The first GraphQL error as a client error (its `extensions.code` as the code).
fn graphql_error(errors: Vec<GraphqlError>) -> ClientError {
    let e = errors.into_iter().next().map_or_else(
        || ("NO_DATA".to_owned(), "a response with neither data nor errors".to_owned()),
        |e| {
            let code =
                e.extensions.get("code").and_then(|c| c.as_str()).unwrap_or("GRAPHQL_ERROR").to_owned();
            (code, e.message)
        },
    );
    ClientError::Server { code: e.0, message: e.1 }
}

fn data<T>(r: Response<T>) -> Result<T, ClientError> {
    match (r.data, r.errors.is_empty()) {
        (Some(d), true) => Ok(d),
        (_, _) => Err(graphql_error(r.errors)),
    }
}

fn new_order_input(o: &d::NewOrder) -> serde_json::Value {
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

impl GraphqlConnection {
    /// One POST; returns the decoded response and the payload bytes each way.
    async fn post<T: DeserializeOwned>(
        &mut self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<(T, u64, u64), ClientError> {
        let Transport::Http(sender) = &mut self.transport else {
            return Err(ClientError::decode("this connection speaks graphql-transport-ws"));
        };
        let body = Bytes::from(
            serde_json::to_vec(&json!({ "query": query, "variables": variables })).expect("serializes"),
        );
        let sent = body.len() as u64;
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .expect("valid request");
        sender.ready().await.map_err(hyper_error)?;
        let res = sender.send_request(req).await.map_err(hyper_error)?;
        let status = res.status();
        let bytes = res.into_body().collect().await.map_err(hyper_error)?.to_bytes();
        if !status.is_success() {
            return Err(ClientError::Server {
                code: status.as_u16().to_string(),
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        let response: Response<T> = serde_json::from_slice(&bytes).map_err(ClientError::decode)?;
        Ok((data(response)?, sent, bytes.len() as u64))
    }

    /// Starts one operation over the socket; returns its id and the payload bytes sent.
    async fn subscribe(
        &mut self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<(String, u64), ClientError> {
        let Transport::Ws(ws) = &mut self.transport else {
            return Err(ClientError::decode("this connection speaks HTTP"));
        };
        self.next_id += 1;
        let id = self.next_id.to_string();
        let text =
            json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
                .to_string();
        let sent = text.len() as u64;
        ws.send(Message::text(text)).await.map_err(ws_error)?;
        Ok((id, sent))
    }

    /// The next message of operation `id`: `Some(payload)` for `next`, `None` for `complete`.
    async fn next_message<T: DeserializeOwned>(&mut self, id: &str) -> Result<(Option<T>, u64), ClientError> {
        #[derive(Deserialize)]
        struct Envelope<T> {
            #[serde(rename = "type")]
            kind: String,
            id: Option<String>,
            payload: Option<serde_json::Value>,
            #[serde(skip)]
            _t: std::marker::PhantomData<T>,
        }
        let Transport::Ws(ws) = &mut self.transport else {
            return Err(ClientError::decode("this connection speaks HTTP"));
        };
        loop {
            let text = match ws.next().await {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(other)) => return Err(ClientError::Decode(format!("unexpected frame {other:?}"))),
                Some(Err(e)) => return Err(ws_error(e)),
                None => return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            };
            let env: Envelope<T> = serde_json::from_str(&text).map_err(ClientError::decode)?;
            match env.kind.as_str() {
                "ping" => {
                    ws.send(Message::text(r#"{"type":"pong"}"#)).await.map_err(ws_error)?;
                    continue;
                }
                "pong" => continue,
                _ if env.id.as_deref() != Some(id) => {
                    return Err(ClientError::Decode(format!(
                        "message for {:?} while waiting for {id}",
                        env.id
                    )));
                }
                "next" => {
                    let payload = env.payload.ok_or_else(|| ClientError::decode("next without payload"))?;
                    let response: Response<T> =
                        serde_json::from_value(payload).map_err(ClientError::decode)?;
                    return Ok((Some(data(response)?), text.len() as u64));
                }
                "complete" => return Ok((None, text.len() as u64)),
                "error" => {
                    let errors: Vec<GraphqlError> =
                        env.payload.and_then(|p| serde_json::from_value(p).ok()).unwrap_or_default();
                    return Err(graphql_error(errors));
                }
                other => return Err(ClientError::Decode(format!("unexpected message type {other}"))),
            }
        }
    }
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

impl Connection for GraphqlConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    fn call<'a>(
        &'a mut self,
        op: Operation,
        p: &'a OpParams,
    ) -> LocalBoxFuture<'a, Result<Call, ClientError>> {
        Box::pin(async move {
            let user = p.user_id.to_string();
            Ok(match op {
                Operation::GetUser => {
                    let (d, s, r): (UserData, _, _) = self.post(GET_USER, json!({ "id": user })).await?;
                    let u = d.user.ok_or_else(|| ClientError::decode("user is null"))?;
                    Call::new(Outcome::User(u.into_domain()?), s, r, 1)
                }
                Operation::UserOrders => {
                    let (d, s, r): (UserOrdersData, _, _) =
                        self.post(USER_ORDERS, json!({ "id": user, "n": p.n })).await?;
                    let u = d.user.ok_or_else(|| ClientError::decode("user is null"))?;
                    let orders =
                        u.orders.nodes.into_iter().map(GSummary::into_domain).collect::<Result<_, _>>()?;
                    Call::new(Outcome::UserOrders { name: u.name, orders }, s, r, 1)
                }
                Operation::ListOrders => {
                    let (d, s, r): (OrdersData, _, _) =
                        self.post(&list_orders(), json!({ "n": p.n })).await?;
                    let orders =
                        d.orders.nodes.into_iter().map(GOrder::into_domain).collect::<Result<_, _>>()?;
                    Call::new(Outcome::Orders(orders), s, r, 1)
                }
                Operation::StreamOrders => {
                    let mut marks = Marks::start(p.n as usize);
                    let (sid, sent) = self.subscribe(&stream_orders(), json!({ "n": p.n })).await?;
                    let (mut orders, mut received) = (Vec::with_capacity(p.n as usize), 0);
                    loop {
                        let (msg, r) = self.next_message::<StreamData>(&sid).await?;
                        received += r;
                        match msg {
                            Some(d) => {
                                marks.mark();
                                orders.push(d.stream_orders.into_domain()?);
                            }
                            None => break,
                        }
                    }
                    Call {
                        outcome: Outcome::Orders(orders),
                        payload_sent: sent,
                        payload_received: received,
                        round_trips: 1,
                        message_times: marks.into_times(),
                    }
                }
                Operation::CreateOrder => {
                    let vars = json!({ "input": new_order_input(&p.new_order), "key": p.idempotency_key });
                    let (d, s, r): (CreateData, _, _) = self.post(&create_order(), vars).await?;
                    let c = d.create_order.ok_or_else(|| ClientError::decode("createOrder is null"))?;
                    Call::new(
                        Outcome::Created { order: c.order.into_domain()?, replayed: c.replayed },
                        s,
                        r,
                        1,
                    )
                }
                Operation::ImportOrders => {
                    let input = new_order_input(&p.new_order);
                    let orders: Vec<_> = (0..p.n as usize)
                        .map(|i| json!({ "idempotencyKey": p.item_key(i), "order": input }))
                        .collect();
                    let (d, s, r): (ImportData, _, _) =
                        self.post(IMPORT_ORDERS, json!({ "orders": orders })).await?;
                    let g = d.import_orders.ok_or_else(|| ClientError::decode("importOrders is null"))?;
                    Call::new(Outcome::Imported(g.into_domain()?), s, r, 1)
                }
                Operation::TrackOrders => {
                    let query = get_order();
                    let (mut orders, mut sent, mut received) = (Vec::with_capacity(p.order_ids.len()), 0, 0);
                    for order_id in &p.order_ids {
                        let (sid, s) = self.subscribe(&query, json!({ "id": order_id.to_string() })).await?;
                        let (msg, r1) = self.next_message::<OrderData>(&sid).await?;
                        let order =
                            msg.and_then(|d| d.order).ok_or_else(|| ClientError::decode("order is null"))?;
                        // Each query ends with `complete`; read it so the next pair starts clean.
                        let (end, r2) = self.next_message::<OrderData>(&sid).await?;
                        if end.is_some() {
                            return Err(ClientError::decode("a query answered twice"));
                        }
                        orders.push(order.into_domain()?);
                        (sent, received) = (sent + s, received + r1 + r2);
                    }
                    Call::new(Outcome::Orders(orders), sent, received, p.order_ids.len() as u32)
                }
            })
        })
    }
}
