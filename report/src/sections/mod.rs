//! The page's sections, one file per section: each turns the run (a [`View`]) into
//! [`Block`]s of charts and tables, or rows of text. What several sections share (the
//! protocol table, warnings, run and environment rows) lives here.

use plotters::style::RGBColor;

use crate::claims::{ClaimRow, ClaimVerdict};
use crate::{Block, Chart, Health, Kv, ProtocolRow, Tags, View, fmt, kv};
use wirebench_results::{IdleCpus, Results, RunStatus};

pub(super) mod compression;
mod cpu;
mod equivalence;
pub(super) mod gateway;
mod latency;
pub(super) mod matrix;
mod method;
pub(super) mod networks;
mod repeats;
mod round_trips;
mod serialization;
pub(super) mod sizes;
pub(super) mod streams;
mod throughput;
pub(super) mod tls;
mod wire;

pub(super) use self::cpu::cpu_blocks;
pub(super) use self::equivalence::equivalence_blocks;
pub(super) use self::latency::latency_blocks;
pub(super) use self::method::method_notes;
pub(super) use self::repeats::repeat_blocks;
pub(super) use self::round_trips::round_trip_blocks;
pub(super) use self::serialization::{codec_cases, serialization_blocks};
pub(super) use self::throughput::throughput_blocks;
pub(super) use self::wire::{header_blocks, wire_blocks};

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

pub(super) fn protocol_rows(view: &View<'_>) -> Vec<ProtocolRow> {
    view.r
        .protocols
        .iter()
        .map(|p| ProtocolRow {
            family: p.family.clone(),
            role: p.role.map(|r| format!("{r:?}").to_lowercase()).unwrap_or_default(),
            name: p.name.clone(),
            label: protocol_label(view, &p.name),
            describe: p.describe.clone(),
            server: p.server.clone(),
            color: hex(view.color(&p.name)),
            floor: view.is_floor(&p.name),
        })
        .collect()
}

pub(super) fn claims_summary(rows: &[ClaimRow]) -> String {
    let count = |v: ClaimVerdict| rows.iter().filter(|r| r.verdict == v).count();
    format!(
        "{} claims: {} hold, {} roughly, {} do not hold, {} inconclusive, {} not measured.",
        rows.len(),
        count(ClaimVerdict::Holds),
        count(ClaimVerdict::Roughly),
        count(ClaimVerdict::DoesNotHold),
        count(ClaimVerdict::Inconclusive),
        count(ClaimVerdict::NotMeasured)
    )
}

/// Measurement health: one line for the top of the page, every detail behind it. Problems
/// that touch a verdict also sit beside that verdict.
pub(super) fn health(view: &View<'_>, all: &[wirebench_results::Cell]) -> Health {
    let r = view.r;
    let summaries: Vec<_> = r.summaries.iter().filter(|s| s.runs > 0).collect();
    let noisy = summaries.iter().filter(|s| s.noisy.iter().any(|n| n == "p50_us")).count();
    let lagging = all.iter().filter(|c| c.flags.iter().any(|f| f.contains("send lag"))).count();
    let flagged = all.iter().filter(|c| !c.flags.is_empty()).count();
    let errors: u64 = r.cells.iter().flat_map(|c| c.errors.values()).sum();
    let disagree =
        r.equivalence.iter().filter(|e| e.verdict == wirebench_results::vocab::VerdictKind::Fails).count();
    let peak = r.cells.iter().filter_map(|c| c.resources.server_peak_rss_bytes).max();
    let drift = memory_drift(view);
    let mut parts = vec![format!("{noisy} of {} cells noisy", summaries.len())];
    parts.push(match lagging {
        0 => "no send-lag problem".into(),
        n => format!("{n} cells with send lag"),
    });
    parts.push(match (errors, flagged) {
        (0, 0) => "no errors".into(),
        (e, f) => format!("{e} errors, {f} cells flagged"),
    });
    parts.push(match (&drift, peak) {
        (None, Some(p)) => format!("server memory flat (peak {})", mib(p)),
        (None, None) => "server memory not read".into(),
        (Some(_), _) => "server memory drifted".into(),
    });
    parts.push(match disagree {
        0 => "every protocol agreed with the store".into(),
        n => format!("{n} protocol × operation pairs disagreed with the store (not timed)"),
    });
    let busy = generator_busy(r, all);
    parts.push(match busy.len() {
        0 => format!("generator below {:.0} % of its cores", GENERATOR_BUSY * 100.0),
        n => format!("generator at {:.0} % of its cores or more in {n} cells", GENERATOR_BUSY * 100.0),
    });
    let mut items = warnings(view);
    items.extend(drift);
    if !busy.is_empty() {
        items.push(format!(
            "The load generator kept its cores {:.0} % busy or more in these cells, so it, not the server, \
             may have set their pace: their latency includes its own queueing, their throughput is what \
             it could drive (make bench-generator compares it with wrk and h2load): {}.",
            GENERATOR_BUSY * 100.0,
            busy.join("; ")
        ));
    }
    if noisy > 0 {
        let names: Vec<String> = summaries
            .iter()
            .filter(|s| s.noisy.iter().any(|n| n == "p50_us"))
            .map(|s| wirebench_results::repeats::key_of(s))
            .collect();
        items.push(format!(
            "Noisy p50 (its interval reaches further than ±{:.0} % from it): {}.",
            wirebench_results::stats::NOISY_HALF_WIDTH * 100.0,
            names.join("; ")
        ));
    }
    let problems = items.len();
    Health { line: format!("Measurement health: {}.", parts.join(" · ")), items, problems }
}

/// The share of its cores' time above which the generator may be what limits a cell.
const GENERATOR_BUSY: f64 = 0.9;

/// The cells in which the client process used at least [`GENERATOR_BUSY`] of its threads'
/// cores: its CPU per operation times the operations per second, over the client threads the
/// run had (one per client core, or all cores but one when nothing was pinned).
fn generator_busy(r: &wirebench_results::Results, cells: &[wirebench_results::Cell]) -> Vec<String> {
    let env = &r.environment;
    let threads =
        if env.client_cores.is_empty() { env.cores.saturating_sub(1).max(1) } else { env.client_cores.len() };
    cells
        .iter()
        .filter(|c| {
            c.resources
                .client_cpu_us_per_op
                .is_some_and(|cpu| cpu * c.throughput_ops_s / 1e6 >= GENERATOR_BUSY * threads as f64)
        })
        .map(wirebench_results::repeats::key)
        .collect()
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1048576.0)
}

/// What a reader must know before trusting the numbers.
fn warnings(view: &View<'_>) -> Vec<String> {
    let r = view.r;
    let mut out = Vec::new();
    if r.status != RunStatus::Complete {
        out.push(format!(
            "The run did not complete ({}): {}. What was measured is shown.",
            match r.status {
                RunStatus::Interrupted => "interrupted",
                _ => "aborted",
            },
            r.message.clone().unwrap_or_default()
        ));
    }
    if !r.environment.release_build {
        out.push(
            "Debug build: latency, throughput and CPU figures are far from what an optimized build \
             shows (bytes and round trips are not affected). Run make bench for real figures."
                .into(),
        );
    }
    if let IdleCpus::AllowedToSleep(why) = &r.environment.idle_cpus {
        out.push(format!(
            "Idle CPUs were allowed to sleep ({why}): every request that found a CPU idle paid for waking \
             it (tens of µs on a virtual machine), which inflates low-rate and low-concurrency latency."
        ));
    }
    if r.environment.server_cores.is_empty() && r.options.target.is_none() {
        out.push(
            "Server and client were not pinned to separate cores: they competed for CPU, and a thread \
             that waits for its core waits for the scheduler's next tick (4 ms at 250 Hz), so expect p99.9 \
             and max at multiples of the tick (the method section's Tails entry)."
                .into(),
        );
    }
    if let Some(why) = view.codecs.staleness(&r.environment.git_revision, &r.started_at) {
        out.push(format!("Serialization: {why}."));
    }
    for c in &r.cells {
        if !c.flags.is_empty() {
            let sample = c.error_samples.values().next().map(|s| format!(" — e.g. {s}")).unwrap_or_default();
            out.push(format!(
                "{} {} ({}, {} c={}) is flagged, and feeds no claim: {}{sample}",
                c.protocol,
                c.operation,
                c.payload,
                c.mode,
                c.concurrency,
                c.flags.join("; ")
            ));
        }
        if let Some(rate) = c.rate
            && c.throughput_ops_s < rate * 0.9
        {
            out.push(format!(
                "{} {} open loop: achieved {} of the intended {} — the server (or client) could not keep up, \
                 so its corrected latency includes queueing.",
                c.protocol,
                c.operation,
                fmt::rate(c.throughput_ops_s),
                fmt::rate(rate)
            ));
        }
    }
    if view.floor.is_none() {
        out.push(
            "The raw-TCP floor was not part of this run: latency is shown without its reference.".into(),
        );
    }
    out
}

pub(super) fn run_rows(r: &Results) -> Vec<Kv> {
    let o = &r.options;
    let join = |v: &[u32]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    vec![
        kv("profile", o.profile.clone()),
        kv("protocols", o.protocols.join(", ")),
        kv("operations", o.operations.iter().map(|op| op.name()).collect::<Vec<_>>().join(", ")),
        kv("payloads", o.payloads.join(", ")),
        kv("closed-loop concurrency", join(&o.concurrency)),
        kv("open-loop rate", o.rate.map_or_else(|| "none".into(), fmt::rate)),
        kv("warm-up / recorded per cell", format!("{} s / {} s", o.warmup_s, o.duration_s)),
        kv("N (orders per page, stream, import, conversation)", o.n.to_string()),
        kv("fixture seed", o.seed.to_string()),
        kv("simulated store latency", format!("{} µs per store call", o.store_latency_us)),
        kv("servers", o.target.clone().unwrap_or_else(|| "spawned by the run (wirebench serve)".into())),
        kv("started / finished", format!("{} / {}", r.started_at, r.finished_at)),
    ]
}

pub(super) fn environment_rows(r: &Results) -> Vec<Kv> {
    let e = &r.environment;
    let cores = |v: &[usize]| {
        if v.is_empty() {
            "not pinned".to_owned()
        } else {
            v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        }
    };
    let mut rows = vec![
        kv("CPU", format!("{} ({} cores)", e.cpu_model, e.cores)),
        kv("kernel / OS", format!("{} / {}", e.kernel, e.os)),
        kv("rustc", e.rustc.clone()),
        kv("build", if e.release_build { "release (optimized)" } else { "debug (unoptimized)" }),
        kv("wirebench", format!("{} at revision {}", e.wirebench_version, e.git_revision)),
        kv("server cores", cores(&e.server_cores)),
        kv("server allocator", e.server_allocator.clone().unwrap_or_else(|| "not set by the run".into())),
        kv("client cores", cores(&e.client_cores)),
        kv(
            "idle CPUs",
            match &e.idle_cpus {
                IdleCpus::KeptAwake => {
                    "kept awake (0 µs wake-up latency held via /dev/cpu_dma_latency)".into()
                }
                IdleCpus::AllowedToSleep(why) => format!("allowed to sleep ({why})"),
            },
        ),
    ];
    rows.extend(e.crate_versions.iter().map(|(k, v)| kv(&format!("crate {k}"), v.clone())));
    rows
}

/// The block of a payload with no measured cell: a sentence instead of empty charts.
pub(super) fn unmeasured(view: &View<'_>, payload: &str) -> Option<Block> {
    if view.r.cells.iter().any(|c| c.payload == payload && c.ops > 0) {
        return None;
    }
    Some(Block {
        tags: Tags::payload(payload),
        heading: format!("Payload {payload}"),
        intro: None,
        charts: vec![Chart::missing(
            format!(
                "Nothing was measured for payload {payload}: no cell recorded an operation (see the warnings above)."
            ),
            true,
        )],
        tables: Vec::new(),
    })
}

pub(super) fn protocol_label(view: &View<'_>, p: &str) -> String {
    if view.is_floor(p) { format!("{p} (reference)") } else { p.to_owned() }
}

/// Cells whose server started more than 10 % above or below the first cell of its payload:
/// the store reset did not give them the same start.
fn memory_drift(view: &View<'_>) -> Option<String> {
    let mut drifted = Vec::new();
    for payload in view.payloads() {
        let starts: Vec<(&wirebench_results::Cell, u64)> = view
            .runs
            .iter()
            .filter(|c| c.payload == payload)
            .filter_map(|c| Some((c, c.resources.server_rss_start_bytes?)))
            .collect();
        let Some((_, first)) = starts.first() else { continue };
        let off: Vec<String> = starts
            .iter()
            // A few MiB either way is the allocator's own bookkeeping after a write-heavy cell.
            .filter(|(_, b)| {
                let off = (*b as f64 - *first as f64).abs();
                off > 0.1 * *first as f64 && off > 8.0 * 1048576.0
            })
            .map(|(c, b)| {
                format!(
                    "{} {} c={} ({:.1} MiB)",
                    c.protocol,
                    c.operation,
                    c.concurrency,
                    *b as f64 / 1048576.0
                )
            })
            .collect();
        if !off.is_empty() {
            drifted.push(format!(
                "payload {payload}: {} of {} cells started more than 10 % (and 8 MiB) away from the first cell's {:.1} MiB, \
                 e.g. {}",
                off.len(),
                starts.len(),
                *first as f64 / 1048576.0,
                off.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    (!drifted.is_empty())
        .then(|| format!("Server memory was not the same at every cell's start: {}.", drifted.join("; ")))
}
