//! WebSocket client (tokio-tungstenite) of the JSON message protocol in
//! `wirebench_servers::ws`: requests carry a correlation id, replies echo it.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::LocalBoxFuture;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use wirebench_domain::ImportSummary;
use wirebench_domain::Order;
use wirebench_servers::ws::{ClientMessage, CreatedOrder, OrderPage, UserOrders};

use super::{Call, ClientError, Connection, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::wire::{Counted, WireCounters};

/// JSON messages over one WebSocket.
#[derive(Debug)]
pub struct Ws;

impl Protocol for Ws {
    fn name(&self) -> &'static str {
        "ws"
    }

    fn describe(&self) -> &'static str {
        "JSON messages with correlation ids over one WebSocket (text frames, masked client frames)"
    }

    fn server(&self) -> &'static str {
        "ws"
    }

    fn connect(
        &'static self,
        addr: SocketAddr,
        _: Operation,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Connection>, ClientError>> {
        Box::pin(async move {
            let (stream, counters) = crate::wire::connect(addr).await.map_err(ClientError::Connect)?;
            let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
                .await
                .map_err(|e| ClientError::Connect(std::io::Error::other(e)))?;
            Ok(Box::new(WsConnection { ws, counters, next_id: 1 }) as Box<dyn Connection>)
        })
    }
}

struct WsConnection {
    ws: WebSocketStream<Counted<TcpStream>>,
    counters: Arc<WireCounters>,
    next_id: u64,
}

/// A server message, with `data` decoded as the type the request expects.
#[derive(Deserialize)]
struct Incoming<T> {
    #[serde(rename = "type")]
    kind: String,
    id: Option<u64>,
    data: Option<T>,
    code: Option<String>,
    message: Option<String>,
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> ClientError {
    ClientError::Io(std::io::Error::other(e))
}

impl WsConnection {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Queues one message (flushed by `send` or the next flush). Returns its payload bytes.
    async fn feed(&mut self, msg: &ClientMessage) -> Result<u64, ClientError> {
        let text = serde_json::to_string(msg).expect("messages serialize");
        let len = text.len() as u64;
        self.ws.feed(Message::text(text)).await.map_err(ws_error)?;
        Ok(len)
    }

    async fn send(&mut self, msg: &ClientMessage) -> Result<u64, ClientError> {
        let len = self.feed(msg).await?;
        self.ws.flush().await.map_err(ws_error)?;
        Ok(len)
    }

    /// The next message for request `id`, decoded; other ids are a protocol error here,
    /// because the harness sends one request at a time.
    async fn receive<T: DeserializeOwned>(&mut self, id: u64) -> Result<(Incoming<T>, u64), ClientError> {
        loop {
            let text = match self.ws.next().await {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => {
                    return Err(ClientError::Decode(format!("server closed the socket: {frame:?}")));
                }
                Some(Ok(Message::Binary(_))) => return Err(ClientError::decode("unexpected binary frame")),
                Some(Err(e)) => return Err(ws_error(e)),
                None => return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            };
            let msg: Incoming<T> = serde_json::from_str(&text).map_err(ClientError::decode)?;
            if msg.kind == "error" {
                return Err(ClientError::Server {
                    code: msg.code.unwrap_or_default(),
                    message: msg.message.unwrap_or_default(),
                });
            }
            if msg.id != Some(id) {
                return Err(ClientError::Decode(format!("message for {:?} while waiting for {id}", msg.id)));
            }
            return Ok((msg, text.len() as u64));
        }
    }

    /// One request, one reply.
    async fn request<T: DeserializeOwned>(
        &mut self,
        msg: ClientMessage,
    ) -> Result<(T, u64, u64), ClientError> {
        let id = msg.id();
        let sent = self.send(&msg).await?;
        let (reply, received) = self.receive::<T>(id).await?;
        let data = reply.data.ok_or_else(|| ClientError::Decode(format!("{} without data", reply.kind)))?;
        Ok((data, sent, received))
    }
}

impl Operations for WsConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg = ClientMessage::GetUser { id: self.id(), user_id: p.user_id };
        let (user, s, r) = self.request(msg).await?;
        Ok(Call::new(Outcome::User(user)).payload(s, r))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg = ClientMessage::UserOrders { id: self.id(), user_id: p.user_id, limit: p.n };
        let (v, s, r): (UserOrders, _, _) = self.request(msg).await?;
        Ok(Call::new(Outcome::UserOrders { name: v.name, orders: v.orders }).payload(s, r))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg =
            ClientMessage::ListOrders { id: self.id(), limit: p.n, cursor: None, status: None, sort: None };
        let (page, s, r): (OrderPage, _, _) = self.request(msg).await?;
        Ok(Call::new(Outcome::Orders(page.data)).payload(s, r))
    }

    /// One `item` message per order, then `end`.
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let id = self.id();
        let mut marks = Marks::start(p.n as usize);
        let sent = self.send(&ClientMessage::StreamOrders { id, limit: p.n, status: None }).await?;
        let (mut orders, mut received) = (Vec::with_capacity(p.n as usize), 0);
        loop {
            let (msg, r) = self.receive::<Order>(id).await?;
            received += r;
            match (msg.kind.as_str(), msg.data) {
                ("item", Some(order)) => {
                    marks.mark();
                    orders.push(order);
                }
                ("end", _) => break,
                (kind, _) => return Err(ClientError::Decode(format!("unexpected {kind} in a stream"))),
            }
        }
        Ok(Call::new(Outcome::Orders(orders)).payload(sent, received).messages(marks))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let msg = ClientMessage::CreateOrder {
            id: self.id(),
            idempotency_key: p.idempotency_key.clone(),
            order: p.new_order.clone(),
        };
        let (c, s, r): (CreatedOrder, _, _) = self.request(msg).await?;
        Ok(Call::new(Outcome::Created { order: c.order, replayed: c.replayed }).payload(s, r))
    }

    /// N `import_order` messages (no replies), then one `import_commit` for the summary.
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let batch = format!("import-{}", self.next_id);
        let mut sent = 0;
        for i in 0..p.n as usize {
            let msg = ClientMessage::ImportOrder {
                id: self.id(),
                batch: batch.clone(),
                idempotency_key: p.item_key(i),
                order: p.new_order.clone(),
            };
            sent += self.feed(&msg).await?;
        }
        let commit = ClientMessage::ImportCommit { id: self.id(), batch };
        let (summary, sent_commit, r): (ImportSummary, _, _) = self.request(commit).await?;
        Ok(Call::new(Outcome::Imported(summary)).payload(sent + sent_commit, r))
    }

    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (mut orders, mut sent, mut received) = (Vec::with_capacity(p.order_ids.len()), 0, 0);
        for order_id in &p.order_ids {
            let msg = ClientMessage::GetOrder { id: self.id(), order_id: *order_id };
            let (order, s, r) = self.request(msg).await?;
            orders.push(order);
            (sent, received) = (sent + s, received + r);
        }
        Ok(Call::new(Outcome::Orders(orders)).payload(sent, received).round_trips(p.order_ids.len() as u32))
    }
}
