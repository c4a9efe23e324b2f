//! `wirebench faults`: every protocol, operation, fault and retry policy asked, against a
//! `wirebench serve` child whose store injects the server's faults (the link's are the
//! client's); then an open loop near capacity through an outage per protocol and policy.
//! Writes `faults.json` and `faults.html` into a new directory under `--out`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use wirebench_domain::faults::{FaultCounts, FaultPlan, Outage};
use wirebench_engine::catalog::{OpParams, Operation};
use wirebench_engine::clients::{Protocol, protocol};
use wirebench_engine::control::Control;
use wirebench_engine::faults::{LinkFaults, Policy, Setting, Tally, closed, guards, open, policy, timed};
use wirebench_results::faults::{FaultCell, FaultsRun, Percentiles, Recovery, Spread};
use wirebench_wire::Dial;

/// Options of `wirebench faults`.
#[derive(Debug, Clone, clap::Args)]
pub struct FaultsArgs {
    /// Protocol variants.
    #[arg(long, value_delimiter = ',', default_value = "rest,grpc,graphql,ws")]
    pub protocols: Vec<String>,
    /// Operations.
    #[arg(long, value_delimiter = ',', default_value = "get-user,create-order")]
    pub operations: Vec<String>,
    /// Faults, each a cell: `unavailable=5%` (refused before any effect, no retry hint;
    /// `unavailable=5%:200ms` hints 200 ms), `lost=5%` (the answer
    /// lost after the effect), `reset=5%` (the connection reset mid-request), `slow=5%:1200ms`
    /// (held before the store runs it), `overload=2000/s` (a rate limiter's 429 and
    /// RESOURCE_EXHAUSTED with a hint), `none`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "unavailable=1%,unavailable=5%,unavailable=20%,unavailable=50%,lost=5%,reset=5%"
    )]
    pub faults: Vec<String>,
    /// Retry policies, by name (engine/policies.toml, and --policies-file).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,naive,backoff,backoff-nokeys,budget,throttle,breaker"
    )]
    pub policies: Vec<String>,
    /// More policies, in the shape of engine/policies.toml.
    #[arg(long)]
    pub policies_file: Option<PathBuf>,
    /// Logical operations per cell.
    #[arg(long, default_value_t = 400)]
    pub ops: u64,
    /// Operations in flight at once per cell (each on its own connection).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// The outage of the recovery cells, in seconds (0: no recovery cells).
    #[arg(long, default_value_t = 2.0)]
    pub outage: f64,
    /// Policies of the recovery cells.
    #[arg(long, value_delimiter = ',', default_value = "naive,budget,breaker")]
    pub recovery_policies: Vec<String>,
    /// The recovery cells' offered rate, as a share of the closed-loop capacity measured first.
    #[arg(long, default_value_t = 0.8)]
    pub load: f64,
    /// The jittered policy whose retries are timed against the same without jitter, 64 clients
    /// failing at once ("": none).
    #[arg(long, default_value = "backoff")]
    pub jitter_policy: String,
    /// Through a gateway (`nginx`, `haproxy`, with a rate limit as `nginx@2000/s`), started in
    /// front of the server: its refusals meet the retry policies.
    #[arg(long)]
    pub via: Option<String>,
    /// Seed of every draw (default: random; printed and recorded).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the run's directory goes.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

/// One fault as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub label: String,
    pub kind: &'static str,
    pub share: f64,
    /// The store's part of it, and the link's.
    pub plan: Option<FaultPlan>,
    pub link: LinkFaults,
}

fn share(s: &str) -> anyhow::Result<f64> {
    let v: f64 = s.trim_end_matches('%').parse().with_context(|| format!("{s:?}: not a share"))?;
    let v = if s.ends_with('%') { v / 100.0 } else { v };
    anyhow::ensure!((0.0..=1.0).contains(&v), "{s:?}: a share is between 0 and 100 %");
    Ok(v)
}

/// Parses `kind=value` (see [`FaultsArgs::faults`]).
pub fn parse_fault(text: &str, seed: u64) -> anyhow::Result<FaultSpec> {
    let (kind, value) = text.split_once('=').unwrap_or((text, ""));
    let base = FaultPlan { seed, ..FaultPlan::default() };
    let spec = |kind, share, plan, link| FaultSpec { label: text.to_owned(), kind, share, plan, link };
    Ok(match kind {
        "none" => spec("none", 0.0, None, LinkFaults::default()),
        "unavailable" => {
            let (s, hint) = value.split_once(':').unwrap_or((value, "0ms"));
            let retry_after_ms: u64 = hint.trim_end_matches("ms").parse().context("the hint, in ms")?;
            let s = share(s)?;
            spec(
                "unavailable",
                s,
                Some(FaultPlan { unavailable: s, retry_after_ms, ..base }),
                LinkFaults::default(),
            )
        }
        "lost" => spec("lost", share(value)?, None, LinkFaults { lose: share(value)?, reset: 0.0 }),
        "reset" => spec("reset", share(value)?, None, LinkFaults { lose: 0.0, reset: share(value)? }),
        "slow" => {
            let (s, hold) = value.split_once(':').context("slow=SHARE:HOLDms, e.g. slow=5%:1200ms")?;
            let hold_ms: u64 = hold.trim_end_matches("ms").parse().context("the hold, in ms")?;
            let s = share(s)?;
            spec("slow", s, Some(FaultPlan { slow: s, hold_ms, ..base }), LinkFaults::default())
        }
        "overload" => {
            let rate: f64 =
                value.trim_end_matches("/s").parse().context("overload=RATE/s, e.g. overload=2000/s")?;
            anyhow::ensure!(rate > 0.0, "overload: a positive rate");
            spec("overload", 0.0, Some(FaultPlan { rate_limit: Some(rate), ..base }), LinkFaults::default())
        }
        other => bail!("unknown fault {other:?}: unavailable, lost, reset, slow, overload or none"),
    })
}

fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Percentiles {
    let q = |q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0);
    Percentiles { count: h.len(), p50: q(0.5), p99: q(0.99), p999: q(0.999) }
}

fn breaker_changes(changes: &[(Duration, guards::State)]) -> Vec<(u64, String)> {
    changes.iter().map(|(at, s)| (at.as_millis() as u64, s.name().to_owned())).collect()
}

fn injected(c: FaultCounts) -> BTreeMap<String, u64> {
    [("unavailable", c.unavailable), ("overloaded", c.overloaded), ("held", c.held), ("outage", c.outage)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_owned(), n))
        .collect()
}

/// What every cell shares.
struct Bench<'a> {
    args: &'a FaultsArgs,
    /// The gateway the clients go through, when there is one.
    gateway: Option<&'a crate::gateway::Gateway>,
    control: &'a Control,
    addrs: &'a BTreeMap<String, std::net::SocketAddr>,
    seed: u64,
    params: OpParams,
}

impl Bench<'_> {
    fn setting(
        &self,
        p: &'static dyn Protocol,
        op: Operation,
        policy: &Policy,
        link: LinkFaults,
        n: usize,
    ) -> anyhow::Result<Setting> {
        let addr = match self.gateway {
            Some(g) => &g.dial_for(p).map_err(|e| anyhow::anyhow!(e))?,
            None => self.addrs.get(p.server()).with_context(|| format!("no address for {}", p.server()))?,
        };
        Ok(Setting {
            protocol: p,
            dial: Dial::to(*addr),
            op,
            params: self.params.clone(),
            policy: policy.clone(),
            link,
            stamp: format!("faults-{}-{n}", self.seed),
            seed: self.seed.wrapping_add(n as u64 * 1_000_003),
            trace: false,
        })
    }

    /// One cell: the plan set, the operations run, the plan cleared and the store read.
    async fn cell(&self, s: &Setting, fault: &FaultSpec) -> anyhow::Result<FaultCell> {
        let (_, before) = self.control.faults(fault.plan.clone())?;
        let (tally, changes) = closed(s, self.args.ops, self.args.concurrency).await;
        let (counts, after) = self.control.faults(None)?;
        Ok(record(
            s,
            fault,
            self.args.concurrency,
            &tally,
            &changes,
            counts,
            s.op.writes().then_some(after - before),
        ))
    }

    /// Closed-loop throughput of `s`'s protocol and operation without faults or retries: 16
    /// connections for a second.
    async fn capacity(&self, s: &Setting) -> f64 {
        let mut plain = s.clone();
        plain.policy = Policy { attempts: 1, ..Policy::default() };
        let (probe, _) = timed(&plain, Duration::from_secs(1), 16).await;
        probe.counts.succeeded as f64
    }

    /// An open loop at `load` of `capacity` through an outage.
    async fn recovery(&self, s: &Setting, capacity: f64, outage: Duration) -> anyhow::Result<Recovery> {
        let rate = (capacity * self.args.load).max(1.0);
        let start = Duration::from_secs(2);
        let length = start + outage + Duration::from_secs(4);
        let plan = FaultPlan {
            seed: self.seed,
            outage: Some(Outage { start_ms: start.as_millis() as u64, length_ms: outage.as_millis() as u64 }),
            ..FaultPlan::default()
        };
        self.control.faults(Some(plan))?;
        let (timeline, tally, changes) = open::run(s, rate, length, 256).await;
        self.control.faults(None)?;
        Ok(Recovery {
            protocol: s.protocol.variant().to_owned(),
            operation: s.op.to_string(),
            policy: s.policy.name.clone(),
            capacity_ops_s: capacity,
            rate_ops_s: rate,
            outage_start_ms: start.as_millis() as u64,
            outage_ms: outage.as_millis() as u64,
            bin_ms: open::BIN.as_millis() as u64,
            recovery_ms: timeline.recovery_after(start + outage).map(|d| d.as_millis() as u64),
            offered: timeline.offered,
            goodput: timeline.goodput,
            attempts: timeline.attempts,
            dropped: timeline.dropped,
            logical: tally.counts.logical,
            succeeded: tally.counts.succeeded,
            attempts_total: tally.counts.attempts,
            failed_fast: tally.counts.failed_fast,
            breaker: breaker_changes(&changes),
        })
    }
}

fn record(
    s: &Setting,
    fault: &FaultSpec,
    concurrency: usize,
    t: &Tally,
    changes: &[(Duration, guards::State)],
    counts: FaultCounts,
    effects: Option<u64>,
) -> FaultCell {
    FaultCell {
        protocol: s.protocol.variant().to_owned(),
        operation: s.op.to_string(),
        fault: fault.label.clone(),
        fault_kind: fault.kind.to_owned(),
        fault_share: fault.share,
        policy: s.policy.name.clone(),
        keys: s.policy.keys,
        concurrency,
        counts: t.counts,
        effects,
        injected: injected(counts),
        logical_us: percentiles(&t.logical_ns),
        attempt_us: percentiles(&t.attempt_ns),
        errors: t.errors.clone(),
        breaker: breaker_changes(changes),
    }
}

impl Bench<'_> {
    /// `clients` operations in flight when an outage starts, retried by `policy`: attempts per
    /// bin of 10 ms through the outage.
    async fn spread(
        &self,
        p: &'static dyn Protocol,
        policy: &Policy,
        clients: usize,
        n: usize,
    ) -> anyhow::Result<Spread> {
        let mut s = self.setting(p, Operation::GetUser, policy, LinkFaults::default(), n)?;
        s.trace = true;
        let (outage, bin) = (Duration::from_millis(1000), Duration::from_millis(10));
        let plan = FaultPlan {
            seed: self.seed,
            outage: Some(Outage { start_ms: 0, length_ms: 1000 }),
            ..FaultPlan::default()
        };
        self.control.faults(Some(plan))?;
        let start = std::time::Instant::now();
        let (tally, _) = timed(&s, outage, clients).await;
        self.control.faults(None)?;
        let bins = (outage.as_millis() / bin.as_millis()) as usize;
        let mut attempts = vec![0u64; bins];
        for at in &tally.starts {
            let b = (at.duration_since(start).as_millis() / bin.as_millis()) as usize;
            if let Some(n) = attempts.get_mut(b) {
                *n += 1;
            }
        }
        let mean = attempts.iter().sum::<u64>() as f64 / bins as f64;
        let peak = attempts.iter().copied().max().unwrap_or(0) as f64;
        let jitter = serde_json::to_value(policy.jitter)?.as_str().unwrap_or_default().to_owned();
        Ok(Spread {
            protocol: p.name().to_owned(),
            operation: Operation::GetUser.to_string(),
            policy: policy.name.clone(),
            jitter,
            clients,
            outage_ms: outage.as_millis() as u64,
            bin_ms: bin.as_millis() as u64,
            attempts,
            peak_to_mean: if mean > 0.0 { peak / mean } else { 0.0 },
        })
    }

    /// Each protocol's spread of retries with the backoff policy, with its jitter and without.
    async fn all_spreads(&self, asked: &Asked, first: usize) -> anyhow::Result<Vec<Spread>> {
        let mut out = Vec::new();
        let Some(backoff) = asked.jitter_policy.clone() else { return Ok(out) };
        let still = Policy {
            name: format!("{}-nojitter", backoff.name),
            about: format!("{}, without jitter", backoff.about),
            jitter: wirebench_engine::faults::policy::Jitter::None,
            ..backoff.clone()
        };
        for p in &asked.protocols {
            for pol in [&backoff, &still] {
                println!(
                    "  spread: {} get-user, 64 clients retrying by {} through an outage",
                    p.name(),
                    pol.name
                );
                out.push(self.spread(*p, pol, 64, first + out.len()).await?);
            }
        }
        Ok(out)
    }
}

/// What a run asks for, read from its arguments.
struct Asked {
    seed: u64,
    cell_policies: Vec<Policy>,
    recovery_policies: Vec<Policy>,
    faults: Vec<FaultSpec>,
    protocols: Vec<&'static dyn Protocol>,
    ops: Vec<Operation>,
    /// The jittered policy whose spread of retries is compared with the same without jitter.
    jitter_policy: Option<Policy>,
}

impl Asked {
    fn of(args: &FaultsArgs) -> anyhow::Result<Asked> {
        let seed = args.seed.unwrap_or_else(rand::random);
        let policies = policy::load(args.policies_file.as_deref())?;
        let chosen = |names: &[String]| -> anyhow::Result<Vec<Policy>> {
            names
                .iter()
                .map(|n| policies.get(n).cloned().with_context(|| format!("no policy {n:?}")))
                .collect()
        };
        let jitter_policy = match args.jitter_policy.as_str() {
            "" => None,
            name => Some(policies.get(name).cloned().with_context(|| format!("no policy {name:?}"))?),
        };
        Ok(Asked {
            jitter_policy,
            seed,
            cell_policies: chosen(&args.policies)?,
            recovery_policies: chosen(&args.recovery_policies)?,
            faults: args.faults.iter().map(|f| parse_fault(f, seed)).collect::<anyhow::Result<_>>()?,
            protocols: args
                .protocols
                .iter()
                .map(|n| {
                    protocol(n).with_context(|| format!("no protocol {n:?} (see `wirebench protocols`)"))
                })
                .collect::<anyhow::Result<_>>()?,
            ops: args
                .operations
                .iter()
                .map(|o| o.parse().map_err(|e| anyhow::anyhow!("{e}")))
                .collect::<anyhow::Result<_>>()?,
        })
    }

    /// Every cell: protocol, operation, fault, policy.
    fn cells(&self) -> Vec<(&'static dyn Protocol, Operation, &FaultSpec, &Policy)> {
        let mut combos = Vec::new();
        for p in &self.protocols {
            for op in &self.ops {
                for fault in &self.faults {
                    for pol in &self.cell_policies {
                        combos.push((*p, *op, fault, pol));
                    }
                }
            }
        }
        combos
    }
}

impl Bench<'_> {
    /// Every cell, in turn, with a progress line.
    async fn all_cells(&self, asked: &Asked) -> anyhow::Result<Vec<FaultCell>> {
        let combos = asked.cells();
        let mut cells = Vec::new();
        for (i, (p, op, fault, pol)) in combos.iter().enumerate() {
            let (name, total) = (p.name(), combos.len());
            print!("\r  cell {}/{total}: {name} {op} {} {}          ", i + 1, fault.label, pol.name);
            std::io::Write::flush(&mut std::io::stdout())?;
            let s = self.setting(*p, *op, pol, fault.link, i)?;
            cells.push(self.cell(&s, fault).await?);
        }
        println!();
        Ok(cells)
    }

    /// Every protocol's recovery from an outage, once per recovery policy, at one rate.
    async fn all_recoveries(&self, asked: &Asked, first: usize) -> anyhow::Result<Vec<Recovery>> {
        let mut recovery = Vec::new();
        let Some(any) = asked.recovery_policies.first().filter(|_| self.args.outage > 0.0) else {
            return Ok(recovery);
        };
        let outage = Duration::from_secs_f64(self.args.outage);
        for p in &asked.protocols {
            // One capacity per protocol: every policy is offered the same rate.
            let capacity =
                self.capacity(&self.setting(*p, Operation::GetUser, any, LinkFaults::default(), 0)?).await;
            for pol in &asked.recovery_policies {
                println!(
                    "  recovery: {} get-user {} through a {:.1} s outage",
                    p.name(),
                    pol.name,
                    self.args.outage
                );
                let n = first + recovery.len();
                let s = self.setting(*p, Operation::GetUser, pol, LinkFaults::default(), n)?;
                recovery.push(self.recovery(&s, capacity, outage).await?);
            }
        }
        Ok(recovery)
    }
}

/// Runs `wirebench faults`; returns the directory written.
pub async fn run(args: FaultsArgs) -> anyhow::Result<PathBuf> {
    let asked = Asked::of(&args)?;
    let seed = asked.seed;
    println!("faults: seed {seed} (--seed {seed} repeats every draw)");
    let started_at = chrono::Utc::now();
    let dir = args.out.join(format!("faults-{}", started_at.format("%Y%m%dT%H%M%SZ")));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // The small payload, the fixtures' usual seed, no simulated store latency, not pinned.
    let server = crate::run::server::spawn((42, 0), "small", (1024, false), &[], &dir)?;
    let params = OpParams::new(1, 10, vec![1, 2]);
    let gateway = match &args.via {
        None => None,
        Some(text) => {
            let via = crate::gateway::Via::parse(text).with_context(|| {
                format!("--via {text}: nginx or haproxy, with a rate limit as nginx@2000/s")
            })?;
            Some(crate::gateway::Gateway::start(via, &server.addrs, &dir)?)
        }
    };
    let (control, addrs) = (&server.control, &server.addrs);
    let bench = Bench { args: &args, gateway: gateway.as_ref(), control, addrs, seed, params };
    let cells = bench.all_cells(&asked).await?;
    let recovery = bench.all_recoveries(&asked, cells.len()).await?;
    let spread = bench.all_spreads(&asked, cells.len() + recovery.len()).await?;
    let via = gateway.as_ref().map_or_else(|| "direct".to_owned(), |g| g.via().name());
    drop(gateway);
    drop(server);
    let policies = asked.cell_policies.iter().chain(&asked.recovery_policies);
    let run = FaultsRun {
        version: wirebench_results::faults::FAULTS_VERSION,
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        git_revision: env!("WIREBENCH_GIT").to_owned(),
        seed,
        via,
        policies: policies
            .map(|p| (p.name.clone(), p.about.clone()))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect(),
        cells,
        recovery,
        spread,
    };
    let json = dir.join("faults.json");
    std::fs::write(&json, serde_json::to_string_pretty(&run)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let html = wirebench_report::faults::write(&dir, &run)?;
    print!("{}", wirebench_report::faults::terminal(&run));
    println!("results: {}\nreport: {}", json.display(), html.display());
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_into_the_store_plan_and_the_link() {
        let u = parse_fault("unavailable=5%", 9).unwrap();
        assert_eq!((u.kind, u.share), ("unavailable", 0.05));
        assert_eq!(u.plan.as_ref().map(|p| (p.unavailable, p.retry_after_ms, p.seed)), Some((0.05, 0, 9)));
        assert_eq!(parse_fault("unavailable=5%:200ms", 9).unwrap().plan.unwrap().retry_after_ms, 200);
        let lost = parse_fault("lost=0.1", 9).unwrap();
        assert!(lost.plan.is_none());
        assert_eq!(lost.link, LinkFaults { lose: 0.1, reset: 0.0 });
        let slow = parse_fault("slow=2%:1200ms", 9).unwrap().plan.unwrap();
        assert_eq!((slow.slow, slow.hold_ms), (0.02, 1200));
        assert_eq!(parse_fault("overload=500/s", 9).unwrap().plan.unwrap().rate_limit, Some(500.0));
        for bad in ["unavailable=150%", "lost", "slow=5%", "overload=0/s", "latency=5%"] {
            assert!(parse_fault(bad, 9).is_err(), "{bad}");
        }
    }
}
