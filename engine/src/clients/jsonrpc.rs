//! JSON-RPC 2.0 client over HTTP/1.1 keep-alive (`jsonrpc`): one `POST /rpc` per call, and
//! import-orders as one batch of `createOrder` calls (JSON-RPC's own way to save round
//! trips). The records travel as the domain serializes them, so an answer's `result` is a
//! record whole (or, for a list, each element).
//!
//! Added by following ARCHITECTURE.md's "Adding a protocol": this file, one line in
//! `PROTOCOLS`, the server in `servers/src/jsonrpc.rs` and one line in `SERVERS`.

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wirebench_domain::{Created, ImportSummary, Order, OrderSummary, User, UserRecentOrders};
use wirebench_wire::dissect::DocRules;
use wirebench_wire::docs::{Doc, json_member};
use wirebench_wire::http1::Http1;
use wirebench_wire::{Dial, Dir, Dissector, WireCounters};

use super::http_conn::{Sender, hyper_error};
use super::{Call, Client, ClientError, Operations, Protocol, Role, Transport};
use crate::catalog::{OpParams, Operation, Outcome};

/// The JSON-RPC client.
#[derive(Debug)]
pub struct JsonRpc;

pub static JSONRPC: JsonRpc = JsonRpc;

/// Where a JSON-RPC server answers.
const PATH: &str = "/rpc";

impl Protocol for JsonRpc {
    fn name(&self) -> &'static str {
        "jsonrpc"
    }

    fn describe(&self) -> &'static str {
        "JSON-RPC 2.0 over HTTP/1.1: one POST per call, import-orders as one batch"
    }

    fn server(&self) -> &'static str {
        "jsonrpc"
    }

    fn family(&self) -> &'static str {
        "JSON-RPC"
    }

    fn role(&self) -> Role {
        Role::Variant
    }

    fn encoding(&self) -> &'static str {
        "json"
    }

    fn transport(&self) -> Transport {
        Transport::Http1
    }

    fn unsupported(&self, op: Operation) -> Option<&'static str> {
        (op == Operation::StreamOrders).then_some("JSON-RPC answers each call once: it has no stream")
    }
}

impl Client for JsonRpc {
    type Conn = JsonRpcConnection;

    async fn open(&'static self, dial: Dial, _: Operation) -> Result<JsonRpcConnection, ClientError> {
        let dissector = Dissector::new(Http1::new(JsonRpcDocs));
        let (stream, counters) =
            wirebench_wire::connect(&dial, dissector).await.map_err(ClientError::Connect)?;
        let sender = Sender::handshake(stream, false).await?;
        Ok(JsonRpcConnection { sender, counters, authority: dial.addr.to_string(), next_id: 0 })
    }
}

/// Which values of JSON-RPC's documents are records: a call's `params.order` (a new order);
/// an answer's `result` when it is one record (a user, an order, a user with their orders),
/// each element of a `result` that is a list, a created order's `result.order`, and in a
/// batch each answer's `result.order`. The rest (`jsonrpc`, `method`, `id`, the params'
/// names, the array punctuation of a list) is envelope. Every call goes to one URL, so the
/// request's body says what its answer holds ([`DocRules::answer`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonRpcDocs;

const WHOLE: &[&str] = &["$.result"];
const LIST: &[&str] = &["$.result[*]"];
const CREATED: &[&str] = &["$.result.order"];
const BATCH: &[&str] = &["$[*].result.order"];

impl DocRules for JsonRpcDocs {
    fn doc(&mut self, dir: Dir, _: &str, _: &[u8]) -> Doc {
        match dir {
            Dir::Sent => Doc::Json(&["$.params.order", "$[*].params.order"]),
            Dir::Received => Doc::Json(WHOLE),
        }
    }

    fn answer(&mut self, _: &str, request: &[u8]) -> Option<Doc> {
        let paths = match json_member(request, "method") {
            None if request.trim_ascii_start().starts_with(b"[") => BATCH,
            None => return None,
            Some(br#""listOrders""# | br#""usersOrders""#) => LIST,
            Some(br#""createOrder""#) => CREATED,
            Some(_) => WHOLE,
        };
        Some(Doc::Json(paths))
    }
}

/// One open connection.
#[derive(Debug)]
pub struct JsonRpcConnection {
    sender: Sender,
    counters: std::sync::Arc<WireCounters>,
    authority: String,
    next_id: u64,
}

/// An answer: a result, or an error object.
#[derive(Deserialize)]
struct Answer<T> {
    result: Option<T>,
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl<T> Answer<T> {
    fn into_result(self) -> Result<T, ClientError> {
        match (self.result, self.error) {
            (Some(result), None) => Ok(result),
            (_, Some(e)) => {
                let domain = e.data.as_ref().and_then(|d| d.get("code")).and_then(Value::as_str);
                let code = domain.map_or_else(|| e.code.to_string(), str::to_owned);
                Err(ClientError::answered(domain, code, e.message, None))
            }
            (None, None) => Err(ClientError::decode("an answer with neither result nor error")),
        }
    }
}

impl JsonRpcConnection {
    /// A call object of `method` with `params`, with the next id.
    fn call_of(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        json!({"jsonrpc": "2.0", "method": method, "params": params, "id": self.next_id})
    }

    /// POSTs `body` and decodes the answer as `T`.
    async fn post<T: DeserializeOwned>(&mut self, body: &Value) -> Result<T, ClientError> {
        let body = Bytes::from(serde_json::to_vec(body).expect("serializes"));
        let req = Request::builder()
            .method(Method::POST)
            .uri(PATH)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .expect("valid request");
        let res = self.sender.send(req).await?;
        let status = res.status();
        let bytes = res.into_body().collect().await.map_err(hyper_error)?.to_bytes();
        if !status.is_success() {
            let message = String::from_utf8_lossy(&bytes).into_owned();
            return Err(ClientError::http(status.as_u16(), message, None));
        }
        wirebench_wire::decoding(|| serde_json::from_slice(&bytes).map_err(ClientError::decode))
    }

    /// One call of `method`: its result.
    async fn invoke<T: DeserializeOwned>(&mut self, method: &str, params: Value) -> Result<T, ClientError> {
        let call = self.call_of(method, params);
        self.post::<Answer<T>>(&call).await?.into_result()
    }
}

/// A created order as the server answers it.
#[derive(Deserialize)]
struct CreatedAnswer {
    order: Order,
    replayed: bool,
}

#[derive(Deserialize)]
struct UserOrders {
    name: String,
    orders: Vec<OrderSummary>,
}

impl Operations for JsonRpcConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let user: User = self.invoke("getUser", json!({"id": p.user_id})).await?;
        Ok(Call::new(Outcome::User(user)))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let UserOrders { name, orders } =
            self.invoke("userOrders", json!({"id": p.user_id, "limit": p.n})).await?;
        Ok(Call::new(Outcome::UserOrders { name, orders }))
    }

    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let users: Vec<UserRecentOrders> = self.invoke("usersOrders", json!({"limit": p.n})).await?;
        Ok(Call::new(Outcome::UsersOrders(users)))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let orders: Vec<Order> = self.invoke("listOrders", json!({"limit": p.n})).await?;
        Ok(Call::new(Outcome::Orders(orders)))
    }

    async fn stream_orders(&mut self, _: &OpParams) -> Result<Call, ClientError> {
        Err(ClientError::decode(JSONRPC.unsupported(Operation::StreamOrders).unwrap_or("unsupported")))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let params = json!({"order": p.new_order, "idempotencyKey": p.idempotency_key});
        let created: CreatedAnswer = self.invoke("createOrder", params).await?;
        Ok(Call::new(Outcome::Created { order: created.order, replayed: created.replayed }))
    }

    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let calls: Vec<Value> = (0..p.n as usize)
            .map(|i| {
                self.call_of("createOrder", json!({"order": p.new_order, "idempotencyKey": p.item_key(i)}))
            })
            .collect();
        let answers: Vec<Answer<CreatedAnswer>> = self.post(&Value::Array(calls)).await?;
        if answers.len() != p.n as usize {
            return Err(ClientError::Decode(format!("{} answers to a batch of {}", answers.len(), p.n)));
        }
        let outcomes: Vec<_> = answers
            .into_iter()
            .map(|a| {
                a.into_result()
                    .map(|c| Created { order: c.order, replayed: c.replayed })
                    .map_err(|e| wirebench_domain::DomainError::Invalid(e.to_string()))
            })
            .collect();
        Ok(Call::new(Outcome::Imported(ImportSummary::of(&outcomes))))
    }

    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let mut orders = Vec::with_capacity(p.order_ids.len());
        for id in &p.order_ids {
            orders.push(self.invoke::<Order>("getOrder", json!({"id": id})).await?);
        }
        let round_trips = u32::try_from(orders.len()).unwrap_or(u32::MAX);
        Ok(Call::new(Outcome::Orders(orders)).round_trips(round_trips))
    }
}
