//! Client of the raw-TCP floor protocol (`wirebench_servers::floor` documents the frames).

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::LocalBoxFuture;
use prost::Message;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use wirebench_proto::v1 as pb;
use wirebench_servers::floor::{Frame, kind, op, read_frame, write_frame};

use super::{Call, ClientError, Connection, Marks, Operations, Protocol};
use crate::catalog::{OpParams, Operation, Outcome};
use crate::clients::grpc::{orders, user_orders};
use crate::wire::{Counted, WireCounters};

/// Largest reply the client accepts.
const MAX_REPLY: usize = 256 * 1024 * 1024;

/// The floor protocol.
#[derive(Debug)]
pub struct Floor;

impl Protocol for Floor {
    fn name(&self) -> &'static str {
        "floor"
    }

    fn describe(&self) -> &'static str {
        "raw TCP, 4-byte length prefix, protobuf messages: no HTTP at all"
    }

    fn server(&self) -> &'static str {
        "floor"
    }

    fn connect(
        &'static self,
        addr: SocketAddr,
        _: Operation,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Connection>, ClientError>> {
        Box::pin(async move {
            let (stream, counters) = crate::wire::connect(addr).await.map_err(ClientError::Connect)?;
            let (r, w) = tokio::io::split(stream);
            Ok(Box::new(FloorConnection {
                r: BufReader::new(r),
                w: BufWriter::new(w),
                counters,
                frame: Vec::new(),
                scratch: Vec::new(),
            }) as Box<dyn Connection>)
        })
    }
}

struct FloorConnection {
    r: BufReader<tokio::io::ReadHalf<Counted<TcpStream>>>,
    w: BufWriter<tokio::io::WriteHalf<Counted<TcpStream>>>,
    counters: Arc<WireCounters>,
    /// Reused read buffer.
    frame: Vec<u8>,
    /// Reused encode buffer.
    scratch: Vec<u8>,
}

impl FloorConnection {
    /// Sends one request frame (not flushed). Returns the payload bytes.
    async fn send(&mut self, code: u8, msg: &impl Message) -> Result<u64, ClientError> {
        self.scratch.clear();
        msg.encode(&mut self.scratch).expect("Vec grows");
        write_frame(&mut self.w, code, &self.scratch).await?;
        Ok(self.scratch.len() as u64)
    }

    /// Reads one reply frame; returns its kind (errors become [`ClientError::Server`]).
    async fn receive(&mut self) -> Result<u8, ClientError> {
        match read_frame(&mut self.r, &mut self.frame, MAX_REPLY).await? {
            Frame::Body => {}
            Frame::End => return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Frame::TooLarge(len) => {
                return Err(ClientError::Decode(format!("reply of {len} bytes over the limit")));
            }
        }
        match self.frame.first().copied() {
            Some(kind::ERROR) => {
                let text = String::from_utf8_lossy(&self.frame[1..]);
                let (code, message) = text.split_once(": ").unwrap_or(("error", &text));
                Err(ClientError::Server { code: code.to_owned(), message: message.to_owned() })
            }
            Some(k) => Ok(k),
            None => Err(ClientError::decode("empty frame")),
        }
    }

    fn body<M: Message + Default>(&self) -> Result<M, ClientError> {
        M::decode(&self.frame[1..]).map_err(ClientError::decode)
    }

    /// One request, one `OK` reply.
    async fn unary<M: Message + Default>(
        &mut self,
        code: u8,
        req: &impl Message,
    ) -> Result<(M, u64, u64), ClientError> {
        let sent = self.send(code, req).await?;
        self.w.flush().await?;
        match self.receive().await? {
            kind::OK => Ok((self.body()?, sent, (self.frame.len() - 1) as u64)),
            other => Err(ClientError::Decode(format!("expected OK, got frame kind {other}"))),
        }
    }
}

impl Operations for FloorConnection {
    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (user, s, r): (pb::User, _, _) =
            self.unary(op::GET_USER, &pb::GetUserRequest { id: p.user_id }).await?;
        Ok(Call::new(Outcome::User(user.try_into().map_err(ClientError::decode)?)).payload(s, r))
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::GetUserOrdersRequest { user_id: p.user_id, limit: p.n };
        let (reply, s, r) = self.unary(op::USER_ORDERS, &req).await?;
        Ok(Call::new(user_orders(reply)?).payload(s, r))
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
        let (page, s, r): (pb::OrderPage, _, _) = self.unary(op::LIST_ORDERS, &req).await?;
        Ok(Call::new(Outcome::Orders(orders(page.orders)?)).payload(s, r))
    }

    /// One `ITEM` frame per order, then `END`.
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
        let mut marks = Marks::start(p.n as usize);
        let sent = self.send(op::STREAM_ORDERS, &req).await?;
        self.w.flush().await?;
        let (mut got, mut received) = (Vec::with_capacity(p.n as usize), 0u64);
        loop {
            match self.receive().await? {
                kind::ITEM => {
                    marks.mark();
                    received += (self.frame.len() - 1) as u64;
                    got.push(self.body::<pb::Order>()?);
                }
                kind::END => break,
                other => return Err(ClientError::Decode(format!("unexpected frame kind {other}"))),
            }
        }
        Ok(Call::new(Outcome::Orders(orders(got)?)).payload(sent, received).messages(marks))
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let req = pb::CreateOrderRequest {
            idempotency_key: p.idempotency_key.clone().unwrap_or_default(),
            order: Some(p.new_order.clone().into()),
        };
        let (reply, s, r): (pb::CreateOrderResponse, _, _) = self.unary(op::CREATE_ORDER, &req).await?;
        let order = reply.order.ok_or_else(|| ClientError::decode("reply without order"))?;
        let order = order.try_into().map_err(ClientError::decode)?;
        Ok(Call::new(Outcome::Created { order, replayed: reply.replayed }).payload(s, r))
    }

    /// N `IMPORT_ITEM` frames (no replies), then one `IMPORT_COMMIT` for the summary.
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let mut sent = 0;
        for i in 0..p.n as usize {
            let req = pb::CreateOrderRequest {
                idempotency_key: p.item_key(i).unwrap_or_default(),
                order: Some(p.new_order.clone().into()),
            };
            sent += self.send(op::IMPORT_ITEM, &req).await?;
        }
        let (summary, s, r) = self.unary(op::IMPORT_COMMIT, &()).await?;
        Ok(Call::new(Outcome::Imported(pb::ImportSummary::into(summary))).payload(sent + s, r))
    }

    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        let (mut got, mut sent, mut received) = (Vec::with_capacity(p.order_ids.len()), 0, 0);
        for (i, id) in p.order_ids.iter().enumerate() {
            let req = pb::TrackRequest { correlation_id: i as u64, order_id: *id };
            let (reply, s, r): (pb::TrackReply, _, _) = self.unary(op::TRACK, &req).await?;
            got.push(crate::clients::grpc::tracked(reply, i as u64)?);
            (sent, received) = (sent + s, received + r);
        }
        Ok(Call::new(Outcome::Orders(got)).payload(sent, received).round_trips(p.order_ids.len() as u32))
    }
}
