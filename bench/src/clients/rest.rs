//! REST+JSON client (hyper) over HTTP/1.1 keep-alive or HTTP/2 cleartext, in three variants:
//! the classic API (`rest`, `rest-h2`) and the same API using its round-trip savers
//! (`rest-include`: `include=orders` and the batch endpoint).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::LocalBoxFuture;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use wirebench_domain::{Created, ImportSummary, Order, OrderSummary};

use super::{Call, ClientError, Connection, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::wire::WireCounters;

/// A REST variant.
#[derive(Debug)]
pub struct Rest {
    name: &'static str,
    describe: &'static str,
    http2: bool,
    /// Use `include=orders` and `POST /v1/orders/batch` instead of several requests.
    fewer_round_trips: bool,
    /// Ask for gzip responses (`Accept-Encoding: gzip`) and decompress them.
    gzip: bool,
}

pub static REST: Rest = Rest {
    name: "rest",
    describe: "REST+JSON over HTTP/1.1 keep-alive; user-orders is two GETs, import is N POSTs",
    http2: false,
    fewer_round_trips: false,
    gzip: false,
};
pub static REST_H2: Rest = Rest {
    name: "rest-h2",
    describe: "the same REST calls over HTTP/2 cleartext (prior knowledge)",
    http2: true,
    fewer_round_trips: false,
    gzip: false,
};
pub static REST_INCLUDE: Rest = Rest {
    name: "rest-include",
    describe: "REST over HTTP/1.1 using include=orders (1 GET) and the batch endpoint (1 POST)",
    http2: false,
    fewer_round_trips: true,
    gzip: false,
};
pub static REST_GZIP: Rest = Rest {
    name: "rest-gzip",
    describe: "the same REST GETs over HTTP/1.1 with Accept-Encoding: gzip (payload = compressed body)",
    http2: false,
    fewer_round_trips: false,
    gzip: true,
};

impl Protocol for Rest {
    fn name(&self) -> &'static str {
        self.name
    }

    fn describe(&self) -> &'static str {
        self.describe
    }

    fn server(&self) -> &'static str {
        "rest"
    }

    fn unsupported(&self, op: Operation) -> Option<&'static str> {
        match op {
            _ if self.gzip && matches!(op, Operation::CreateOrder | Operation::ImportOrders) => {
                Some("request bodies are not compressed: writes are the same as `rest`")
            }
            _ if self.gzip && op == Operation::StreamOrders => Some(
                "a gzip stream is buffered by the compressor, so per-message timing would not be a stream's",
            ),
            Operation::UserOrders | Operation::ImportOrders => None,
            _ if self.fewer_round_trips => {
                Some("same requests as `rest`: this variant differs only in user-orders and import-orders")
            }
            _ => None,
        }
    }

    fn connect(
        &'static self,
        addr: SocketAddr,
        _: Operation,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Connection>, ClientError>> {
        Box::pin(async move {
            let (stream, counters) = crate::wire::connect(addr).await.map_err(ClientError::Connect)?;
            let io = TokioIo::new(stream);
            let sender = if self.http2 {
                let (mut sender, conn) =
                    http2::handshake(TokioExecutor::new(), io).await.map_err(hyper_error)?;
                tokio::spawn(conn);
                sender.ready().await.map_err(hyper_error)?;
                Sender::H2(sender)
            } else {
                let (mut sender, conn) = http1::handshake(io).await.map_err(hyper_error)?;
                tokio::spawn(conn);
                sender.ready().await.map_err(hyper_error)?;
                Sender::H1(sender)
            };
            let authority = addr.to_string();
            Ok(Box::new(RestConnection { sender, authority, counters, variant: self }) as Box<dyn Connection>)
        })
    }
}

fn hyper_error(e: hyper::Error) -> ClientError {
    ClientError::Io(std::io::Error::other(e))
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

struct RestConnection {
    sender: Sender,
    authority: String,
    counters: Arc<WireCounters>,
    variant: &'static Rest,
}

/// A whole response.
struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
    wire_len: u64,
}

#[derive(Deserialize)]
struct PageOf<T> {
    data: Vec<T>,
}

#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

#[derive(Deserialize)]
struct NameAndOrders {
    name: String,
    orders: Vec<OrderSummary>,
}

#[derive(Deserialize)]
struct BatchReply {
    received: u32,
    created: u32,
    replayed: u32,
    failed: u32,
    total_cents: i64,
    results: Vec<BatchItemReply>,
}

#[derive(Deserialize)]
struct BatchItemReply {
    order: Option<Order>,
    error: Option<ErrorReply>,
}

/// The server's one error body.
#[derive(Deserialize)]
struct ErrorReply {
    error: String,
    message: String,
}

impl BatchReply {
    /// The server's summary, with the ids and errors of its per-item results.
    fn summary(self) -> ImportSummary {
        let mut summary = ImportSummary {
            received: self.received,
            created: self.created,
            replayed: self.replayed,
            failed: self.failed,
            total_cents: self.total_cents,
            ..ImportSummary::default()
        };
        for (i, result) in self.results.into_iter().enumerate() {
            match (result.order, result.error) {
                (Some(order), _) => summary.order_ids.push(order.id),
                (None, Some(e)) => summary.errors.push(format!("{i}: {}", e.message)),
                (None, None) => summary.errors.push(format!("{i}: neither order nor error")),
            }
        }
        summary
    }
}

fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(ClientError::decode)
}

impl RestConnection {
    fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Bytes, Option<&str>)>,
    ) -> Request<Full<Bytes>> {
        // HTTP/2 needs the scheme and authority in the URI; HTTP/1.1 gets a Host header.
        let mut req = match self.sender {
            Sender::H2(_) => Request::builder().uri(format!("http://{}{path_and_query}", self.authority)),
            Sender::H1(_) => Request::builder().uri(path_and_query).header(header::HOST, &self.authority),
        }
        .method(method);
        let body = match body {
            None => Full::default(),
            Some((bytes, key)) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                if let Some(key) = key {
                    req = req.header("idempotency-key", key);
                }
                Full::new(bytes)
            }
        };
        req.body(body).expect("valid request")
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<hyper::Response<Incoming>, ClientError> {
        match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await.map_err(hyper_error)?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await.map_err(hyper_error)?;
                s.send_request(req).await
            }
        }
        .map_err(hyper_error)
    }

    /// One request, whole response, 2xx required. `wire_len` is the body as it crossed
    /// the wire (compressed, when it was); `body` is what the codec decodes.
    async fn exchange(&mut self, mut req: Request<Full<Bytes>>) -> Result<Reply, ClientError> {
        if self.variant.gzip {
            req.headers_mut().insert(header::ACCEPT_ENCODING, http::HeaderValue::from_static("gzip"));
        }
        let res = self.send(req).await?;
        let (parts, body) = res.into_parts();
        let body = body.collect().await.map_err(hyper_error)?.to_bytes();
        if !parts.status.is_success() {
            return Err(server_error(parts.status, &body));
        }
        let wire_len = body.len() as u64;
        let body = if parts.headers.get(header::CONTENT_ENCODING).is_some_and(|v| v == "gzip") {
            let mut plain = Vec::with_capacity(body.len() * 4);
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)?;
            Bytes::from(plain)
        } else {
            body
        };
        Ok(Reply { status: parts.status, headers: parts.headers, body, wire_len })
    }

    async fn get(&mut self, path: &str) -> Result<Reply, ClientError> {
        let req = self.request(Method::GET, path, None);
        self.exchange(req).await
    }

    async fn post(&mut self, path: &str, body: Bytes, key: Option<&str>) -> Result<Reply, ClientError> {
        let req = self.request(Method::POST, path, Some((body, key)));
        self.exchange(req).await
    }

    /// One POST /v1/orders: the order, whether it was replayed, and the reply's body bytes.
    async fn create(&mut self, key: Option<&str>, body: Bytes) -> Result<(Order, bool, u64), ClientError> {
        let reply = self.post("/v1/orders", body, key).await?;
        if reply.status != StatusCode::CREATED {
            return Err(ClientError::Decode(format!("create answered {}", reply.status)));
        }
        let replayed = reply.headers.get("idempotent-replayed").is_some_and(|v| v == "true");
        Ok((json(&reply.body)?, replayed, reply.wire_len))
    }
}

fn server_error(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorReply>(body) {
        Ok(e) => ClientError::Server { code: format!("{} {}", status.as_u16(), e.error), message: e.message },
        Err(_) => ClientError::Server {
            code: status.as_u16().to_string(),
            message: String::from_utf8_lossy(body).into(),
        },
    }
}

impl Operations for RestConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let reply = self.get(&format!("/v1/users/{}", p.user_id)).await?;
        Ok(Call::new(Outcome::User(json(&reply.body)?)).payload(0, reply.wire_len))
    }

    /// Two GETs (name, then orders), or one with `include=orders` in the fewer-round-trips
    /// variant.
    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let user = p.user_id;
        if self.variant.fewer_round_trips {
            let path = format!(
                "/v1/users/{user}?fields=name&include=orders&orders_limit={}&fields[orders]=id,total_cents,status",
                p.n
            );
            let reply = self.get(&path).await?;
            let v: NameAndOrders = json(&reply.body)?;
            return Ok(
                Call::new(Outcome::UserOrders { name: v.name, orders: v.orders }).payload(0, reply.wire_len)
            );
        }
        let first = self.get(&format!("/v1/users/{user}?fields=name")).await?;
        let second =
            self.get(&format!("/v1/users/{user}/orders?limit={}&fields=id,total_cents,status", p.n)).await?;
        let name: NameOnly = json(&first.body)?;
        let orders: PageOf<OrderSummary> = json(&second.body)?;
        let outcome = Outcome::UserOrders { name: name.name, orders: orders.data };
        Ok(Call::new(outcome).payload(0, first.wire_len + second.wire_len).round_trips(2))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let reply = self.get(&format!("/v1/orders?limit={}", p.n)).await?;
        let page: PageOf<Order> = json(&reply.body)?;
        Ok(Call::new(Outcome::Orders(page.data)).payload(0, reply.wire_len))
    }

    /// NDJSON: each complete line is one message; note when each arrives.
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = self.request(Method::GET, &format!("/v1/orders/stream?limit={}", p.n), None);
        let mut marks = Marks::start(p.n as usize);
        let res = self.send(req).await?;
        let (parts, mut body) = res.into_parts();
        if !parts.status.is_success() {
            let bytes = body.collect().await.map_err(hyper_error)?.to_bytes();
            return Err(server_error(parts.status, &bytes));
        }
        let (mut pending, mut orders, mut received) = (Vec::new(), Vec::with_capacity(p.n as usize), 0u64);
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(hyper_error)?.into_data() else { continue };
            received += data.len() as u64;
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                marks.mark();
                orders.push(json::<Order>(&pending[..end])?);
                pending.drain(..=end);
            }
        }
        Ok(Call::new(Outcome::Orders(orders)).payload(0, received).messages(marks))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let body = Bytes::from(serde_json::to_vec(&p.new_order).expect("serializes"));
        let sent = body.len() as u64;
        let (order, replayed, received) = self.create(p.idempotency_key.as_deref(), body).await?;
        Ok(Call::new(Outcome::Created { order, replayed }).payload(sent, received))
    }

    /// N POSTs one after another, the summary the client's own tally; or one POST to the
    /// batch endpoint in the fewer-round-trips variant.
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        if self.variant.fewer_round_trips {
            let items: Vec<_> = (0..p.n as usize)
                .map(|i| serde_json::json!({"idempotency_key": p.item_key(i), "order": &p.new_order}))
                .collect();
            let body =
                Bytes::from(serde_json::to_vec(&serde_json::json!({ "items": items })).expect("serializes"));
            let sent = body.len() as u64;
            let reply = self.post("/v1/orders/batch", body, None).await?;
            let b: BatchReply = json(&reply.body)?;
            return Ok(Call::new(Outcome::Imported(b.summary())).payload(sent, reply.wire_len));
        }
        let body = Bytes::from(serde_json::to_vec(&p.new_order).expect("serializes"));
        let mut summary = ImportSummary::default();
        let (mut sent, mut received) = (0, 0);
        for i in 0..p.n as usize {
            sent += body.len() as u64;
            let (order, replayed, r) = self.create(p.item_key(i).as_deref(), body.clone()).await?;
            received += r;
            summary.record(i, &Ok(Created { order, replayed }));
        }
        Ok(Call::new(Outcome::Imported(summary)).payload(sent, received).round_trips(p.n))
    }

    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (mut orders, mut received) = (Vec::with_capacity(p.order_ids.len()), 0);
        for id in &p.order_ids {
            let reply = self.get(&format!("/v1/orders/{id}")).await?;
            received += reply.wire_len;
            orders.push(json::<Order>(&reply.body)?);
        }
        Ok(Call::new(Outcome::Orders(orders)).payload(0, received).round_trips(p.order_ids.len() as u32))
    }
}
