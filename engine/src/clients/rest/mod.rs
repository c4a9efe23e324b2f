//! REST+JSON client over HTTP/1.1 keep-alive (its own lean connection, `super::h1`) or HTTP/2
//! cleartext (hyper), in five variants:
//! the classic API (`rest`, `rest-h2`), the same API using its round-trip savers
//! (`rest-include`: `include=orders` and the batch endpoint), user-orders' two independent
//! GETs sent at once on one HTTP/2 connection (`rest-h2-concurrent`), and compressed bodies
//! both ways (`rest-gzip`, `rest-br`, `rest-zstd`).
//!
//! [`RestDocs`] says which values of REST's documents are records: a body that is a user or
//! an order is one whole; a page's records are its `data` elements.

use std::sync::Arc;
use wirebench_wire::Dial;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use prost::Message;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wirebench_domain::{Created, ImportSummary, Order, OrderSummary, UserRecentOrders};
use wirebench_proto::v1 as pb;

use self::link::Link;
use super::h1::{H1, Req};
use super::http_conn::{Sender, hyper_error};
use super::{Call, Client, ClientError, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use wirebench_wire::http1::Http1;
use wirebench_wire::http2::{DocBodies, Http2};
use wirebench_wire::{Dissector, WireCounters};

mod link;
mod media;
mod variants;

pub use self::media::{Media, RestDocs};
pub use self::variants::{
    REST, REST_BR, REST_GZIP, REST_H2, REST_H2_CONCURRENT, REST_INCLUDE, REST_PROTO, REST_PROTO_H2, REST_SSE,
    REST_ZSTD, Rest,
};

impl Protocol for Rest {
    fn encoding(&self) -> &'static str {
        match self.media {
            Media::Protobuf => "protobuf",
            Media::Json | Media::EventStream => "json",
        }
    }

    fn transport(&self) -> super::Transport {
        if self.http2 { super::Transport::Http2 } else { super::Transport::Http1 }
    }

    fn compression(&self) -> Option<(&'static str, &'static str)> {
        self.coding.map(|c| (c.name(), "rest"))
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn describe(&self) -> &'static str {
        self.describe
    }

    fn server(&self) -> &'static str {
        "rest"
    }

    fn family(&self) -> &'static str {
        "REST"
    }

    fn role(&self) -> super::Role {
        self.role
    }

    fn multiplexes(&self) -> bool {
        self.http2
    }

    fn clock_path(&self) -> Option<&'static str> {
        Some("/v1/users/1")
    }

    fn unsupported(&self, op: Operation) -> Option<&'static str> {
        match op {
            _ if self.coding.is_some() && op == Operation::StreamOrders => Some(
                "a compressed stream is buffered by the compressor, so per-message timing would not be a stream's",
            ),
            Operation::StreamOrders => None,
            _ if self.media == Media::EventStream => {
                Some("same requests as `rest`: this variant differs only in stream-orders")
            }
            Operation::UserOrders | Operation::UsersOrders => None,
            _ if self.concurrent => {
                Some("same requests as `rest-h2`: this variant differs only in user-orders and users-orders")
            }
            Operation::ImportOrders => None,
            _ if self.fewer_round_trips => Some(
                "same requests as `rest`: this variant differs only in user-orders, users-orders and import-orders",
            ),
            _ => None,
        }
    }
}

impl Client for Rest {
    type Conn = RestConnection;

    async fn open(&'static self, dial: Dial, _: Operation) -> Result<RestConnection, ClientError> {
        let dissector = if self.http2 {
            Dissector::new(Http2::new(DocBodies::new(RestDocs(self.media))))
        } else {
            Dissector::new(Http1::new(RestDocs(self.media)))
        };
        let (stream, counters) =
            wirebench_wire::connect(&dial, dissector).await.map_err(ClientError::Connect)?;
        let authority = dial.addr.to_string();
        let host = http::HeaderValue::from_str(&authority).map_err(ClientError::decode)?;
        let link = if self.http2 {
            Link::Hyper(Sender::handshake(stream, true).await?)
        } else {
            Link::Lean(H1::new(stream, host))
        };
        Ok(RestConnection { link, authority, uris: Vec::new(), counters, variant: self })
    }

    fn lane(&'static self, conn: &RestConnection) -> Option<RestConnection> {
        let Link::Hyper(sender) = &conn.link else { return None };
        Some(RestConnection {
            link: Link::Hyper(sender.lane()?),
            authority: conn.authority.clone(),
            uris: Vec::new(),
            counters: conn.counters.clone(),
            variant: self,
        })
    }
}

#[derive(Debug)]
pub struct RestConnection {
    link: Link,
    authority: String,
    /// Request URIs built before, by path: a cell asks for the same few again and again.
    uris: Vec<(String, http::Uri)>,
    counters: Arc<WireCounters>,
    variant: &'static Rest,
}

/// A whole response.
struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

#[derive(Deserialize)]
pub(super) struct PageOf<T> {
    pub(super) data: Vec<T>,
}

#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

#[derive(Deserialize)]
struct IdAndName {
    id: wirebench_domain::Id,
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

impl RestConnection {
    /// Decodes a JSON body, on the connection's decode clock.
    fn json<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, ClientError> {
        wirebench_wire::decoding(|| serde_json::from_slice(body).map_err(ClientError::decode))
    }

    /// Decodes a body in the variant's media, on the decode clock: JSON straight to `T`, or
    /// the protobuf message `P` and `from_pb` to `T`.
    fn decode<T: DeserializeOwned, P: Message + Default>(
        &self,
        body: &[u8],
        from_pb: impl FnOnce(P) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        match self.variant.media {
            Media::Protobuf => wirebench_wire::decoding(|| from_pb(media::message(body)?)),
            Media::Json | Media::EventStream => self.json(body),
        }
    }

    /// A new order's body in the variant's media.
    fn new_order(&self, p: &OpParams) -> Bytes {
        match self.variant.media {
            Media::Protobuf => Bytes::from(pb::NewOrder::from(p.new_order.clone()).encode_to_vec()),
            Media::Json | Media::EventStream => {
                Bytes::from(serde_json::to_vec(&p.new_order).expect("serializes"))
            }
        }
    }

    /// The URI of `path_and_query`, built once per path: HTTP/2 needs the scheme and authority
    /// in it; HTTP/1.1 sends the path alone (and a Host header).
    fn uri(&mut self, path_and_query: &str) -> http::Uri {
        /// Paths remembered per connection (a cell uses one to a dozen).
        const KEEP: usize = 32;
        if let Some((_, uri)) = self.uris.iter().find(|(p, _)| p == path_and_query) {
            return uri.clone();
        }
        let uri: http::Uri = if self.is_h2() {
            format!("http://{}{path_and_query}", self.authority).parse()
        } else {
            path_and_query.parse()
        }
        .expect("the client's own paths are valid URIs");
        if self.uris.len() == KEEP {
            self.uris.clear();
        }
        self.uris.push((path_and_query.to_owned(), uri.clone()));
        uri
    }

    /// One request, whole response, 2xx required; `body` is decompressed when it was
    /// compressed.
    async fn exchange(&mut self, req: Req<'_>) -> Result<Reply, ClientError> {
        let (status, headers, body) = self.send(req).await?;
        let body = self.whole_body(body).await?;
        let body = super::inflate(headers.get(header::CONTENT_ENCODING), self.variant.coding, body)?;
        if !status.is_success() {
            return Err(server_error(status, &headers, &body));
        }
        Ok(Reply { status, headers, body })
    }

    async fn get(&mut self, path: &str) -> Result<Reply, ClientError> {
        let req = self.request(Method::GET, path, None);
        self.exchange(req).await
    }

    async fn post(&mut self, path: &str, body: Bytes, key: Option<&str>) -> Result<Reply, ClientError> {
        let req = self.request(Method::POST, path, Some((body, key)));
        self.exchange(req).await
    }

    /// One POST /v1/orders: the order and whether it was replayed.
    async fn create(&mut self, key: Option<&str>, body: Bytes) -> Result<(Order, bool), ClientError> {
        let reply = self.post("/v1/orders", body, key).await?;
        if reply.status != StatusCode::CREATED {
            return Err(ClientError::Decode(format!("create answered {}", reply.status)));
        }
        let replayed = reply.headers.get("idempotent-replayed").is_some_and(|v| v == "true");
        Ok((self.decode(&reply.body, media::order)?, replayed))
    }

    /// GETs at once on this HTTP/2 connection (all leave before any answer); the replies in
    /// order.
    async fn get_all(&mut self, paths: &[String]) -> Result<Vec<Reply>, ClientError> {
        let Link::Hyper(Sender::H2(sender)) = &mut self.link else {
            return Err(ClientError::decode("concurrent requests need HTTP/2"));
        };
        sender.ready().await.map_err(hyper_error)?;
        let sender = sender.clone();
        let sends = paths.iter().map(|path| {
            let mut sender = sender.clone();
            let req = self.request(Method::GET, path, None);
            let req = self.hyper_request(req);
            async move { whole(sender.send_request(req).await.map_err(hyper_error)?).await }
        });
        futures::future::try_join_all(sends).await
    }
}

/// A whole 2xx response.
async fn whole(res: hyper::Response<Incoming>) -> Result<Reply, ClientError> {
    let (parts, body) = res.into_parts();
    let body = body.collect().await.map_err(hyper_error)?.to_bytes();
    if !parts.status.is_success() {
        return Err(server_error(parts.status, &parts.headers, &body));
    }
    Ok(Reply { status: parts.status, headers: parts.headers, body })
}

fn server_error(status: StatusCode, headers: &hyper::HeaderMap, body: &[u8]) -> ClientError {
    // Retry-After in seconds (an HTTP date is not sent by these servers, and is ignored).
    let retry_after = headers
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    match serde_json::from_slice::<ErrorReply>(body) {
        Ok(e) => {
            let code = format!("{} {}", status.as_u16(), e.error);
            ClientError::answered(Some(&e.error), code, e.message, retry_after)
        }
        Err(_) => ClientError::http(status.as_u16(), String::from_utf8_lossy(body).into(), retry_after),
    }
}

impl Operations for RestConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let reply = self.get(&format!("/v1/users/{}", p.user_id)).await?;
        Ok(Call::new(Outcome::User(self.decode(&reply.body, media::user)?)))
    }

    /// Two GETs (name, then orders), both at once in the concurrent variant, or one with
    /// `include=orders` in the fewer-round-trips variant.
    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let user = p.user_id;
        if self.variant.fewer_round_trips {
            let path = format!(
                "/v1/users/{user}?fields=name&include=orders&orders_limit={}&fields[orders]=id,total_cents,status",
                p.n
            );
            let reply = self.get(&path).await?;
            let v: NameAndOrders = self.json(&reply.body)?;
            return Ok(Call::new(Outcome::UserOrders { name: v.name, orders: v.orders }));
        }
        let name_path = format!("/v1/users/{user}?fields=name");
        let orders_path = format!("/v1/users/{user}/orders?limit={}&fields=id,total_cents,status", p.n);
        let (first, second, round_trips) = if self.variant.concurrent {
            let mut both = self.get_all(&[name_path, orders_path]).await?.into_iter();
            let (Some(a), Some(b)) = (both.next(), both.next()) else {
                unreachable!("two requests, two replies")
            };
            (a, b, 1)
        } else {
            (self.get(&name_path).await?, self.get(&orders_path).await?, 2)
        };
        let name: NameOnly = self.decode(&first.body, |u: pb::User| Ok(NameOnly { name: u.name }))?;
        let orders: PageOf<OrderSummary> = self.decode(&second.body, media::summaries)?;
        Ok(Call::new(Outcome::UserOrders { name: name.name, orders: orders.data }).round_trips(round_trips))
    }

    /// The users, then each one's orders: N+1 GETs (the N at once in the concurrent variant);
    /// or one GET with `include=orders` in the fewer-round-trips variant.
    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let n = p.n;
        let users_path = format!("/v1/users?limit={n}&fields=id,name");
        if self.variant.fewer_round_trips {
            let path =
                format!("{users_path}&include=orders&orders_limit={n}&fields[orders]=id,total_cents,status");
            let reply = self.get(&path).await?;
            let page: PageOf<UserRecentOrders> = self.json(&reply.body)?;
            return Ok(Call::new(Outcome::UsersOrders(page.data)));
        }
        let reply = self.get(&users_path).await?;
        let users: PageOf<IdAndName> = self.decode(&reply.body, |page: pb::UserPage| {
            Ok(PageOf {
                data: page.users.into_iter().map(|u| IdAndName { id: u.id, name: u.name }).collect(),
            })
        })?;
        let paths: Vec<String> = users
            .data
            .iter()
            .map(|u| format!("/v1/users/{}/orders?limit={n}&fields=id,total_cents,status", u.id))
            .collect();
        let (replies, waves) = if self.variant.concurrent {
            (self.get_all(&paths).await?, 2)
        } else {
            let mut replies = Vec::with_capacity(paths.len());
            for path in &paths {
                replies.push(self.get(path).await?);
            }
            (replies, 1 + paths.len() as u32)
        };
        let mut out = Vec::with_capacity(users.data.len());
        for (user, reply) in users.data.into_iter().zip(replies) {
            let orders: PageOf<OrderSummary> = self.decode(&reply.body, media::summaries)?;
            out.push(UserRecentOrders { id: user.id, name: user.name, orders: orders.data });
        }
        Ok(Call::new(Outcome::UsersOrders(out)).round_trips(waves))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let reply = self.get(&format!("/v1/orders?limit={}", p.n)).await?;
        let page: PageOf<Order> = self.decode(&reply.body, |page: pb::OrderPage| {
            Ok(PageOf { data: page.orders.into_iter().map(media::order).collect::<Result<_, _>>()? })
        })?;
        Ok(Call::new(Outcome::Orders(page.data)))
    }

    /// One message per order (a line of NDJSON, an event, a delimited protobuf message);
    /// note when each arrives.
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let path = format!("/v1/orders/stream?limit={}", p.n);
        let mut req = self.request(Method::GET, &path, None);
        let media = self.variant.media;
        // The stream's own representation, in place of the one for records.
        if let Some(accept) = media.accept(true) {
            req.headers.retain(|(name, _)| name != header::ACCEPT);
            req.headers.insert(0, (header::ACCEPT, http::HeaderValue::from_static(accept)));
        }
        let mut marks = Marks::start(p.n as usize);
        let (status, headers, mut body) = self.send(req).await?;
        if !status.is_success() {
            let bytes = self.whole_body(body).await?;
            return Err(server_error(status, &headers, &bytes));
        }
        let (mut pending, mut orders) = (Vec::new(), Vec::with_capacity(p.n as usize));
        while let Some(data) = self.data(&mut body).await? {
            pending.extend_from_slice(&data);
            while let Some(message) = media.next_message(&mut pending)? {
                marks.mark(&self.counters);
                orders.push(self.decode::<Order, pb::Order>(&message, media::order)?);
            }
        }
        if !pending.is_empty() {
            return Err(ClientError::Decode(format!(
                "a stream ended inside a message ({} bytes)",
                pending.len()
            )));
        }
        Ok(Call::new(Outcome::Orders(orders)).messages(marks))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let body = self.new_order(p);
        let (order, replayed) = self.create(p.idempotency_key.as_deref(), body).await?;
        Ok(Call::new(Outcome::Created { order, replayed }))
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
            let reply = self.post("/v1/orders/batch", body, None).await?;
            let b: BatchReply = self.json(&reply.body)?;
            return Ok(Call::new(Outcome::Imported(b.summary())));
        }
        let body = self.new_order(p);
        let mut summary = ImportSummary::default();
        for i in 0..p.n as usize {
            let (order, replayed) = self.create(p.item_key(i).as_deref(), body.clone()).await?;
            summary.record(i, &Ok(Created { order, replayed }));
        }
        Ok(Call::new(Outcome::Imported(summary)).round_trips(p.n))
    }

    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let mut orders = Vec::with_capacity(p.order_ids.len());
        for id in &p.order_ids {
            let reply = self.get(&format!("/v1/orders/{id}")).await?;
            orders.push(self.decode(&reply.body, media::order)?);
        }
        Ok(Call::new(Outcome::Orders(orders)).round_trips(p.order_ids.len() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirebench_wire::dissect::replay;
    use wirebench_wire::{Dir, Framing};

    #[test]
    fn user_orders_as_two_gets_split_by_hand() {
        let exchange: [(Dir, &[u8]); 4] = [
            (Dir::Sent, b"GET /v1/users/3?fields=name HTTP/1.1\r\nhost: h\r\n\r\n"),
            (Dir::Received, b"HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n{\"name\":\"Ada L\"}"),
            (Dir::Sent, b"GET /v1/users/3/orders?limit=2 HTTP/1.1\r\nhost: h\r\n\r\n"),
            (
                Dir::Received,
                b"HTTP/1.1 200 OK\r\ncontent-length: 47\r\n\r\n{\"data\":[{\"id\":1},{\"id\":2}],\"next_cursor\":null}",
            ),
        ];
        let (t, err) = replay(Http1::new(RestDocs::default()), &exchange);
        assert_eq!(err, None);
        let f = |d: usize, k: Framing| t.framing[d][k as usize];
        // Sent: "GET " + " HTTP/1.1\r\n" is 15 bytes per request line; the targets are 23 and
        // 26 bytes of envelope; "host: h\r\n" and the blank line are 11 per request.
        assert_eq!((f(0, Framing::StartLine), f(0, Framing::Headers)), (30, 22));
        assert_eq!((t.envelope[0], t.data[0]), (49, 0));
        // Received: two 17-byte status lines, "content-length: NN\r\n" + blank line 22 each;
        // the sparse user (16 bytes) and the two summaries (8 + 8) are data; the page's
        // wrapper {"data":[ , ],"next_cursor":null} is 31 bytes of envelope.
        assert_eq!((f(1, Framing::StartLine), f(1, Framing::Headers)), (34, 44));
        assert_eq!((t.data[1], t.envelope[1]), (32, 31));
        assert_eq!((t.waves, t.requests, t.pending(Dir::Sent) + t.pending(Dir::Received)), (2, 2, 0));
    }
}
