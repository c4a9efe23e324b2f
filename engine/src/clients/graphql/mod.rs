//! GraphQL client: queries and mutations as HTTP/1.1 POSTs (keep-alive), stream-orders as a
//! subscription and track-orders as N queries over one graphql-transport-ws socket.
//!
//! Variants: `graphql` (the DataLoader endpoint), `graphql-no-dataloader` (the same schema
//! resolving each user's orders with its own store call), which differs only where the
//! DataLoader can matter, user-orders; `graphql-gzip` (compressed bodies) and `graphql-h2`
//! (the same POSTs over h2c, several at once on one connection with `--streams`).

use std::sync::Arc;
use wirebench_wire::Dial;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::http_conn::{Sender, hyper_error};
use super::{Call, Client, ClientError, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use wirebench_servers::coding::Coding;
use wirebench_wire::dissect::DocRules;
use wirebench_wire::docs::{Doc, json_member};
use wirebench_wire::http1::Http1;
use wirebench_wire::http2::{DocBodies, Http2};
use wirebench_wire::websocket::WebSocket;
use wirebench_wire::{Dir, Dissector, WireCounters};

mod shapes;

use self::shapes::{
    CreateData, GOrder, GSummary, GUserOrders, GraphqlError, ImportData, OrderData, OrdersData, Response,
    StreamData, UserData, UserOrdersData, UsersOrdersData, data, graphql_error, new_order_input,
};
pub use self::shapes::{decode_orders, decode_user};

/// A GraphQL variant.
#[derive(Debug)]
pub struct Graphql {
    name: &'static str,
    describe: &'static str,
    path: &'static str,
    /// Compress POST bodies and ask for compressed answers in this coding.
    coding: Option<Coding>,
    /// POST over h2c (prior knowledge) instead of HTTP/1.1.
    http2: bool,
    /// Main for POSTs over HTTP/1.1 to the server with its DataLoader, uncompressed.
    role: crate::clients::Role,
}

pub static GRAPHQL: Graphql = Graphql {
    name: "graphql",
    describe: "GraphQL: POST /graphql over HTTP/1.1, subscriptions and N-query conversations over graphql-transport-ws",
    path: "/graphql",
    coding: None,
    http2: false,
    role: crate::clients::Role::Main,
};
pub static GRAPHQL_NO_DATALOADER: Graphql = Graphql {
    name: "graphql-no-dataloader",
    describe: "the same GraphQL queries on /graphql/no-dataloader (a store call per user's orders, no batching)",
    path: "/graphql/no-dataloader",
    coding: None,
    http2: false,
    role: crate::clients::Role::Variant,
};
pub static GRAPHQL_GZIP: Graphql = Graphql {
    name: "graphql-gzip",
    describe: "the same GraphQL POSTs with gzip (level 6) bodies both ways (a compressed body counts as data)",
    path: "/graphql",
    coding: Some(Coding::Gzip),
    http2: false,
    role: crate::clients::Role::Variant,
};
pub static GRAPHQL_H2: Graphql = Graphql {
    name: "graphql-h2",
    describe: "the same GraphQL POSTs over HTTP/2 (h2c, prior knowledge): one stream per query, several at once with --streams",
    path: "/graphql",
    coding: None,
    http2: true,
    role: crate::clients::Role::Variant,
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
/// The catalog's users-orders: a user's orders are a field of each user, so a server
/// without a DataLoader resolves them one store call per user.
const USERS_ORDERS: &str = "query($n: Int!) { users(first: $n) { nodes { id name orders(first: $n) { nodes { id total_cents: totalCents status } } } } }";

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
    fn encoding(&self) -> &'static str {
        "json"
    }

    fn transport(&self) -> crate::clients::Transport {
        if self.http2 { crate::clients::Transport::Http2 } else { crate::clients::Transport::Http1 }
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn describe(&self) -> &'static str {
        self.describe
    }

    fn server(&self) -> &'static str {
        "graphql"
    }

    fn family(&self) -> &'static str {
        "GraphQL"
    }

    fn role(&self) -> crate::clients::Role {
        self.role
    }

    fn unsupported(&self, op: Operation) -> Option<&'static str> {
        if self.coding.is_some() && matches!(op, Operation::StreamOrders | Operation::TrackOrders) {
            return Some("runs over graphql-transport-ws, which this variant does not compress");
        }
        if self.http2 && matches!(op, Operation::StreamOrders | Operation::TrackOrders) {
            return Some("runs over graphql-transport-ws (an HTTP/1.1 upgrade), as `graphql` does");
        }
        (self.path != GRAPHQL.path && !matches!(op, Operation::UserOrders | Operation::UsersOrders))
            .then_some(
                "same requests as `graphql`: this variant differs only where users' orders are resolved",
            )
    }

    fn compression(&self) -> Option<(&'static str, &'static str)> {
        self.coding.map(|c| (c.name(), "graphql"))
    }

    fn multiplexes(&self) -> bool {
        self.http2
    }
}

impl Client for Graphql {
    type Conn = GraphqlConnection;

    async fn open(&'static self, dial: Dial, op: Operation) -> Result<GraphqlConnection, ClientError> {
        let over_ws = matches!(op, Operation::StreamOrders | Operation::TrackOrders);
        let dissector = if over_ws {
            Dissector::new(WebSocket::new(GraphqlDocs))
        } else if self.http2 {
            Dissector::new(Http2::new(DocBodies::new(GraphqlDocs)))
        } else {
            Dissector::new(Http1::new(GraphqlDocs))
        };
        let (stream, counters) =
            wirebench_wire::connect(&dial, dissector).await.map_err(ClientError::Connect)?;
        let transport = if over_ws {
            let mut req = format!("ws://{}/graphql/ws", dial.addr).into_client_request().map_err(ws_error)?;
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
            Transport::Http(Sender::handshake(stream, self.http2).await?)
        };
        let authority = dial.addr.to_string();
        Ok(GraphqlConnection {
            transport,
            coding: self.coding,
            counters,
            authority,
            path: self.path,
            next_id: 0,
        })
    }

    fn lane(&'static self, conn: &GraphqlConnection) -> Option<GraphqlConnection> {
        let Transport::Http(sender) = &conn.transport else { return None };
        Some(GraphqlConnection {
            transport: Transport::Http(sender.lane()?),
            coding: conn.coding,
            counters: conn.counters.clone(),
            authority: conn.authority.clone(),
            path: conn.path,
            next_id: 0,
        })
    }
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> ClientError {
    ClientError::Io(std::io::Error::other(e))
}

/// Which values of GraphQL's documents are records: in a request, the new orders among the
/// variables; in an answer, the value of each root field (a connection's nodes, a mutation
/// payload's order); over graphql-transport-ws the same, inside the message's `payload`.
/// The query text, variable names and `{"data": …}`, `next`, `complete` wrappers are
/// envelope; `ping` and `pong` messages are control.
#[derive(Debug, Default, Clone, Copy)]
pub struct GraphqlDocs;

impl DocRules for GraphqlDocs {
    fn doc(&mut self, dir: Dir, route: &str, _: &[u8]) -> Doc {
        match (dir, route.is_empty()) {
            (Dir::Sent, false) => Doc::Json(&["$.variables.input", "$.variables.orders[*].order"]),
            (Dir::Sent, true) => {
                Doc::Json(&["$.payload.variables.input", "$.payload.variables.orders[*].order"])
            }
            (Dir::Received, false) => Doc::Json(&[
                "$.data.user",
                "$.data.users.nodes[*]",
                "$.data.order",
                "$.data.orders.nodes[*]",
                "$.data.createOrder.order",
                "$.data.importOrders",
            ]),
            (Dir::Received, true) => Doc::Json(&["$.payload.data.streamOrders", "$.payload.data.order"]),
        }
    }

    fn control(&self, doc: &[u8]) -> bool {
        matches!(json_member(doc, "type"), Some(br#""ping""# | br#""pong""#))
    }
}

/// One connection holds one of these for its whole life, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Transport {
    /// HTTP/1.1 or h2c.
    Http(Sender),
    Ws(WebSocketStream<wirebench_wire::Stream>),
}

#[derive(Debug)]
pub struct GraphqlConnection {
    transport: Transport,
    coding: Option<Coding>,
    counters: Arc<WireCounters>,
    authority: String,
    path: &'static str,
    next_id: u64,
}

impl GraphqlConnection {
    /// One POST; returns the decoded response.
    async fn post<T: DeserializeOwned>(
        &mut self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<T, ClientError> {
        let body = Bytes::from(
            serde_json::to_vec(&json!({ "query": query, "variables": variables })).expect("serializes"),
        );
        let mut req =
            Request::builder().method(Method::POST).header(header::CONTENT_TYPE, "application/json");
        let Transport::Http(sender) = &mut self.transport else {
            return Err(ClientError::decode("this connection speaks graphql-transport-ws"));
        };
        req = if sender.is_h2() {
            req.uri(format!("http://{}{}", self.authority, self.path))
        } else {
            req.uri(self.path).header(header::HOST, &self.authority)
        };
        let body = match self.coding {
            Some(coding) => {
                req = req
                    .header(header::CONTENT_ENCODING, coding.name())
                    .header(header::ACCEPT_ENCODING, coding.name());
                Bytes::from(coding.encode(&body))
            }
            None => body,
        };
        let req = req.body(Full::new(body)).expect("valid request");
        let res = sender.send(req).await?;
        let status = res.status();
        let encoded = res.headers().get(header::CONTENT_ENCODING).cloned();
        let bytes = res.into_body().collect().await.map_err(hyper_error)?.to_bytes();
        let bytes = super::inflate(encoded.as_ref(), self.coding, bytes)?;
        if !status.is_success() {
            return Err(ClientError::http(
                status.as_u16(),
                String::from_utf8_lossy(&bytes).into_owned(),
                None,
            ));
        }
        let response: Response<T> =
            wirebench_wire::decoding(|| serde_json::from_slice(&bytes).map_err(ClientError::decode))?;
        data(response)
    }

    /// Starts one operation over the socket; returns its id.
    async fn subscribe(&mut self, query: &str, variables: serde_json::Value) -> Result<String, ClientError> {
        let Transport::Ws(ws) = &mut self.transport else {
            return Err(ClientError::decode("this connection speaks HTTP"));
        };
        self.next_id += 1;
        let id = self.next_id.to_string();
        let text =
            json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
                .to_string();
        ws.send(Message::text(text)).await.map_err(ws_error)?;
        Ok(id)
    }

    /// The next message of operation `id`: `Some(payload)` for `next`, `None` for `complete`.
    async fn next_message<T: DeserializeOwned>(&mut self, id: &str) -> Result<Option<T>, ClientError> {
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
            let env: Envelope<T> =
                wirebench_wire::decoding(|| serde_json::from_str(&text).map_err(ClientError::decode))?;
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
                    let response: Response<T> = wirebench_wire::decoding(|| {
                        serde_json::from_value(payload).map_err(ClientError::decode)
                    })?;
                    return Ok(Some(data(response)?));
                }
                "complete" => return Ok(None),
                "error" => {
                    // The payload is the errors; one that is not is an answer that cannot be read.
                    let payload = env.payload.ok_or_else(|| ClientError::decode("error without payload"))?;
                    let errors: Vec<GraphqlError> = serde_json::from_value(payload.clone()).map_err(|e| {
                        ClientError::Decode(format!(
                            "an error payload that is not a list of errors ({e}): {payload}"
                        ))
                    })?;
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
        let d: UserData = self.post(GET_USER, json!({ "id": p.user_id.to_string() })).await?;
        let u = d.user.ok_or_else(|| ClientError::decode("user is null"))?;
        Ok(Call::new(Outcome::User(wirebench_wire::decoding(|| u.into_domain())?)))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let vars = json!({ "id": p.user_id.to_string(), "n": p.n });
        let d: UserOrdersData = self.post(USER_ORDERS, vars).await?;
        let u = d.user.ok_or_else(|| ClientError::decode("user is null"))?;
        let orders = wirebench_wire::decoding(|| {
            u.orders.nodes.into_iter().map(GSummary::into_domain).collect::<Result<_, _>>()
        })?;
        Ok(Call::new(Outcome::UserOrders { name: u.name, orders }))
    }

    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let d: UsersOrdersData = self.post(USERS_ORDERS, json!({ "n": p.n })).await?;
        let users = d.users.ok_or_else(|| ClientError::decode("users is null"))?;
        let users = wirebench_wire::decoding(|| {
            users.nodes.into_iter().map(GUserOrders::into_domain).collect::<Result<_, _>>()
        })?;
        Ok(Call::new(Outcome::UsersOrders(users)))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let d: OrdersData = self.post(&list_orders(), json!({ "n": p.n })).await?;
        let orders = wirebench_wire::decoding(|| {
            d.orders.nodes.into_iter().map(GOrder::into_domain).collect::<Result<_, _>>()
        })?;
        Ok(Call::new(Outcome::Orders(orders)))
    }

    /// A subscription: one `next` message per order, then `complete`.
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let mut marks = Marks::start(p.n as usize);
        let sid = self.subscribe(&stream_orders(), json!({ "n": p.n })).await?;
        let mut orders = Vec::with_capacity(p.n as usize);
        while let Some(d) = self.next_message::<StreamData>(&sid).await? {
            marks.mark(&self.counters);
            orders.push(wirebench_wire::decoding(|| d.stream_orders.into_domain())?);
        }
        Ok(Call::new(Outcome::Orders(orders)).messages(marks))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let vars = json!({ "input": new_order_input(&p.new_order), "key": p.idempotency_key });
        let d: CreateData = self.post(&create_order(), vars).await?;
        let c = d.create_order.ok_or_else(|| ClientError::decode("createOrder is null"))?;
        let order = wirebench_wire::decoding(|| c.order.into_domain())?;
        Ok(Call::new(Outcome::Created { order, replayed: c.replayed }))
    }

    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let input = new_order_input(&p.new_order);
        let orders: Vec<_> =
            (0..p.n as usize).map(|i| json!({ "idempotencyKey": p.item_key(i), "order": input })).collect();
        let d: ImportData = self.post(IMPORT_ORDERS, json!({ "orders": orders })).await?;
        let g = d.import_orders.ok_or_else(|| ClientError::decode("importOrders is null"))?;
        Ok(Call::new(Outcome::Imported(wirebench_wire::decoding(|| g.into_domain())?)))
    }

    /// N queries, one after another, over one graphql-transport-ws socket.
    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let query = get_order();
        let mut orders = Vec::with_capacity(p.order_ids.len());
        for order_id in &p.order_ids {
            let sid = self.subscribe(&query, json!({ "id": order_id.to_string() })).await?;
            let msg = self.next_message::<OrderData>(&sid).await?;
            let order = msg.and_then(|d| d.order).ok_or_else(|| ClientError::decode("order is null"))?;
            // Each query ends with `complete`; read it so the next pair starts clean.
            let end = self.next_message::<OrderData>(&sid).await?;
            if end.is_some() {
                return Err(ClientError::decode("a query answered twice"));
            }
            orders.push(wirebench_wire::decoding(|| order.into_domain())?);
        }
        Ok(Call::new(Outcome::Orders(orders)).round_trips(p.order_ids.len() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirebench_wire::Framing;
    use wirebench_wire::dissect::replay;

    #[test]
    fn a_query_split_by_hand() {
        let body = br#"{"query":"query($id: ID!) { user(id: $id) { name } }","variables":{"id":"3"}}"#;
        let mut request =
            format!("POST /graphql HTTP/1.1\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        request.extend(body);
        // The answer's record is the value of the root field `user`: {"name":"Ada"} (14 of 32).
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 32\r\n\r\n{\"data\":{\"user\":{\"name\":\"Ada\"}}}";
        let (t, err) = replay(Http1::new(GraphqlDocs), &[(Dir::Sent, &request), (Dir::Received, answer)]);
        assert_eq!(err, None);
        // Sent: the query text and the variables are envelope (77 bytes), and so is the target
        // "/graphql" (8); no records.
        assert_eq!((t.data[0], t.envelope[0]), (0, body.len() as u64 + 8));
        assert_eq!(body.len(), 77);
        assert_eq!((t.data[1], t.envelope[1]), (14, 18));
        assert_eq!(t.framing[1][Framing::StartLine as usize], 17);
        assert_eq!(t.pending(Dir::Sent) + t.pending(Dir::Received), 0);
    }

    #[test]
    fn subscription_messages_and_pings() {
        let rules = GraphqlDocs;
        let next = br#"{"id":"1","type":"next","payload":{"data":{"streamOrders":{"id":"7"}}}}"#;
        assert_eq!(rules.clone().doc(Dir::Received, "", next).data_bytes(next).unwrap(), 10);
        assert!(rules.control(br#"{"type":"ping"}"#));
        assert!(!rules.control(next));
    }
}
