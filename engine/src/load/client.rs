//! What the engine drives: a client opens connections ([`Client`]), a connection runs the
//! catalog's operations ([`Operations`], dispatched by [`call`]) and says what came back
//! ([`Call`], [`ClientError`], [`Marks`]), and [`Drive`] reaches the engine from a `&dyn`
//! protocol. `crate::clients` implements these for every protocol; the engine names none.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;

use super::{CellSpec, CellStats};
use crate::catalog::{OpParams, Operation, Outcome};
use wirebench_wire::{Dial, WireCounters};

/// A protocol's client: how to open one of its connections. What a client file implements,
/// beside `clients::Protocol` and [`Operations`].
pub trait Client: Sync + 'static {
    type Conn: Operations + 'static;
    /// Opens a connection ready to run `op` (set-up handshakes included), as `dial` says.
    fn open(
        &'static self,
        dial: Dial,
        op: Operation,
    ) -> impl Future<Output = Result<Self::Conn, ClientError>>;
    /// Another handle onto `conn`'s connection, whose calls run beside `conn`'s on the same
    /// socket (and count on the same counters); `None` when the protocol runs one call at a
    /// time (see `clients::Protocol::multiplexes`).
    fn lane(&'static self, conn: &Self::Conn) -> Option<Self::Conn> {
        let _ = conn;
        None
    }
}

/// One open connection (or conversation) with a server, boxed.
pub trait Connection {
    /// Runs one operation and waits for all of its answer.
    fn call<'a>(
        &'a mut self,
        op: Operation,
        params: &'a OpParams,
    ) -> LocalBoxFuture<'a, Result<Call, ClientError>>;
    /// Bytes, turns and clocks of this connection's socket so far.
    fn counters(&self) -> &WireCounters;
}

/// A connection's catalog operations, one method each: what a client file implements. The
/// one dispatch from [`Operation`] to these methods is [`call`].
// Not `Send` on purpose: every connection lives on one current-thread runtime.
#[allow(
    async_fn_in_trait,
    reason = "connections are driven on current-thread runtimes; no Send bound wanted"
)]
pub trait Operations {
    /// Bytes, turns and clocks of this connection's socket so far.
    fn counters(&self) -> &WireCounters;
    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError>;
    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError>;
    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError>;
    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError>;
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError>;
    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError>;
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError>;
    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError>;
}

/// Runs `op` on `conn`: the one dispatch from an operation to its method.
pub async fn call<T: Operations>(conn: &mut T, op: Operation, p: &OpParams) -> Result<Call, ClientError> {
    match op {
        Operation::GetUser => conn.get_user(p).await,
        Operation::UserOrders => conn.user_orders(p).await,
        Operation::UsersOrders => conn.users_orders(p).await,
        Operation::ListOrders => conn.list_orders(p).await,
        Operation::StreamOrders => conn.stream_orders(p).await,
        Operation::CreateOrder => conn.create_order(p).await,
        Operation::ImportOrders => conn.import_orders(p).await,
        Operation::TrackOrders => conn.track_orders(p).await,
    }
}

impl<T: Operations> Connection for T {
    fn call<'a>(
        &'a mut self,
        op: Operation,
        p: &'a OpParams,
    ) -> LocalBoxFuture<'a, Result<Call, ClientError>> {
        Box::pin(call(self, op, p))
    }

    fn counters(&self) -> &WireCounters {
        Operations::counters(self)
    }
}

/// What one call returned, as the client saw it. Bytes and round trips are not here: the
/// counting layer measures them on the socket.
#[derive(Debug, Clone)]
pub struct Call {
    pub outcome: Outcome,
    /// The request waves the client believes it waited for: only a cross-check of what the
    /// socket shows (the equivalence gate fails when the two disagree).
    pub declared_round_trips: u32,
    /// For streams: when each message arrived, from the start of the call.
    pub message_times: Vec<Duration>,
}

impl Call {
    /// A call of one request wave that timed no messages.
    pub fn new(outcome: Outcome) -> Call {
        Call { outcome, declared_round_trips: 1, message_times: Vec::new() }
    }

    /// The request waves the call waited for in sequence, as the client sees it.
    pub fn round_trips(self, round_trips: u32) -> Call {
        Call { declared_round_trips: round_trips, ..self }
    }

    /// When each message of a stream arrived.
    pub fn messages(self, marks: Marks) -> Call {
        Call { message_times: marks.into_times(), ..self }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered with an error of its protocol (HTTP status, gRPC status, ...).
    #[error("server error {code}: {message}")]
    Server { code: String, message: String },
    /// The server answered something the client cannot decode.
    #[error("bad response: {0}")]
    Decode(String),
    #[error("timed out")]
    Timeout,
    /// The server refused the call before doing anything, in its protocol's terms (HTTP 503
    /// or 429, gRPC UNAVAILABLE or RESOURCE_EXHAUSTED with pushback, a GraphQL, WebSocket,
    /// floor or JSON-RPC error with the domain's code), perhaps with a hint of when to retry.
    #[error("refused {code}: {message}")]
    Refused { code: String, message: String, overload: bool, retry_after: Option<Duration> },
}

impl ClientError {
    /// Short kind, for counting errors by kind.
    pub fn kind(&self) -> String {
        match self {
            ClientError::Connect(_) => "connect".into(),
            ClientError::Io(_) => "io".into(),
            ClientError::Server { code, .. } => format!("server:{code}"),
            ClientError::Decode(_) => "decode".into(),
            ClientError::Timeout => "timeout".into(),
            ClientError::Refused { code, .. } => format!("refused:{code}"),
        }
    }

    /// Whether the server answered (with an error): the connection is still usable.
    pub fn answered_by_server(&self) -> bool {
        matches!(self, ClientError::Server { .. } | ClientError::Refused { .. })
    }

    /// An HTTP error answer without the protocol's own error body (from something between
    /// client and server, such as a gateway's rate limit): 429 and 503 are refusals, as HTTP
    /// says, anything else a server error.
    pub(crate) fn http(status: u16, message: String, retry_after: Option<Duration>) -> Self {
        let domain = match status {
            429 => Some("overloaded"),
            503 => Some("unavailable"),
            _ => None,
        };
        ClientError::answered(domain, status.to_string(), message, retry_after)
    }

    /// A server's error answer: a refusal when the domain's code (`domain`, as the protocol
    /// carries it) says nothing was done ("unavailable", "overloaded"), else a server error.
    pub(crate) fn answered(
        domain: Option<&str>,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        match domain {
            Some("unavailable") => ClientError::Refused { code, message, overload: false, retry_after },
            Some("overloaded") => ClientError::Refused { code, message, overload: true, retry_after },
            _ => ClientError::Server { code, message },
        }
    }

    pub(crate) fn decode(e: impl std::fmt::Display) -> Self {
        ClientError::Decode(e.to_string())
    }
}

/// Records message arrival times for stream operations: when the read that delivered a
/// message returned (the counting layer's last-answer stamp when the message is taken), so
/// decoding it is not included, as it is not in latency.
#[derive(Debug)]
pub struct Marks {
    start: Instant,
    times: Vec<Duration>,
}

impl Marks {
    pub(crate) fn start(expected: usize) -> Self {
        Marks { start: Instant::now(), times: Vec::with_capacity(expected) }
    }

    /// A message was taken off `counters`' connection.
    pub(crate) fn mark(&mut self, counters: &WireCounters) {
        let now = Instant::now();
        let at = counters.last_answer().filter(|t| *t >= self.start && *t <= now).unwrap_or(now);
        self.times.push(at - self.start);
    }

    pub(crate) fn into_times(self) -> Vec<Duration> {
        self.times
    }
}

/// What the harness does with a protocol, whatever its client: open a boxed connection (for
/// checks and tests), or drive a timed cell with the engine made for its connection type
/// ([`super::drive`]). Every protocol is one (`clients` implements it for each [`Client`]), so
/// a `&dyn` of it reaches the engine monomorphised for that client.
pub trait Drive: Sync {
    /// The variant's name (for a cell's debug output).
    fn variant(&self) -> &'static str;
    /// Opens a connection ready to run `op`, as `dial` says.
    fn connect(
        &'static self,
        dial: Dial,
        op: Operation,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Connection>, ClientError>>;
    /// Runs one timed cell (see [`crate::load`]).
    fn run_cell(&'static self, spec: &CellSpec) -> CellStats;
}
