//! The words results are written in: the operations of the catalog, what a variant is in
//! a comparison and what carries it, and an equivalence verdict's kind. The engine, the
//! clients and the report all speak them; only this crate defines them, so that results
//! and the report never need the engine to name a cell.

use serde::{Deserialize, Serialize};

/// One logical operation of the catalog (see the design's table).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// One full user.
    GetUser,
    /// A user's name and their N most recent orders' id, total and status.
    UserOrders,
    /// The first N users, each with their N most recent orders' id, total and status: where
    /// N+1 requests or N+1 store calls show.
    UsersOrders,
    /// A page of N full orders.
    ListOrders,
    /// N orders delivered as N messages, timed per message.
    StreamOrders,
    /// One idempotent create.
    CreateOrder,
    /// N creates, one summary.
    ImportOrders,
    /// N request/reply pairs in one conversation.
    TrackOrders,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::GetUser,
        Operation::UserOrders,
        Operation::UsersOrders,
        Operation::ListOrders,
        Operation::StreamOrders,
        Operation::CreateOrder,
        Operation::ImportOrders,
        Operation::TrackOrders,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::GetUser => "get-user",
            Operation::UserOrders => "user-orders",
            Operation::UsersOrders => "users-orders",
            Operation::ListOrders => "list-orders",
            Operation::StreamOrders => "stream-orders",
            Operation::CreateOrder => "create-order",
            Operation::ImportOrders => "import-orders",
            Operation::TrackOrders => "track-orders",
        }
    }

    /// True for operations that change the store.
    pub fn writes(self) -> bool {
        matches!(self, Operation::CreateOrder | Operation::ImportOrders)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Operation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL.into_iter().find(|o| o.name() == s).ok_or_else(|| {
            let known: Vec<_> = Operation::ALL.iter().map(|o| o.name()).collect();
            format!("unknown operation {s:?} (known: {})", known.join(", "))
        })
    }
}

/// What a variant is in a comparison between protocols.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The family's idiomatic form: what "REST" or "gRPC" means in the verdicts. The quick
    /// profile runs these (and the references).
    Main,
    /// Another way of doing the same (another encoding, transport, compression or query
    /// strategy), or a part of it taken apart (the floor's echo: its transport without its
    /// work): measured when asked for, compared with its family's main variant.
    Variant,
    /// A measuring stick, not a choice: the verdicts never rank it, the report draws it
    /// as the floor under the others.
    Reference,
}

/// What carries a variant's documents (TLS aside, which is its own dimension).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// HTTP/1.1 keep-alive.
    Http1,
    /// HTTP/2 (cleartext, prior knowledge).
    Http2,
    /// WebSocket messages, after an HTTP/1.1 upgrade.
    Websocket,
    /// The floor's length-prefixed frames straight on TCP.
    RawTcp,
}

impl Transport {
    /// Every transport, in the matrix's order.
    pub const ALL: [Transport; 4] =
        [Transport::Http1, Transport::Http2, Transport::Websocket, Transport::RawTcp];

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Http1 => "HTTP/1.1",
            Transport::Http2 => "HTTP/2",
            Transport::Websocket => "WebSocket",
            Transport::RawTcp => "raw TCP",
        }
    }
}

/// A verdict's kind, as `results.json` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Agrees,
    Unsupported,
    Fails,
}

impl VerdictKind {
    /// The name results.json uses.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Agrees => "agrees",
            VerdictKind::Unsupported => "unsupported",
            VerdictKind::Fails => "fails",
        }
    }
}

impl std::fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the checks after a cell sample (what `checks` in a results file counts): one
/// recorded read in this many is kept and compared with the server's store.
pub const SAMPLE_EVERY: u64 = 1000;
/// A worker keeps the records of its first writes, then those of one write in this many, to
/// read back from the server's store after the cell: reading back every write cost a
/// write-heavy cell more than the cell itself (every write is still checked against its
/// request as its answer arrives).
pub const WRITES_KEPT_FIRST: u64 = 32;
pub const WRITE_SAMPLE_EVERY: u64 = 64;
