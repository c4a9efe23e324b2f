//! `floor-echo`: the floor's transport cost for another protocol's messages. For every
//! catalog operation it replays, over the raw-TCP floor, the message pattern gRPC has for it
//! ([`crate::clients::grpc::message_shapes`]): each request as a frame of the same size, each
//! answer as an `ITEM` of the same size (written as the server produces them, flushed when
//! nothing more is ready, as gRPC's server does), requests that gRPC answers later (an
//! import's items) as `SINK` frames. The server does no
//! store and no codec work, and the client decodes nothing: what is left is what moving those
//! bytes costs this machine.
//!
//! A `FILL` request carries the sizes it asks for (4 bytes, then 4 per answer), padded to the
//! gRPC request's size when that is larger.

use wirebench_wire::Dial;

use wirebench_servers::floor::{kind, op};

use super::{Floor, FloorConnection};
use crate::catalog::{Exchange, OpParams, Operation, Outcome};
use crate::clients::{Call, Client, ClientError, KeyOf, Marks, Operations, Protocol};
use wirebench_wire::WireCounters;

/// The floor's echo variant.
#[derive(Debug)]
pub struct FloorEcho;

pub static FLOOR_ECHO: FloorEcho = FloorEcho;

impl Protocol for FloorEcho {
    fn encoding(&self) -> &'static str {
        "protobuf"
    }

    fn transport(&self) -> crate::clients::Transport {
        crate::clients::Transport::RawTcp
    }

    fn name(&self) -> &'static str {
        "floor-echo"
    }

    fn describe(&self) -> &'static str {
        "raw TCP moving exactly gRPC's message sizes per operation, with no store or codec work: the transport floor"
    }

    fn server(&self) -> &'static str {
        Floor.server()
    }

    fn carries_records(&self) -> bool {
        false
    }

    /// gRPC's messages, sized by gRPC's own code on the reference store, writes with the key
    /// a timed gRPC write carries.
    fn stand_in<'a>(
        &'a self,
        reference: &'a wirebench_domain::Store,
        p: &'a OpParams,
        key_of: &'a KeyOf<'a>,
    ) -> Option<futures::future::BoxFuture<'a, Result<crate::catalog::StandIn, String>>> {
        let mimicked = crate::clients::grpc::GRPC.name();
        Some(Box::pin(async move {
            let mut sizing = p.clone();
            sizing.idempotency_key = key_of(mimicked);
            crate::clients::grpc::message_shapes(reference, &sizing)
                .await
                .map_err(|e| format!("sizing {mimicked}'s messages on the reference store: {e}"))
        }))
    }

    fn family(&self) -> &'static str {
        "floor"
    }

    /// The floor's transport taken apart from its work: measured when asked for, beside the
    /// floor itself (the reference).
    fn role(&self) -> crate::clients::Role {
        crate::clients::Role::Variant
    }
}

impl Client for FloorEcho {
    type Conn = EchoConnection;

    async fn open(&'static self, dial: Dial, _: Operation) -> Result<EchoConnection, ClientError> {
        Ok(EchoConnection { conn: FloorConnection::open(&dial).await?, body: Vec::new() })
    }
}

/// A floor connection replaying message sizes.
#[derive(Debug)]
pub struct EchoConnection {
    conn: FloorConnection,
    /// Reused request body.
    body: Vec<u8>,
}

impl EchoConnection {
    /// Replays `op`'s exchanges; the sizes of the answers received, the waits, the marks.
    async fn replay(&mut self, op: Operation, p: &OpParams) -> Result<Call, ClientError> {
        let exchanges: &[Exchange] = p.stand_in(FLOOR_ECHO.name(), op);
        if exchanges.is_empty() {
            return Err(ClientError::Decode(format!("no message sizes to replay for {op}")));
        }
        let expected: usize = exchanges.iter().map(|e| e.replies.len()).sum();
        let (mut got, mut waits) = (Vec::with_capacity(expected), 0u32);
        let mut marks = Marks::start(expected);
        for e in exchanges {
            self.body.clear();
            if e.replies.is_empty() {
                self.body.resize(e.request, 0);
                self.conn.send_raw(op::SINK, &self.body).await?;
                continue;
            }
            let count = u32::try_from(e.replies.len()).map_err(ClientError::decode)?;
            self.body.extend(count.to_be_bytes());
            for size in &e.replies {
                self.body.extend(u32::try_from(*size).map_err(ClientError::decode)?.to_be_bytes());
            }
            let padded = self.body.len().max(e.request);
            self.body.resize(padded, 0);
            self.conn.send_raw(op::FILL, &self.body).await?;
            self.conn.flush().await?;
            waits += 1;
            loop {
                match self.conn.receive().await? {
                    kind::ITEM => {
                        marks.mark(&self.conn.counters);
                        got.push(self.conn.frame.len() - 1);
                    }
                    kind::END => break,
                    other => return Err(ClientError::Decode(format!("unexpected frame kind {other}"))),
                }
            }
        }
        let call = Call::new(Outcome::StandIn(got)).round_trips(waits);
        Ok(if op == Operation::StreamOrders { call.messages(marks) } else { call })
    }
}

impl Operations for EchoConnection {
    fn counters(&self) -> &WireCounters {
        &self.conn.counters
    }

    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.replay(Operation::GetUser, p).await
    }

    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.replay(Operation::UserOrders, p).await
    }

    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.replay(Operation::UsersOrders, p).await
    }

    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.replay(Operation::ListOrders, p).await
    }

    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.replay(Operation::StreamOrders, p).await
    }

    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.replay(Operation::CreateOrder, p).await
    }

    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.replay(Operation::ImportOrders, p).await
    }

    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.replay(Operation::TrackOrders, p).await
    }
}
