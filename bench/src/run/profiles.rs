//! What the run profiles (smoke, quick, full) run: the table [`settings`] reads.
//!
//! `quick` is `make bench`: the mission's comparison (each family's main variant and the
//! floor, every operation, loopback at one and sixteen connections, the `wan` link, get-user
//! over TLS) in about five minutes on a 2-core machine. Everything else is one flag away
//! (each dimension's flag adds its cells to any profile), and `full` runs it all; a run
//! prints its estimated time before it starts (`--dry-run` prints only that).

use std::time::Duration;

use super::RunProfile;
use wirebench_engine::catalog::Operation;
use wirebench_engine::clients::Role;

/// The operations whose size a sweep can change (N orders in one answer).
pub const SIZED_OPS: &[Operation] = &[Operation::ListOrders, Operation::StreamOrders];

/// What protects a cell's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Security {
    /// Plaintext TCP.
    Plain,
    /// TLS (rustls), a full handshake on every new connection.
    Tls,
    /// TLS, new connections resuming an earlier session (TLS 1.3 session tickets).
    TlsResumed,
}

impl Security {
    /// The name results.json and the report use.
    pub fn name(self) -> &'static str {
        match self {
            Security::Plain => "plain",
            Security::Tls => "tls",
            Security::TlsResumed => "tls-resumed",
        }
    }
}

/// Named sizes of a run, as the run profiles set them.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSettings {
    /// The variants it runs, by role (None: every variant).
    pub roles: Option<&'static [Role]>,
    pub payloads: &'static [&'static str],
    pub concurrency: &'static [u32],
    pub warmup: Duration,
    pub duration: Duration,
    /// Open-loop rate, and which operations get an open-loop point.
    pub rate: f64,
    pub open_ops: &'static [Operation],
    /// Runs of every cell, each in its own order. Repeats replace length: the cells of a
    /// repeated profile are shorter, so the run takes about as long.
    pub repeat: u32,
    /// Network profiles beside loopback, and the operations run on them.
    pub networks: &'static [&'static str],
    pub network_ops: &'static [Operation],
    /// Rounds (at most `repeat`) that run the emulated networks' cells: their latency is
    /// the link's delays, which repeat exactly, so they need fewer.
    pub network_repeat: u32,
    /// TLS modes beside plaintext, and the operations run with them (on loopback, at the
    /// lowest concurrency, warm and cold).
    pub tls: &'static [Security],
    pub tls_ops: &'static [Operation],
    /// Streams per connection (beside 1) for the variants that multiplex, on one connection,
    /// and the operations run so (on loopback, closed loop).
    pub streams: &'static [u32],
    pub streams_ops: &'static [Operation],
    /// Sizes (N: orders per page or stream) swept for `size_ops`, each its own cell at the
    /// lowest concurrency on loopback and, when `sizes_far`, on the emulated networks.
    pub sizes: &'static [u32],
    pub size_ops: &'static [Operation],
    pub sizes_far: bool,
    /// The operations the compressing variants run in the main sweep (every one of them
    /// runs the size sweep too).
    pub compression_ops: &'static [Operation],
}

/// What each run profile runs.
pub fn settings(p: RunProfile) -> ProfileSettings {
    match p {
        RunProfile::Smoke => SMOKE,
        RunProfile::Quick => QUICK,
        RunProfile::Full => FULL,
    }
}

/// Every protocol and operation for a moment each: for tests and CI.
const SMOKE: ProfileSettings = ProfileSettings {
    roles: None,
    payloads: &["tiny"],
    concurrency: &[2],
    warmup: Duration::from_millis(50),
    duration: Duration::from_millis(250),
    rate: 200.0,
    open_ops: &[Operation::GetUser],
    repeat: 1,
    networks: &[],
    network_ops: &[],
    network_repeat: 1,
    tls: &[],
    tls_ops: &[],
    streams: &[],
    streams_ops: &[],
    sizes: &[],
    size_ops: &[],
    sizes_far: false,
    compression_ops: &Operation::ALL,
};

/// `make bench`: the mission's comparison in about five minutes (see the module docs).
const QUICK: ProfileSettings = ProfileSettings {
    roles: Some(&[Role::Main, Role::Reference]),
    payloads: &["small"],
    concurrency: &[1, 16],
    // Many short rounds rather than a few long ones: a figure is taken over every
    // call of its rounds, spread over the whole run in a new random order each, so a
    // slow or fast moment of the machine moves one round, not the figure. (A shared
    // VM also has slow and fast spells of minutes, which one five-minute run cannot
    // average away: two runs can differ by more than their intervals on the cells
    // they touch; see the method page.)
    warmup: Duration::from_millis(30),
    duration: Duration::from_millis(200),
    rate: 1000.0,
    open_ops: &[],
    repeat: 10,
    networks: &["wan"],
    network_ops: &Operation::ALL,
    // An emulated link's delays dominate its cells' latency (a 40 ms round trip
    // against tens of µs of work): one round of at least NETWORK_MIN_OPS calls
    // gives the figure and its interval.
    network_repeat: 1,
    tls: &[Security::Tls],
    tls_ops: &[Operation::GetUser],
    streams: &[],
    streams_ops: &[],
    sizes: &[],
    size_ops: &[],
    sizes_far: false,
    compression_ops: &[],
};

/// Every variant, payload and dimension.
const FULL: ProfileSettings = ProfileSettings {
    roles: None,
    payloads: &["small", "medium", "large"],
    concurrency: &[1, 4, 16, 64],
    warmup: Duration::from_millis(100),
    duration: Duration::from_millis(350),
    rate: 2000.0,
    open_ops: &Operation::ALL,
    repeat: 5,
    networks: &["lan", "wan", "wan-lossy", "cable", "4g", "3g"],
    network_ops: &[Operation::GetUser, Operation::UserOrders, Operation::UsersOrders, Operation::CreateOrder],
    network_repeat: 2,
    tls: &[Security::Tls, Security::TlsResumed],
    tls_ops: &Operation::ALL,
    streams: &[4, 16, 64],
    streams_ops: &[Operation::GetUser, Operation::ListOrders],
    sizes: &[1, 10, 100, 1000],
    size_ops: SIZED_OPS,
    sizes_far: true,
    compression_ops: &Operation::ALL,
};
