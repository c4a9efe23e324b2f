//! GraphQL client: queries and mutations as HTTP/1.1 POSTs (keep-alive), stream-orders as a
//! subscription and track-orders as N queries over one graphql-transport-ws socket.
//!
//! Two variants: `graphql` (the DataLoader endpoint) and `graphql-no-dataloader` (the same
//! schema resolving each user's orders with its own store call), which differs only where
//! the DataLoader can matter, user-orders.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
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

use super::{Call, ClientError, Connection, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::wire::{Counted, WireCounters};

mod shapes;

use self::shapes::{
    CreateData, GOrder, GSummary, GraphqlError, ImportData, OrderData, OrdersData, Response, StreamData,
    UserData, UserOrdersData, data, graphql_error, new_order_input,
};
pub use self::shapes::{decode_orders, decode_user};

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

impl Operations for GraphqlConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (d, s, r): (UserData, _, _) = self.post(GET_USER, json!({ "id": p.user_id.to_string() })).await?;
        let u = d.user.ok_or_else(|| ClientError::decode("user is null"))?;
        Ok(Call::new(Outcome::User(u.into_domain()?)).payload(s, r))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let vars = json!({ "id": p.user_id.to_string(), "n": p.n });
        let (d, s, r): (UserOrdersData, _, _) = self.post(USER_ORDERS, vars).await?;
        let u = d.user.ok_or_else(|| ClientError::decode("user is null"))?;
        let orders = u.orders.nodes.into_iter().map(GSummary::into_domain).collect::<Result<_, _>>()?;
        Ok(Call::new(Outcome::UserOrders { name: u.name, orders }).payload(s, r))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (d, s, r): (OrdersData, _, _) = self.post(&list_orders(), json!({ "n": p.n })).await?;
        let orders = d.orders.nodes.into_iter().map(GOrder::into_domain).collect::<Result<_, _>>()?;
        Ok(Call::new(Outcome::Orders(orders)).payload(s, r))
    }

    /// A subscription: one `next` message per order, then `complete`.
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
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
        Ok(Call::new(Outcome::Orders(orders)).payload(sent, received).messages(marks))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let vars = json!({ "input": new_order_input(&p.new_order), "key": p.idempotency_key });
        let (d, s, r): (CreateData, _, _) = self.post(&create_order(), vars).await?;
        let c = d.create_order.ok_or_else(|| ClientError::decode("createOrder is null"))?;
        Ok(Call::new(Outcome::Created { order: c.order.into_domain()?, replayed: c.replayed }).payload(s, r))
    }

    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let input = new_order_input(&p.new_order);
        let orders: Vec<_> =
            (0..p.n as usize).map(|i| json!({ "idempotencyKey": p.item_key(i), "order": input })).collect();
        let (d, s, r): (ImportData, _, _) = self.post(IMPORT_ORDERS, json!({ "orders": orders })).await?;
        let g = d.import_orders.ok_or_else(|| ClientError::decode("importOrders is null"))?;
        Ok(Call::new(Outcome::Imported(g.into_domain()?)).payload(s, r))
    }

    /// N queries, one after another, over one graphql-transport-ws socket.
    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let query = get_order();
        let (mut orders, mut sent, mut received) = (Vec::with_capacity(p.order_ids.len()), 0, 0);
        for order_id in &p.order_ids {
            let (sid, s) = self.subscribe(&query, json!({ "id": order_id.to_string() })).await?;
            let (msg, r1) = self.next_message::<OrderData>(&sid).await?;
            let order = msg.and_then(|d| d.order).ok_or_else(|| ClientError::decode("order is null"))?;
            // Each query ends with `complete`; read it so the next pair starts clean.
            let (end, r2) = self.next_message::<OrderData>(&sid).await?;
            if end.is_some() {
                return Err(ClientError::decode("a query answered twice"));
            }
            orders.push(order.into_domain()?);
            (sent, received) = (sent + s, received + r1 + r2);
        }
        Ok(Call::new(Outcome::Orders(orders)).payload(sent, received).round_trips(p.order_ids.len() as u32))
    }
}
