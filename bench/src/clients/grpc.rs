//! gRPC client (tonic) over a counted TCP stream: all four call modes.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::LocalBoxFuture;
use hyper_util::rt::TokioIo;
use prost::Message;
use tonic::transport::{Endpoint, Uri};
use wirebench_proto::v1 as pb;
use wirebench_proto::v1::shop_client::ShopClient;

use super::{Call, ClientError, Connection, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::wire::WireCounters;

/// gRPC over h2c.
#[derive(Debug)]
pub struct Grpc;

impl Protocol for Grpc {
    fn name(&self) -> &'static str {
        "grpc"
    }

    fn describe(&self) -> &'static str {
        "gRPC over HTTP/2 cleartext (tonic), protobuf messages"
    }

    fn server(&self) -> &'static str {
        "grpc"
    }

    fn connect(
        &'static self,
        addr: SocketAddr,
        _: Operation,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Connection>, ClientError>> {
        Box::pin(async move {
            let counters = Arc::new(WireCounters::default());
            let c = counters.clone();
            let connector = tower::service_fn(move |_: Uri| {
                let c = c.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(crate::wire::connect_with(addr, c).await?)) }
            });
            let channel = Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|e| ClientError::Connect(std::io::Error::other(e)))?
                .connect_with_connector(connector)
                .await
                .map_err(|e| ClientError::Connect(std::io::Error::other(e)))?;
            let client = ShopClient::new(channel).max_decoding_message_size(usize::MAX);
            Ok(Box::new(GrpcConnection { client, counters }) as Box<dyn Connection>)
        })
    }
}

struct GrpcConnection {
    client: ShopClient<tonic::transport::Channel>,
    counters: Arc<WireCounters>,
}

fn server_error(s: tonic::Status) -> ClientError {
    ClientError::Server { code: format!("{:?}", s.code()), message: s.message().to_owned() }
}

/// Protobuf orders as domain orders.
pub(crate) fn orders(list: Vec<pb::Order>) -> Result<Vec<wirebench_domain::Order>, ClientError> {
    list.into_iter().map(|o| o.try_into().map_err(ClientError::decode)).collect()
}

/// A UserOrders reply as an outcome.
pub(crate) fn user_orders(reply: pb::UserOrders) -> Result<Outcome, ClientError> {
    let orders = reply
        .orders
        .into_iter()
        .map(TryInto::try_into)
        .collect::<Result<_, _>>()
        .map_err(ClientError::decode)?;
    Ok(Outcome::UserOrders { name: reply.name, orders })
}

/// The order of a TrackReply, checking it answers request `correlation_id`.
pub(crate) fn tracked(
    reply: pb::TrackReply,
    correlation_id: u64,
) -> Result<wirebench_domain::Order, ClientError> {
    if reply.correlation_id != correlation_id {
        return Err(ClientError::Decode(format!(
            "reply for request {} while waiting for {correlation_id}",
            reply.correlation_id
        )));
    }
    match reply.result {
        Some(pb::track_reply::Result::Order(o)) => o.try_into().map_err(ClientError::decode),
        Some(pb::track_reply::Result::Error(e)) => {
            Err(ClientError::Server { code: e.code, message: e.message })
        }
        None => Err(ClientError::decode("empty track reply")),
    }
}

fn create_request(p: &OpParams, key: Option<String>) -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        idempotency_key: key.unwrap_or_default(),
        order: Some(p.new_order.clone().into()),
    }
}

impl GrpcConnection {
    /// ListOrders, a server stream: list-orders and stream-orders alike (the latter timed
    /// per message).
    async fn list(&mut self, p: &OpParams, timed: bool) -> Result<Call, ClientError> {
        let req = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
        let sent = len(&req);
        let mut marks = Marks::start(p.n as usize);
        let mut stream = self.client.list_orders(req).await.map_err(server_error)?.into_inner();
        let (mut got, mut received) = (Vec::with_capacity(p.n as usize), 0);
        while let Some(order) = stream.message().await.map_err(server_error)? {
            marks.mark();
            received += len(&order);
            got.push(order);
        }
        let call = Call::new(Outcome::Orders(orders(got)?)).payload(sent, received);
        Ok(if timed { call.messages(marks) } else { call })
    }
}

/// Payload bytes of a protobuf message as an integer of the results.
fn len(m: &impl Message) -> u64 {
    m.encoded_len() as u64
}

impl Operations for GrpcConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::GetUserRequest { id: p.user_id };
        let sent = len(&req);
        let user = self.client.get_user(req).await.map_err(server_error)?.into_inner();
        let received = len(&user);
        Ok(Call::new(Outcome::User(user.try_into().map_err(ClientError::decode)?)).payload(sent, received))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::GetUserOrdersRequest { user_id: p.user_id, limit: p.n };
        let sent = len(&req);
        let reply = self.client.get_user_orders(req).await.map_err(server_error)?.into_inner();
        let received = len(&reply);
        Ok(Call::new(user_orders(reply)?).payload(sent, received))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.list(p, false).await
    }

    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.list(p, true).await
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = create_request(p, p.idempotency_key.clone());
        let sent = len(&req);
        let reply = self.client.create_order(req).await.map_err(server_error)?.into_inner();
        let received = len(&reply);
        let order = reply.order.ok_or_else(|| ClientError::decode("reply without order"))?;
        let order = order.try_into().map_err(ClientError::decode)?;
        Ok(Call::new(Outcome::Created { order, replayed: reply.replayed }).payload(sent, received))
    }

    /// ImportOrders, a client stream: N messages in, one summary out.
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let reqs: Vec<_> = (0..p.n as usize).map(|i| create_request(p, p.item_key(i))).collect();
        let sent = reqs.iter().map(len).sum();
        let summary =
            self.client.import_orders(futures::stream::iter(reqs)).await.map_err(server_error)?.into_inner();
        let received = len(&summary);
        Ok(Call::new(Outcome::Imported(summary.into())).payload(sent, received))
    }

    /// TrackOrders, bidirectional: a real conversation, one request, its reply, the next.
    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let outbound = tokio_stream::wrappers::ReceiverStream::new(rx);
        let closed = || ClientError::decode("request stream closed");
        let first =
            pb::TrackRequest { correlation_id: 0, order_id: p.order_ids.first().copied().unwrap_or(0) };
        let mut sent = len(&first);
        tx.send(first).await.map_err(|_| closed())?;
        let mut inbound = self.client.track_orders(outbound).await.map_err(server_error)?.into_inner();
        let (mut got, mut received) = (Vec::with_capacity(p.order_ids.len()), 0);
        for i in 0..p.order_ids.len() {
            if i > 0 {
                let req = pb::TrackRequest { correlation_id: i as u64, order_id: p.order_ids[i] };
                sent += len(&req);
                tx.send(req).await.map_err(|_| closed())?;
            }
            let reply = inbound
                .message()
                .await
                .map_err(server_error)?
                .ok_or_else(|| ClientError::decode("conversation ended early"))?;
            received += len(&reply);
            got.push(tracked(reply, i as u64)?);
        }
        drop(tx);
        // Drain the end of the stream so its trailers are part of this call.
        while inbound.next().await.is_some() {}
        Ok(Call::new(Outcome::Orders(got)).payload(sent, received).round_trips(p.order_ids.len() as u32))
    }
}
