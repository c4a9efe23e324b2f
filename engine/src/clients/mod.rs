//! Protocol clients: one file per protocol, one [`Client`] per named variant, and the one
//! registry list [`PROTOCOLS`]. Nothing outside a client's own file names its protocol.
//!
//! A [`Client`] opens connections; a connection runs catalog operations one at a time
//! ([`Operations`]) and reports, per call, the decoded [`crate::catalog::Outcome`]. Everything about the wire
//! (bytes by layer, request waves, turns, when the answer's last byte arrived, decode time)
//! is measured by the connection's [`WireCounters`]; the client's own count of its round
//! trips is only a cross-check.
//!
//! The load engine is generic over the client ([`Drive::run_cell`]): a timed call goes
//! through no boxed future and no virtual call. Checks and tests use the boxed
//! [`Connection`] of [`Drive::connect`].

use wirebench_wire::Dial;

use futures::future::LocalBoxFuture;

use crate::catalog::{OpParams, Operation};
pub use crate::load::client::{Call, Client, ClientError, Connection, Drive, Marks, Operations, call};
use crate::load::{CellSpec, CellStats};
pub use wirebench_results::vocab::{Role, Transport};

pub mod floor;
pub mod graphql;
pub mod grpc;
mod h1;
mod http_conn;
pub mod jsonrpc;
pub mod rest;
pub mod ws;

/// Every protocol variant the harness can drive, in report order.
pub static PROTOCOLS: &[&dyn Protocol] = &[
    &rest::REST,
    &rest::REST_H2,
    &rest::REST_H2_CONCURRENT,
    &rest::REST_INCLUDE,
    &rest::REST_GZIP,
    &rest::REST_BR,
    &rest::REST_ZSTD,
    &rest::REST_PROTO,
    &rest::REST_PROTO_H2,
    &rest::REST_SSE,
    &grpc::GRPC,
    &grpc::GRPC_JSON,
    &grpc::GRPC_WEB,
    &grpc::GRPC_GZIP,
    &grpc::GRPC_ZSTD,
    &graphql::GRAPHQL,
    &graphql::GRAPHQL_NO_DATALOADER,
    &graphql::GRAPHQL_GZIP,
    &graphql::GRAPHQL_H2,
    &ws::WS,
    &ws::WS_DEFLATE,
    &ws::WS_PROTO,
    &jsonrpc::JSONRPC,
    &floor::FLOOR,
    &floor::FLOOR_ECHO,
];

/// Looks a variant up by name.
pub fn protocol(name: &str) -> Option<&'static dyn Protocol> {
    PROTOCOLS.iter().copied().find(|p| p.name() == name)
}

/// The idempotency key a write of the variant named carries (None: writes carry none).
pub type KeyOf<'k> = dyn Fn(&str) -> Option<String> + Sync + 'k;

/// What the variants among `protocols` that carry no records replay, each sized by the
/// variant on the `reference` store ([`Protocol::stand_in`]), by name: for
/// [`OpParams::stand_ins`].
pub async fn stand_ins(
    protocols: &[&'static dyn Protocol],
    reference: &wirebench_domain::Store,
    p: &OpParams,
    key_of: &KeyOf<'_>,
) -> Result<std::collections::BTreeMap<&'static str, crate::catalog::StandIn>, String> {
    let mut out = std::collections::BTreeMap::new();
    for protocol in protocols {
        if let Some(sizing) = protocol.stand_in(reference, p, key_of) {
            out.insert(protocol.name(), sizing.await.map_err(|e| format!("{}: {e}", protocol.name()))?);
        }
    }
    Ok(out)
}

/// A way of talking to one of the servers: what it is called and what it runs.
pub trait Protocol: Drive + Sync {
    /// Name on the command line and in results, e.g. `rest-h2`.
    fn name(&self) -> &'static str;
    /// One line: what goes over the wire.
    fn describe(&self) -> &'static str;
    /// Name of the server (in `wirebench_servers::SERVERS`) this variant talks to.
    fn server(&self) -> &'static str;
    /// The family it belongs to, as a reader names it ("REST", "gRPC", …): the report groups
    /// variants by family, so a chart has a handful of series instead of every variant.
    fn family(&self) -> &'static str;
    /// What it is in a comparison: the family's idiomatic form, another way of doing the
    /// same, or a reference that is no choice at all (the raw-TCP floor).
    fn role(&self) -> Role;
    /// How its documents encode records: `json` or `protobuf`.
    fn encoding(&self) -> &'static str;
    /// What carries its documents: with [`Protocol::encoding`], its cell of the report's
    /// encoding × transport matrix.
    fn transport(&self) -> Transport;
    /// A variant that compresses: its codec, and the variant it otherwise equals.
    fn compression(&self) -> Option<(&'static str, &'static str)> {
        None
    }
    /// Why this variant does not run `op`, if it does not.
    fn unsupported(&self, op: Operation) -> Option<&'static str> {
        let _ = op;
        None
    }
    /// Whether answers carry the catalog's records (false: stand-in bytes of the sizes
    /// [`Protocol::stand_in`] measures, [`crate::catalog::Outcome::StandIn`]).
    fn carries_records(&self) -> bool {
        true
    }
    /// A variant that carries no records: the messages it replays for each operation, sized
    /// on the `reference` store with `p`. `key_of(name)` is the idempotency key a write of
    /// the variant `name` carries, for a variant that replays another's messages to the byte.
    /// None (the default): the variant carries records.
    fn stand_in<'a>(
        &'a self,
        reference: &'a wirebench_domain::Store,
        p: &'a OpParams,
        key_of: &'a KeyOf<'a>,
    ) -> Option<futures::future::BoxFuture<'a, Result<crate::catalog::StandIn, String>>> {
        let _ = (reference, p, key_of);
        None
    }
    /// The path of a plain HTTP/1.1 GET its server answers with a `Date` header, for a shard
    /// to read the server's clock (`wirebench::shard::clock_offset`); None when it has none.
    fn clock_path(&self) -> Option<&'static str> {
        None
    }
    /// Whether one connection carries several calls at once (HTTP/2 streams, WebSocket
    /// requests matched by correlation id): such a variant runs `--streams` cells (see
    /// [`Client::lane`]).
    fn multiplexes(&self) -> bool {
        false
    }
}

impl std::fmt::Debug for dyn Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every protocol's client drives the engine monomorphised for it.
impl<C: Client + Protocol> Drive for C {
    fn variant(&self) -> &'static str {
        self.name()
    }

    fn connect(
        &'static self,
        dial: Dial,
        op: Operation,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Connection>, ClientError>> {
        Box::pin(async move { Ok(Box::new(self.open(dial, op).await?) as Box<dyn Connection>) })
    }

    fn run_cell(&'static self, spec: &CellSpec) -> CellStats {
        crate::load::drive(self, spec)
    }
}

/// An answer's body, decompressed when its `Content-Encoding` names a coding (on the decode
/// clock: inflating is part of turning the answer's bytes into domain types); a coding other
/// than the one `asked` for is a decode error.
pub(crate) fn inflate(
    named: Option<&http::HeaderValue>,
    asked: Option<wirebench_servers::coding::Coding>,
    body: bytes::Bytes,
) -> Result<bytes::Bytes, ClientError> {
    let Some(named) = named else { return Ok(body) };
    let coding = wirebench_servers::coding::Coding::parse(named.as_bytes())
        .filter(|c| Some(*c) == asked)
        .ok_or_else(|| ClientError::Decode(format!("an answer in Content-Encoding {named:?}")))?;
    wirebench_wire::decoding(|| coding.decode(&body, usize::MAX))
        .map(bytes::Bytes::from)
        .map_err(ClientError::decode)
}
