//! The plan of a run, decided before anything starts: which protocols, operations,
//! payloads and load points, cell by cell in the order they run, with server and client
//! pinned where. Pure, so tests can check it without a server.

use std::time::Duration;

use anyhow::{Context as _, bail};
use wirebench_domain::Profiles;

use super::setup::Setup;
use super::{RunArgs, RunProfile};
use wirebench_engine::catalog::Operation;
use wirebench_engine::clients::{PROTOCOLS, Protocol};
use wirebench_wire::net::{LOOPBACK, Network, Networks};

use super::profiles::{ProfileSettings, SIZED_OPS, Security, settings};

/// A load point of a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadPoint {
    /// `concurrency` workers back to back.
    Closed { concurrency: u32 },
    /// A fixed total `rate` (operations per second) spread over `concurrency` workers.
    Open { concurrency: u32, rate: f64 },
}

impl LoadPoint {
    pub fn concurrency(self) -> u32 {
        match self {
            LoadPoint::Closed { concurrency } | LoadPoint::Open { concurrency, .. } => concurrency,
        }
    }

    pub fn rate(self) -> Option<f64> {
        match self {
            LoadPoint::Closed { .. } => None,
            LoadPoint::Open { rate, .. } => Some(rate),
        }
    }
}

impl std::fmt::Display for LoadPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadPoint::Closed { concurrency } => write!(f, "c={concurrency}"),
            LoadPoint::Open { rate, .. } => write!(f, "open {rate}/s"),
        }
    }
}

/// Where server and client threads run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinning {
    /// Cores the server child is pinned to (empty: not pinned).
    pub server_cores: Vec<usize>,
    /// Cores client threads are pinned to, round robin (empty: not pinned).
    pub client_cores: Vec<usize>,
    /// Client threads (each its own current-thread runtime).
    pub client_threads: usize,
}

impl Pinning {
    /// Server on core 0 and clients on the others when there are two cores or more and the
    /// servers are ours; otherwise nothing is pinned and the clients leave a core free.
    pub fn decide(cores: usize, pin: bool) -> Pinning {
        if pin && cores >= 2 {
            Pinning { server_cores: vec![0], client_cores: (1..cores).collect(), client_threads: cores - 1 }
        } else {
            Pinning {
                server_cores: Vec::new(),
                client_cores: Vec::new(),
                client_threads: cores.saturating_sub(1).max(1),
            }
        }
    }
}

/// One cell to measure.
#[derive(Clone, Copy)]
pub struct CellPlan {
    pub protocol: &'static dyn Protocol,
    pub op: Operation,
    pub point: LoadPoint,
    /// Index into [`Plan::networks`].
    pub network: usize,
    /// Whether that network is emulated (not loopback).
    pub emulated: bool,
    /// A new connection per call (cold).
    pub fresh: bool,
    pub security: Security,
    /// Calls in flight on each connection (1 but for `--streams` cells).
    pub streams: u32,
    /// A size sweep's N (None: the run's N).
    pub size: Option<u32>,
    /// The gateway in the path (None: direct).
    pub via: Option<crate::gateway::Via>,
}

impl std::fmt::Debug for CellPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.protocol.name(), self.op, self.point)?;
        if self.emulated {
            write!(f, " on network {}", self.network)?;
        }
        if self.fresh {
            write!(f, " cold")?;
        }
        if self.security != Security::Plain {
            write!(f, " {}", self.security.name())?;
        }
        if let Some(via) = self.via {
            write!(f, " via {}", via.name())?;
        }
        if self.streams > 1 {
            write!(f, " ×{} streams", self.streams)?;
        }
        if let Some(n) = self.size {
            write!(f, " n={n}")?;
        }
        Ok(())
    }
}

/// Everything a run will do: the one value `wirebench run`'s arguments become (nothing past
/// [`Plan::new`] reads them).
#[derive(Debug, Clone)]
pub struct Plan {
    /// What the run needs beside its cells.
    pub setup: Setup,
    /// The full profile's estimate on this machine, when this run is not it (the report's
    /// "Not in this run" quotes it).
    pub full_estimate: Option<Duration>,
    pub protocols: Vec<&'static dyn Protocol>,
    pub operations: Vec<Operation>,
    pub payloads: Vec<String>,
    /// Closed-loop concurrency levels.
    pub concurrency: Vec<u32>,
    /// The open-loop rate, when open-loop points run.
    pub rate: Option<f64>,
    /// Operations that get an open-loop point.
    pub open_ops: Vec<Operation>,
    pub warmup: Duration,
    pub duration: Duration,
    pub pinning: Pinning,
    /// Runs of every cell.
    pub repeat: u32,
    /// Runs of the emulated networks' cells (at most `repeat`).
    pub network_repeat: u32,
    /// Seeds each repeat's order of cells (recorded, so a run's order can be replayed).
    pub order_seed: u64,
    /// When the run began, or the shards' shared start time (`--start-at`).
    pub start: std::time::SystemTime,
    /// Loopback first, then the emulated networks.
    pub networks: Vec<Network>,
    /// Operations run on the emulated networks.
    pub network_ops: Vec<Operation>,
    /// Whether cold cells run beside the warm ones.
    pub fresh: bool,
    /// TLS modes beside plaintext, and the operations run with them.
    pub tls: Vec<Security>,
    pub tls_ops: Vec<Operation>,
    /// Streams per connection beside 1, and the operations run with them.
    pub streams: Vec<u32>,
    pub streams_ops: Vec<Operation>,
    /// Swept sizes, the operations swept, and whether on the emulated networks too.
    pub sizes: Vec<u32>,
    pub size_ops: Vec<Operation>,
    pub sizes_far: bool,
    /// The operations the compressing variants run in the main sweep.
    pub compression_ops: Vec<Operation>,
    /// Gateways in the path beside direct (`--via`), and the operations run through them.
    pub vias: Vec<crate::gateway::Via>,
    pub via_ops: Vec<Operation>,
    /// Whether connections dissect what they carry (`--no-dissect` turns it off, to
    /// measure what dissection costs).
    pub dissect: bool,
}

impl Plan {
    /// The connection cap the run's own server gets: the servers' default, or more when a
    /// concurrency level asks for it, so the harness never meets the cap it does not measure
    /// (each client worker holds one connection; the margin covers a worker's reconnects
    /// and the equivalence gate's).
    pub fn connection_cap(&self) -> usize {
        let most = self.concurrency.iter().copied().max().unwrap_or(1) as usize;
        wirebench_servers::ServerConfig::MAX_CONNECTIONS.max(4 * most + 64)
    }

    /// The plan for `args` on a machine with `cores` cores.
    pub fn new(args: &RunArgs, cores: usize) -> anyhow::Result<Plan> {
        let profile = settings(args.profile);
        let start = args.start_at.unwrap_or_else(std::time::SystemTime::now);
        let protocols = protocols(args, &profile)?;
        let operations =
            if args.operations.is_empty() { Operation::ALL.to_vec() } else { args.operations.clone() };
        let payloads = payloads(args, &profile)?;
        let concurrency =
            if args.concurrency.is_empty() { profile.concurrency.to_vec() } else { args.concurrency.clone() };
        let pin = !args.no_pin && args.target.is_none();
        let (networks, network_ops) = networks(args, &profile, &operations)?;
        let (tls, tls_ops) = dimension(&args.tls, (profile.tls, profile.tls_ops), &operations, &operations);
        let tls = tls_modes(args, tls)?;
        let (streams, streams_ops) =
            dimension(&args.streams, (profile.streams, profile.streams_ops), &operations, &operations);
        let streams: Vec<u32> = streams.into_iter().filter(|m| *m > 1).collect();
        let (sizes, size_ops) =
            dimension(&args.sizes, (profile.sizes, profile.size_ops), SIZED_OPS, &operations);
        if sizes.contains(&0) {
            bail!("--sizes: a size is at least 1 order");
        }
        let (vias, via_ops) =
            crate::gateway::vias(&args.via, (!args.operations.is_empty()).then_some(&operations[..]))?;
        // Operations asked for by name run for every variant.
        let compression_ops =
            if args.operations.is_empty() { profile.compression_ops.to_vec() } else { operations.clone() };
        Ok(Plan {
            setup: Setup::of(args)?,
            full_estimate: full_estimate(args, cores),
            protocols,
            operations,
            payloads,
            concurrency,
            rate: (!args.no_open_loop && (args.rate.is_some() || !profile.open_ops.is_empty()))
                .then(|| args.rate.unwrap_or(profile.rate)),
            // A rate asked for where the profile has no open-loop point: every operation gets one.
            open_ops: if profile.open_ops.is_empty() {
                Operation::ALL.to_vec()
            } else {
                profile.open_ops.to_vec()
            },
            warmup: args.warmup.map_or(profile.warmup, Duration::from_secs_f64),
            duration: args.duration.map_or(profile.duration, Duration::from_secs_f64),
            pinning: Pinning::decide(cores, pin),
            repeat: args.repeat.unwrap_or(profile.repeat).max(1),
            network_repeat: profile.network_repeat.clamp(1, args.repeat.unwrap_or(profile.repeat).max(1)),
            networks,
            network_ops,
            fresh: args.fresh_connections,
            tls,
            tls_ops,
            streams,
            streams_ops,
            sizes,
            size_ops,
            sizes_far: profile.sizes_far,
            compression_ops,
            vias,
            via_ops,
            dissect: !args.no_dissect,
            // Any seed will do; the clock gives a new order per run, recorded to replay it.
            // Shards share their start time, so they share the order too.
            order_seed: args.order_seed.unwrap_or_else(|| {
                start.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
            }),
            start,
        })
    }

    /// The load points of `op`: every closed-loop level, then the open-loop point (at the
    /// highest concurrency) when `op` gets one.
    pub fn points(&self, op: Operation) -> Vec<LoadPoint> {
        let mut points: Vec<LoadPoint> =
            self.concurrency.iter().map(|&concurrency| LoadPoint::Closed { concurrency }).collect();
        if let Some(rate) = self.rate
            && self.open_ops.contains(&op)
        {
            let concurrency = self.concurrency.iter().copied().max().unwrap_or(1);
            points.push(LoadPoint::Open { concurrency, rate });
        }
        points
    }

    /// The cells of one payload, in the order they run: network by network, protocol by
    /// protocol, operation by operation, load point by load point (emulated networks: closed
    /// loop at concurrency 1), each warm cell followed by its cold one when those run;
    /// operations a protocol does not run are left out.
    pub fn cells(&self) -> Vec<CellPlan> {
        let mut cells = Vec::new();
        let lowest = self.concurrency.iter().copied().min().unwrap_or(1);
        for (network, net) in self.networks.iter().enumerate() {
            for &protocol in &self.protocols {
                for &op in &self.operations {
                    let slice = protocol.compression().is_none() || self.compression_ops.contains(&op);
                    if protocol.unsupported(op).is_some() || !slice {
                        continue;
                    }
                    let points = if net.is_loopback() {
                        self.points(op)
                    } else if self.network_ops.contains(&op) {
                        vec![LoadPoint::Closed { concurrency: 1 }]
                    } else {
                        Vec::new()
                    };
                    for point in points {
                        let emulated = !net.is_loopback();
                        let warm = CellPlan {
                            protocol,
                            op,
                            point,
                            network,
                            emulated,
                            fresh: false,
                            security: Security::Plain,
                            streams: 1,
                            size: None,
                            via: None,
                        };
                        cells.push(warm);
                        let cold = matches!(point, LoadPoint::Closed { concurrency }
                            if concurrency == lowest || !net.is_loopback());
                        if self.fresh && cold {
                            cells.push(CellPlan { fresh: true, ..warm });
                        }
                    }
                }
            }
        }
        cells.extend(self.tls_cells());
        cells.extend(self.stream_cells());
        cells.extend(self.sized_cells());
        cells.extend(self.gateway_cells());
        cells
    }

    /// The size sweep's cells: every variant that carries records, each size, at the lowest
    /// concurrency on loopback (and at concurrency 1 on each emulated network when asked).
    fn sized_cells(&self) -> Vec<CellPlan> {
        let lowest = self.concurrency.iter().copied().min().unwrap_or(1);
        let mut cells = Vec::new();
        for (network, net) in self.networks.iter().enumerate() {
            let far = !net.is_loopback();
            if far && !self.sizes_far {
                continue;
            }
            let point = LoadPoint::Closed { concurrency: if far { 1 } else { lowest } };
            for &protocol in self.protocols.iter().filter(|p| p.carries_records()) {
                for &op in self.size_ops.iter().filter(|op| protocol.unsupported(**op).is_none()) {
                    for &n in &self.sizes {
                        cells.push(CellPlan {
                            protocol,
                            op,
                            point,
                            network,
                            emulated: far,
                            fresh: false,
                            security: Security::Plain,
                            streams: 1,
                            size: Some(n),
                            via: None,
                        });
                    }
                }
            }
        }
        cells
    }

    /// Where loopback is in the run's networks (the TLS cells run there only).
    fn loopback(&self) -> Option<usize> {
        self.networks.iter().position(|n| n.is_loopback())
    }

    /// The `--streams` cells: every variant that multiplexes, on one connection with M
    /// calls in flight (the variants that cannot are compared at concurrency M, one call
    /// per connection, when that level runs). Where the open loop runs the operation, also
    /// at its rate on one connection: M lanes send on schedule, each without waiting for the
    /// others' answers (compared with the open-loop cell over connections). On loopback, and
    /// on every emulated network that loses segments, where one lost segment holds up every
    /// stream of a connection behind it (head-of-line blocking); there every protocol also
    /// runs at concurrency M for the comparison.
    fn stream_cells(&self) -> Vec<CellPlan> {
        let mut cells = Vec::new();
        for (network, net) in self.networks.iter().enumerate() {
            let far = !net.is_loopback();
            if far && net.loss <= 0.0 {
                continue;
            }
            for &streams in &self.streams {
                for &protocol in &self.protocols {
                    for &op in self.streams_ops.iter().filter(|op| protocol.unsupported(**op).is_none()) {
                        let closed = CellPlan {
                            protocol,
                            op,
                            point: LoadPoint::Closed { concurrency: 1 },
                            network,
                            emulated: far,
                            fresh: false,
                            security: Security::Plain,
                            streams,
                            size: None,
                            via: None,
                        };
                        if far {
                            let connections = LoadPoint::Closed { concurrency: streams };
                            cells.push(CellPlan { point: connections, streams: 1, ..closed });
                        }
                        if !protocol.multiplexes() {
                            continue;
                        }
                        cells.push(closed);
                        if let Some(rate) = self.rate.filter(|_| self.open_ops.contains(&op) && !far) {
                            cells
                                .push(CellPlan { point: LoadPoint::Open { concurrency: 1, rate }, ..closed });
                        }
                    }
                }
            }
        }
        cells
    }

    /// The TLS cells, on loopback at the lowest concurrency: with full handshakes warm and
    /// cold, resumed cold only (a warm connection's one handshake is the same either way).
    fn tls_cells(&self) -> Vec<CellPlan> {
        let point = LoadPoint::Closed { concurrency: self.concurrency.iter().copied().min().unwrap_or(1) };
        let mut cells = Vec::new();
        let Some(network) = self.loopback() else { return cells };
        for &security in &self.tls {
            for &protocol in &self.protocols {
                for &op in self.tls_ops.iter().filter(|op| protocol.unsupported(**op).is_none()) {
                    let cold = CellPlan {
                        protocol,
                        op,
                        point,
                        network,
                        emulated: false,
                        fresh: true,
                        security,
                        streams: 1,
                        size: None,
                        via: None,
                    };
                    if security == Security::Tls {
                        cells.push(CellPlan { fresh: false, ..cold });
                    }
                    cells.push(cold);
                }
            }
        }
        cells
    }

    /// The cells of one repeat of one payload, in their own seeded random order, so that
    /// protocols interleave and none is always measured first or last.
    pub fn cells_in_order(&self, payload: &str, repeat: u32) -> Vec<CellPlan> {
        use rand::SeedableRng as _;
        use rand::seq::SliceRandom as _;
        let orders = Profiles::builtin()
            .get(payload)
            .map_or(u64::MAX, |p| u64::from(p.users) * u64::from(p.orders_per_user));
        let mut cells: Vec<CellPlan> = self
            .cells_of_round(repeat)
            .into_iter()
            .filter(|c| c.size.is_none_or(|n| u64::from(n) <= orders))
            .collect();
        let payload_index = self.payloads.iter().position(|p| p == payload).unwrap_or(0) as u64;
        let seed =
            self.order_seed ^ (payload_index << 32 | u64::from(repeat)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        cells.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        cells
    }
}

/// A dimension of the run (TLS modes, streams, sizes) and the operations it runs: as asked
/// (with `asked_ops`), else the profile's; only operations the run plans either way.
fn dimension<T: Clone>(
    asked: &[T],
    (values, ops): (&[T], &[Operation]),
    asked_ops: &[Operation],
    operations: &[Operation],
) -> (Vec<T>, Vec<Operation>) {
    let (values, ops) = if asked.is_empty() { (values, ops) } else { (asked, asked_ops) };
    (values.to_vec(), ops.iter().copied().filter(|op| operations.contains(op)).collect())
}

/// The payloads a run serves: those asked for, else the profile's (one, `small`, against a
/// target, whose server holds one), each a known profile.
fn payloads(args: &RunArgs, profile: &ProfileSettings) -> anyhow::Result<Vec<String>> {
    let payloads: Vec<String> = if !args.payloads.is_empty() {
        args.payloads.clone()
    } else if args.target.is_some() {
        vec!["small".into()]
    } else {
        profile.payloads.iter().map(|s| (*s).to_owned()).collect()
    };
    if args.target.is_some() && payloads.len() > 1 {
        bail!("with --target the server holds one payload; pass exactly one --payloads");
    }
    let profiles = Profiles::builtin();
    for p in &payloads {
        profiles.get(p)?;
    }
    Ok(payloads)
}

/// The full profile's estimate on this machine, unless this run is the full profile.
fn full_estimate(args: &RunArgs, cores: usize) -> Option<Duration> {
    (args.profile != RunProfile::Full)
        .then(|| Plan::new(&RunArgs { profile: RunProfile::Full, ..args.clone() }, cores).ok())
        .flatten()
        .map(|full| full.estimate())
}

/// The TLS modes beside plaintext. Against --target, TLS needs the servers' certificate:
/// asked for, it is an error without one; from the profile, the TLS cells are left out.
fn tls_modes(args: &RunArgs, modes: Vec<Security>) -> anyhow::Result<Vec<Security>> {
    let modes: Vec<Security> = modes.into_iter().filter(|s| *s != Security::Plain).collect();
    if args.target.is_some() && args.tls_cert.is_none() && !modes.is_empty() {
        if !args.tls.is_empty() {
            bail!("TLS cells against --target need the servers' certificate: pass --tls-cert");
        }
        return Ok(Vec::new());
    }
    Ok(modes)
}

/// The networks of a run and the operations run on the emulated ones: `--network` when
/// given (as listed, every planned operation on each), else loopback and the profile's.
fn networks(
    args: &RunArgs,
    profile: &ProfileSettings,
    operations: &[Operation],
) -> anyhow::Result<(Vec<Network>, Vec<Operation>)> {
    let known = Networks::load(args.networks.as_deref())?;
    let (mut picked, ops) = if args.network.is_empty() {
        let mut names = vec![LOOPBACK.to_owned()];
        names.extend(profile.networks.iter().map(|s| (*s).to_owned()));
        let ops = profile.network_ops.iter().copied().filter(|op| operations.contains(op)).collect();
        (known.select(&names)?, ops)
    } else {
        (known.select(&args.network)?, operations.to_vec())
    };
    // Loopback first, so a run's first cells are the ones it always had.
    picked.sort_by_key(|n| !n.is_loopback());
    picked.dedup_by(|a, b| a.name == b.name);
    Ok((picked, ops))
}

/// The variants asked for by name, else the profile's (by role).
fn protocols(args: &RunArgs, profile: &ProfileSettings) -> anyhow::Result<Vec<&'static dyn Protocol>> {
    if args.protocols.is_empty() {
        return Ok(PROTOCOLS
            .iter()
            .copied()
            .filter(|p| profile.roles.is_none_or(|r| r.contains(&p.role())))
            .collect());
    }
    args.protocols.iter().map(|n| protocol(n)).collect()
}

/// A protocol variant by name, or an error listing the known ones.
fn protocol(name: &str) -> anyhow::Result<&'static dyn Protocol> {
    wirebench_engine::clients::protocol(name).with_context(|| {
        let known: Vec<_> = PROTOCOLS.iter().map(|p| p.name()).collect();
        format!("unknown protocol {name:?} (known: {})", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use wirebench_engine::clients::Role;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn args(line: &str) -> RunArgs {
        Cli::parse_from(std::iter::once("run").chain(line.split_whitespace())).run
    }

    #[test]
    fn the_quick_profile_runs_the_main_variants_and_the_floor_on_every_operation_within_five_minutes() {
        let plan = Plan::new(&args("--profile quick"), 2).unwrap();
        assert_eq!(plan.payloads, ["small"]);
        assert_eq!(plan.pinning, Pinning { server_cores: vec![0], client_cores: vec![1], client_threads: 1 });
        let names: Vec<&str> = plan.protocols.iter().map(|p| p.name()).collect();
        let roles: Vec<Role> = plan.protocols.iter().map(|p| p.role()).collect();
        assert!(roles.iter().all(|r| *r != Role::Variant), "{names:?}");
        let families: std::collections::BTreeSet<&str> = plan.protocols.iter().map(|p| p.family()).collect();
        assert_eq!(families.len(), plan.protocols.len(), "one variant per family: {names:?}");
        assert_eq!(plan.operations, Operation::ALL);
        assert_eq!(plan.concurrency, [1, 16]);
        let cells = plan.cells();
        assert!(cells.iter().all(|c| c.point.rate().is_none() && c.streams == 1 && c.size.is_none()));
        // Protocol by protocol, in registry order.
        let first: Vec<String> = cells.iter().take(3).map(|c| format!("{c:?}")).collect();
        assert_eq!(first, ["rest get-user c=1", "rest get-user c=16", "rest user-orders c=1"]);
        // The whole run, estimated: within five minutes.
        let estimate = plan.estimate();
        assert!(estimate <= Duration::from_secs(300), "{estimate:?}");
        // A rate asked for adds an open-loop point to every operation.
        let open = Plan::new(&args("--profile quick --rate 500"), 2).unwrap();
        let open: Vec<_> = open.cells().into_iter().filter(|c| c.point.rate().is_some()).collect();
        assert_eq!(open.len(), Operation::ALL.len() * plan.protocols.len());
        assert!(open.iter().all(|c| c.point.concurrency() == 16 && c.point.rate() == Some(500.0)));
    }

    #[test]
    fn the_full_profile_lasts_what_its_help_says() {
        // `run --help` says "about seven and a half hours on two cores".
        let estimate = Plan::new(&args("--profile full"), 2).unwrap().estimate();
        let hours = estimate.as_secs_f64() / 3600.0;
        assert!((6.5..8.5).contains(&hours), "the full profile's estimate moved: {hours:.1} h");
    }

    #[test]
    fn emulated_cells_run_in_the_first_rounds_only_and_the_estimate_counts_every_cell_run() {
        let plan = Plan::new(&args("--profile quick --protocols rest"), 2).unwrap();
        let (near, far) = (plan.cells().iter().filter(|c| !c.emulated).count(), Operation::ALL.len());
        assert_eq!(plan.cell_runs(), near * plan.repeat as usize + far * plan.network_repeat as usize);
        assert!(plan.cells_in_order("small", 1).iter().all(|c| !c.emulated));
        // Each run of a cell costs at least its warm-up and recorded window.
        let least: Duration = (0..plan.repeat)
            .flat_map(|r| plan.cells_in_order("small", r))
            .map(|c| {
                let (w, d) = plan.timing(&c);
                w + d
            })
            .sum();
        assert!(plan.estimate() > least);
    }

    #[test]
    fn the_harness_never_reaches_a_servers_connection_cap() {
        // Every profile, even against servers started with the default cap (`make serve`
        // and `wirebench run --target`), stays far below it.
        for profile in ["smoke", "quick", "full"] {
            let plan = Plan::new(&args(&format!("--profile {profile}")), 2).unwrap();
            let most = plan.concurrency.iter().copied().max().unwrap() as usize;
            assert!(4 * most + 64 <= wirebench_servers::ServerConfig::MAX_CONNECTIONS, "{profile}");
            assert_eq!(plan.connection_cap(), wirebench_servers::ServerConfig::MAX_CONNECTIONS);
        }
        // A level beyond it raises the cap of the run's own server.
        let plan = Plan::new(&args("--profile quick --concurrency 1,2000"), 2).unwrap();
        assert_eq!(plan.connection_cap(), 8064);
    }

    #[test]
    fn unsupported_operations_are_not_planned_and_flags_override_the_profile() {
        let plan =
            Plan::new(&args("--protocols rest-include,floor --operations get-user,user-orders --concurrency 4 --no-open-loop --no-pin --network loopback --tls plain"), 8)
                .unwrap();
        let cells: Vec<String> = plan.cells().iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(cells, ["rest-include user-orders c=4", "floor get-user c=4", "floor user-orders c=4"]);
        assert_eq!(plan.pinning.client_cores, Vec::<usize>::new());
        assert_eq!(plan.pinning.client_threads, 7);
    }

    #[test]
    fn quick_adds_a_wan_for_every_operation_and_network_cells_last_long_enough() {
        let plan =
            Plan::new(&args("--profile quick --protocols rest,grpc --operations get-user,users-orders"), 2)
                .unwrap();
        let far: Vec<String> =
            plan.cells().iter().filter(|c| c.network > 0).map(|c| format!("{c:?}")).collect();
        assert_eq!(plan.networks[1].name, "wan");
        assert_eq!(
            far,
            [
                "rest get-user c=1 on network 1",
                "rest users-orders c=1 on network 1",
                "grpc get-user c=1 on network 1",
                "grpc users-orders c=1 on network 1"
            ]
        );
        let wan = plan.cells().into_iter().find(|c| c.network == 1).unwrap();
        // 16 round trips of 40 ms, and at least six calls (users-orders over REST is eleven
        // round trips: it goes on past 640 ms to make its six).
        assert_eq!(plan.timing(&wan), (Duration::from_millis(120), Duration::from_millis(640)));
        assert_eq!(plan.min_ops(&wan), crate::run::timing::NETWORK_MIN_OPS);
        // Asked for by name: only those networks, every operation, each warm and cold.
        let plan = Plan::new(
            &args("--protocols ws --operations get-user --network rtt=10ms --fresh-connections --tls plain"),
            2,
        )
        .unwrap();
        let cells: Vec<String> = plan.cells().iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(cells, ["ws get-user c=1 on network 0", "ws get-user c=1 on network 0 cold"]);
        assert!(Plan::new(&args("--network moon"), 2).is_err());
    }

    #[test]
    fn tls_cells_run_on_loopback_at_the_lowest_concurrency_warm_and_cold() {
        let tls = |line: &str| -> Vec<String> {
            let plan = Plan::new(&args(line), 2).unwrap();
            plan.cells().iter().filter(|c| c.security != Security::Plain).map(|c| format!("{c:?}")).collect()
        };
        // Quick: get-user, full handshakes warm and cold; resumed sessions when asked.
        assert_eq!(
            tls("--profile quick --protocols rest,ws"),
            [
                "rest get-user c=1 tls",
                "rest get-user c=1 cold tls",
                "ws get-user c=1 tls",
                "ws get-user c=1 cold tls"
            ]
        );
        assert_eq!(
            tls("--profile quick --protocols rest --operations get-user --tls tls-resumed"),
            ["rest get-user c=1 cold tls-resumed"]
        );
        // Asked for: every planned operation; `plain` alone adds none; smoke runs none.
        assert_eq!(
            tls("--protocols grpc --operations get-user,list-orders --concurrency 4,16 --tls tls"),
            [
                "grpc get-user c=4 tls",
                "grpc get-user c=4 cold tls",
                "grpc list-orders c=4 tls",
                "grpc list-orders c=4 cold tls"
            ]
        );
        assert!(tls("--profile quick --tls plain").is_empty());
        assert!(tls("--profile smoke").is_empty());
        // Against --target: asked for without the certificate is an error; from the profile,
        // the TLS cells are left out.
        assert!(Plan::new(&args("--target 127.0.0.1:7800 --tls tls"), 2).is_err());
        assert!(tls("--target 127.0.0.1:7800 --profile quick").is_empty());
        assert!(!tls("--target 127.0.0.1:7800 --profile quick --tls-cert c.pem").is_empty());
    }

    #[test]
    fn streams_cells_put_m_calls_on_one_connection_of_the_variants_that_multiplex() {
        let streams = |line: &str| -> Vec<String> {
            let plan = Plan::new(&args(line), 2).unwrap();
            plan.cells().iter().filter(|c| c.streams > 1).map(|c| format!("{c:?}")).collect()
        };
        // 16 streams on get-user for the variants that multiplex only (HTTP/2, and WebSocket
        // by correlation id), closed loop and at the open loop's rate; HTTP/1.1 runs its usual
        // c=16 cells (16 connections) beside. Quick runs none unless asked.
        assert!(streams("--profile quick").is_empty());
        assert_eq!(
            streams(
                "--profile quick --protocols rest,rest-h2,grpc,ws --operations get-user --streams 16 --rate 1000"
            ),
            [
                "rest-h2 get-user c=1 ×16 streams",
                "rest-h2 get-user open 1000/s ×16 streams",
                "grpc get-user c=1 ×16 streams",
                "grpc get-user open 1000/s ×16 streams",
                "ws get-user c=1 ×16 streams",
                "ws get-user open 1000/s ×16 streams"
            ]
        );
        // On an emulated network only when it loses segments (head-of-line blocking), with
        // every protocol at concurrency M beside.
        assert!(streams("--protocols grpc --operations get-user --streams 4 --network rtt=10ms").is_empty());
        let lossy = "--protocols rest,grpc --operations get-user --streams 4 --network loopback,rtt=10ms,loss=2% --tls plain";
        let plan = Plan::new(&args(lossy), 2).unwrap();
        let far: Vec<String> = plan
            .cells()
            .iter()
            .filter(|c| c.emulated && c.point.concurrency() * c.streams == 4)
            .map(|c| format!("{c:?}"))
            .collect();
        assert_eq!(
            far,
            [
                "rest get-user c=4 on network 1",
                "grpc get-user c=4 on network 1",
                "grpc get-user c=1 on network 1 ×4 streams"
            ]
        );
        assert_eq!(
            streams("--protocols grpc --operations list-orders --streams 1,4,64 --tls plain"),
            ["grpc list-orders c=1 ×4 streams", "grpc list-orders c=1 ×64 streams"]
        );
        assert!(streams("--profile quick --streams 1").is_empty());
    }

    #[test]
    fn the_size_sweep_runs_each_size_of_list_orders_for_every_variant_that_carries_records() {
        let sized = |line: &str, payload: &str| -> Vec<String> {
            let plan = Plan::new(&args(line), 2).unwrap();
            let mut cells: Vec<String> = plan
                .cells_in_order(payload, 0)
                .iter()
                .filter(|c| c.size.is_some())
                .map(|c| format!("{c:?}"))
                .collect();
            cells.sort();
            cells
        };
        assert!(sized("--profile quick", "small").is_empty(), "quick sweeps no size unless asked");
        let quick = sized(
            "--profile quick --protocols grpc,floor-echo --operations list-orders --sizes 1,10,100",
            "small",
        );
        assert_eq!(
            quick,
            ["grpc list-orders c=1 n=1", "grpc list-orders c=1 n=10", "grpc list-orders c=1 n=100"]
        );
        // Sizes beyond the payload's orders (tiny: 20) are left out; full also sweeps on the
        // emulated networks, at concurrency 1.
        let asked = sized(
            "--protocols rest --operations list-orders,get-user --sizes 5,50 --network loopback",
            "tiny",
        );
        assert_eq!(asked, ["rest list-orders c=1 n=5"]);
        let full = Plan::new(&args("--profile full --protocols ws"), 2).unwrap();
        let far = full.cells().iter().filter(|c| c.size.is_some() && c.emulated).count();
        assert_eq!(far, 6 * 2 * 4, "6 networks × list-orders and stream-orders × 4 sizes");
        assert!(Plan::new(&args("--sizes 0"), 2).is_err());
    }

    #[test]
    fn bad_names_and_a_target_with_two_payloads_are_errors() {
        let err = Plan::new(&args("--protocols nope"), 2).unwrap_err().to_string();
        assert!(err.contains("unknown protocol \"nope\"") && err.contains("rest-h2"), "{err}");
        assert!(Plan::new(&args("--payloads huge"), 2).is_err());
        let err = Plan::new(&args("--target 127.0.0.1:7800 --payloads tiny,small"), 2).unwrap_err();
        assert!(err.to_string().contains("one payload"), "{err}");
        // A one-core machine pins nothing and still runs one client thread.
        assert_eq!(Pinning::decide(1, true).client_threads, 1);
    }
}
