//! # wirebench-report: a results file, explained
//!
//! Owns everything a person reads: the HTML report (this page), the terminal summary a run
//! ends on ([`summary`]), `wirebench compare` ([`compare`]), the README's figures
//! ([`sample`]) and the codec benches' figures ([`codecs`]).
//!
//! It may not touch: the load engine, the clients, sockets. It reads `wirebench-results`
//! alone, so a report can be rebuilt from any results file, and changing a chart compiles
//! nothing that measures. It names no protocol.
//!
//! ## The report
//!
//! `index.html`: one self-contained page (inline CSS and SVG, no script, no network) that
//! explains a `results.json`.
//!
//! - [`write`] reads a results file, the criterion codec figures ([`serialization`]) and the
//!   claims ([`claims`]), and writes `index.html` beside the results.
//! - [`render`] builds the page: every section is a `#[derive(Serialize)]` struct filled here
//!   from the data, rendered by minijinja from `report/templates/report.html` (compiled in).
//!   Each section is built in [`sections`]; charts are SVG strings from [`charts`]; findings
//!   sentences come from [`findings`].
//!
//! The report names no protocol: colours follow the run's protocol order, and the one
//! protocol it treats specially, the raw-TCP floor, is named by `floor` in `claims.toml`.
//! Per-operation figures come from each (payload, operation, protocol)'s closed-loop cell
//! at the lowest concurrency run ([`View::closed`]), unless a section says otherwise.

mod charts;
pub mod claims;
pub mod codecs;
pub mod compare;
pub mod faults;
mod findings;
pub mod fmt;
pub mod generator;
mod page;
pub mod sample;
mod sections;
pub mod serialization;
pub mod summary;
mod verdicts;

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use self::charts::ChartError;
use self::claims::{ClaimRow, ClaimsError};
use self::page::{Block, Chart, Kv, MethodNote, Page, ProtocolRow, Table, Tags, facets, tag_rows, took};
pub use self::page::{Finding, Health};
use self::page::{MAX_SERIES, extremes, kv, of_group, td, td_class};
use self::serialization::CodecData;
use wirebench_results::vocab::Operation;
use wirebench_results::{Cell, Results, RunStatus};

/// The page template and its method partial, compiled in.
const TEMPLATE: &str = include_str!("../templates/report.html");
const METHOD: &str = include_str!("../templates/method.html");

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a wirebench results file: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the codec benches' figures: {0:#}")]
    Codecs(anyhow::Error),
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    #[error("the load generator's check: {0:#}")]
    Generator(anyhow::Error),
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("rendering the page: {0:#}")]
    Template(#[from] minijinja::Error),
}

/// Where the report's extra inputs are.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// criterion's output directory (default: `target/criterion`, or under `$CARGO_TARGET_DIR`).
    pub criterion: Option<PathBuf>,
    /// A claims file added to the built-in `report/claims.toml`.
    pub claims: Option<PathBuf>,
}

/// Renders `index.html` beside `results_path`; returns its path.
pub fn write(results_path: &Path, opts: &ReportOptions) -> Result<PathBuf, ReportError> {
    let text = std::fs::read_to_string(results_path)
        .map_err(|source| ReportError::Read { path: results_path.to_owned(), source })?;
    let results: Results = serde_json::from_str(&text)
        .map_err(|source| ReportError::Parse { path: results_path.to_owned(), source })?;
    let codecs = serialization::read(&opts.criterion.clone().unwrap_or_else(serialization::default_dir))
        .map_err(ReportError::Codecs)?;
    let claims = claims::load(opts.claims.as_deref())?;
    let generator = match generator::beside(results_path) {
        Some(path) => generator::read(&path).map_err(ReportError::Generator)?,
        None => None,
    };
    let html = render(&results, &codecs, &claims, generator.as_ref())?;
    let out = results_path.with_file_name("index.html");
    std::fs::write(&out, html).map_err(|source| ReportError::Write { path: out.clone(), source })?;
    Ok(out)
}

/// The run seen through the questions the report asks.
#[derive(Debug)]
pub struct View<'a> {
    /// The run with one cell per (protocol, operation, payload, load point): medians over
    /// its repeats (see [`wirebench_results::repeats::merge`]).
    pub r: &'a Results,
    /// Every run of every cell, as measured.
    pub runs: &'a [Cell],
    pub codecs: &'a CodecData,
    /// The raw-TCP reference protocol, when it took part.
    pub floor: Option<String>,
}

/// Colours of the protocols, in the run's order (Tableau 10, with darker yellow and pink).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(201, 162, 39),
    RGBColor(176, 122, 161),
    RGBColor(156, 117, 95),
    RGBColor(211, 114, 149),
    RGBColor(121, 112, 110),
];
/// The floor's colour: near black, drawn dashed in line charts.
const FLOOR_COLOR: RGBColor = RGBColor(40, 40, 40);

impl<'a> View<'a> {
    pub fn new(r: &'a Results, runs: &'a [Cell], codecs: &'a CodecData, floor: Option<&str>) -> Self {
        let floor = floor.filter(|f| r.cells.iter().any(|c| c.protocol == *f)).map(str::to_owned);
        View { r, runs, codecs, floor }
    }

    /// Payloads in run order (those with cells, plus any listed in the options).
    pub fn payloads(&self) -> Vec<String> {
        let mut out: Vec<String> = self.r.options.payloads.clone();
        for c in &self.r.cells {
            if !out.contains(&c.payload) {
                out.push(c.payload.clone());
            }
        }
        out
    }

    /// Operations that have at least one cell, in catalog order.
    pub fn ops(&self) -> Vec<Operation> {
        Operation::ALL.into_iter().filter(|op| self.r.cells.iter().any(|c| c.operation == *op)).collect()
    }

    /// Protocols that have at least one cell, in run order.
    pub fn protocols(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .r
            .protocols
            .iter()
            .map(|p| p.name.clone())
            .filter(|n| self.r.cells.iter().any(|c| c.protocol == *n))
            .collect();
        for c in &self.r.cells {
            if !out.contains(&c.protocol) {
                out.push(c.protocol.clone());
            }
        }
        out
    }

    /// The closed-loop cell of (payload, op, protocol) at `concurrency`, or at the lowest
    /// concurrency run when `None`. Cells without a recorded operation do not count.
    pub fn closed(
        &self,
        payload: &str,
        op: Operation,
        protocol: &str,
        concurrency: Option<u32>,
    ) -> Option<&'a Cell> {
        wirebench_results::lowest_closed(&self.r.cells, |c| {
            c.payload == payload
                && c.operation == op
                && c.protocol == protocol
                && concurrency.is_none_or(|n| c.concurrency == n)
        })
    }

    /// Closed-loop concurrency levels run, ascending.
    fn levels(&self, payload: &str) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .r
            .cells
            .iter()
            .filter(|c| c.mode == "closed" && c.payload == payload)
            .map(|c| c.concurrency)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The 95 % interval of one of a cell's figures across its repeats (a name from
    /// [`wirebench_results::repeats::FIGURES`]); `None` with fewer than two runs.
    pub fn interval(&self, c: &Cell, figure: &str) -> Option<(f64, f64)> {
        let key = wirebench_results::repeats::key(c);
        let s = self.r.summaries.iter().find(|s| wirebench_results::repeats::key_of(s) == key)?;
        let e = s.figures.get(figure).filter(|e| e.runs > 1)?;
        Some((e.low, e.high))
    }

    /// A figure as the tables print it, its interval across repeats beside it when there is one:
    /// "17.0 µs [16.2–17.9]". `show` formats a value in the figure's own unit.
    pub fn figure(&self, c: &Cell, figure: &str, value: f64, show: impl Fn(f64) -> String) -> String {
        fmt::with_interval(value, self.interval(c, figure), show)
    }

    /// The protocols of a chart in chart-sized groups, so that no chart draws more than
    /// [`MAX_SERIES`] bars or lines: all of them together when there are at most `most`, else
    /// family by family (a family of more in pieces), each group with its family's name.
    pub fn chart_groups(&self, protocols: &[String], most: usize) -> Vec<(Option<String>, Vec<String>)> {
        let most = most.clamp(1, MAX_SERIES);
        if protocols.len() <= most {
            return vec![(None, protocols.to_vec())];
        }
        let family = |p: &str| {
            self.r.protocols.iter().find(|i| i.name == p).map(|i| i.family.clone()).filter(|f| !f.is_empty())
        };
        let mut groups: Vec<(Option<String>, Vec<String>)> = Vec::new();
        for p in protocols {
            let f = family(p).or_else(|| Some(p.clone()));
            match groups.iter_mut().find(|(g, members)| *g == f && members.len() < most) {
                Some((_, members)) => members.push(p.clone()),
                None => groups.push((f, vec![p.clone()])),
            }
        }
        groups
    }

    fn is_floor(&self, protocol: &str) -> bool {
        self.floor.as_deref() == Some(protocol)
    }

    /// The protocol's colour (stable across every chart of the page).
    pub fn color(&self, protocol: &str) -> RGBColor {
        if self.is_floor(protocol) {
            return FLOOR_COLOR;
        }
        let i =
            self.protocols().iter().filter(|p| !self.is_floor(p)).position(|p| p == protocol).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    }
}

/// A warm plaintext cell on `network` of one call per connection at the run's N: what every
/// section reads (loopback), and the claims that name a network; the networks', TLS's,
/// multiplexing's and sizes' sections read the others too.
pub(crate) fn usual(c: &Cell, network: &str) -> bool {
    c.network == network && !c.fresh_connections && c.tls == "plain" && c.streams == 1 && !c.sized
}

/// The run without its cells (and checks) through a gateway.
pub fn direct_only(r: &Results) -> Results {
    Results {
        cells: r.cells.iter().filter(|c| c.via == "direct").cloned().collect(),
        equivalence: r.equivalence.iter().filter(|e| e.via == "direct").cloned().collect(),
        summaries: r.summaries.iter().filter(|s| s.via == "direct").cloned().collect(),
        ..r.clone()
    }
}

/// A cell's median latency, in nanoseconds.
pub(crate) fn p50(c: &Cell) -> Option<f64> {
    c.latency.as_ref().map(|l| l.p50_ns as f64)
}

/// A cell's 99th percentile latency, in nanoseconds.
pub(crate) fn p99(c: &Cell) -> Option<f64> {
    c.latency.as_ref().map(|l| l.p99_ns as f64)
}

/// The cells each dimension's section reads (every network, TLS mode, stream count, size).
struct Aspects<'a> {
    across: sections::networks::Across<'a>,
    secured: sections::tls::Secured<'a>,
    multiplexed: sections::streams::Multiplexed<'a>,
    sweep: sections::sizes::Sweep<'a>,
    compressed: sections::compression::Compressed<'a>,
}

impl<'a> Aspects<'a> {
    fn new(all: &'a [Cell]) -> Self {
        Aspects {
            across: sections::networks::Across { cells: all },
            secured: sections::tls::Secured { cells: all },
            multiplexed: sections::streams::Multiplexed {
                cells: all,
                network: wirebench_results::network::LOOPBACK,
            },
            sweep: sections::sizes::Sweep { cells: all },
            compressed: sections::compression::Compressed { cells: all },
        }
    }

    /// Every finding: the loopback ones first, then each dimension's.
    fn findings(&self, view: &View<'_>) -> Vec<Finding> {
        let mut out = findings::all(view);
        out.extend(sections::networks::findings(view, &self.across));
        out.extend(sections::tls::findings(view, &self.secured));
        out.extend(sections::streams::findings(view, &self.multiplexed));
        out.extend(sections::sizes::findings(view, &self.sweep));
        out.extend(sections::compression::findings(view, &self.compressed));
        out.extend(sections::compression::hpack_findings(view, &self.compressed));
        out
    }
}

/// Every claim judged (those that name a network on that network's warm cells), split into
/// the claims and the judgements (best for, avoid when).
fn judge_claims(
    results: &Results,
    all: &[Cell],
    view: &View<'_>,
    claims: &claims::Claims,
) -> (Vec<ClaimRow>, Vec<ClaimRow>) {
    let named: Vec<&str> = claims.claims.iter().filter_map(|c| c.network.as_deref()).collect();
    let far: Vec<(&str, Results, Vec<Cell>)> = named
        .iter()
        .map(|name| {
            let on = |c: &Cell| usual(c, name);
            let merged =
                Results { cells: all.iter().filter(|c| on(c)).cloned().collect(), ..results.clone() };
            (*name, merged, results.cells.iter().filter(|c| on(c)).cloned().collect())
        })
        .filter(|(_, r, _)| !r.cells.is_empty())
        .collect();
    let far_views: Vec<(&str, View<'_>)> = far
        .iter()
        .map(|(n, r, runs)| (*n, View::new(r, runs, view.codecs, claims.floor.as_deref())))
        .collect();
    let elsewhere: Vec<(&str, &View<'_>)> = far_views.iter().map(|(n, v)| (*n, v)).collect();
    claims::evaluate(view, &claims.claims, &elsewhere)
        .into_iter()
        .partition(|c| c.group == claims::Group::Claim)
}

/// Builds the page.
pub fn render(
    results: &Results,
    codecs: &CodecData,
    claims: &claims::Claims,
    generator: Option<&generator::GeneratorCheck>,
) -> Result<String, ReportError> {
    // Cells through a gateway appear in their own section only; every other one reads the
    // direct cells.
    let gateway = sections::gateway::gateway_blocks(&results.cells);
    let direct = direct_only(results);
    let results = &direct;
    let home = |c: &Cell| usual(c, wirebench_results::network::LOOPBACK);
    let all = wirebench_results::repeats::merge(&results.cells);
    let runs: Vec<Cell> = results.cells.iter().filter(|c| home(c)).cloned().collect();
    let merged = Results { cells: all.iter().filter(|c| home(c)).cloned().collect(), ..results.clone() };
    let view = View::new(&merged, &runs, codecs, claims.floor.as_deref());
    let (claim_rows, judgements) = judge_claims(results, &all, &view, claims);
    let aspects = Aspects::new(&all);
    let findings = aspects.findings(&view);
    let Aspects { across, secured, multiplexed, sweep, compressed } = aspects;
    let page = Page {
        title: "wirebench report".into(),
        subtitle: format!(
            "{} profile · payloads {} · N = {} · {} → {}",
            results.options.profile,
            view.payloads().join(", "),
            results.options.n,
            results.started_at,
            results.finished_at
        ),
        status: match results.status {
            RunStatus::Complete => "complete".into(),
            RunStatus::Interrupted => "interrupted".into(),
            RunStatus::Aborted => "aborted".into(),
        },
        took: took(results),
        health: sections::health(&view, &all),
        verdicts: verdicts::verdicts(results, claims.baseline.as_deref(), claims.floor.as_deref()),
        judgements,
        not_covered: results.not_covered.clone(),
        facets: facets(results),
        findings,
        claims_summary: sections::claims_summary(&claim_rows),
        claims: claim_rows,
        protocols: sections::protocol_rows(&view),
        run: sections::run_rows(results),
        wire: sections::wire_blocks(&view)?,
        headers: sections::header_blocks(&view),
        round_trips: sections::round_trip_blocks(&view)?,
        networks: sections::networks::network_blocks(&view, &across)?,
        tls: sections::tls::tls_blocks(&view, &secured)?,
        gateway,
        streams: sections::streams::stream_blocks(&view, &multiplexed)?,
        sizes: sections::sizes::size_blocks(&view, &sweep)?,
        compression: sections::compression::compression_blocks(&view, &compressed),
        matrix: sections::matrix::matrix_blocks(&view),
        latency: sections::latency_blocks(&view)?,
        throughput: sections::throughput_blocks(&view)?,
        serialization: sections::serialization_blocks(&view)?,
        cpu: sections::cpu_blocks(&view)?,
        equivalence: sections::equivalence_blocks(&view),
        repeats: sections::repeat_blocks(&view),
        environment: sections::environment_rows(results),
        method: sections::method_notes(&view, generator),
        command: results.command.clone(),
        floor: view.floor.clone(),
    };
    let mut page = page;
    tag_rows(&mut page, results);
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    env.add_template("method.html", METHOD)?;
    Ok(env.get_template("report.html")?.render(minijinja::context! { page => page })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A results file with the given cells (as JSON values).
    fn results(cells: serde_json::Value) -> Results {
        let mut r = wirebench_results::tests_support::results_json(cells);
        r["status"] = "aborted".into();
        r["message"] = "the server exited".into();
        r["options"]["profile"] = "smoke".into();
        r["options"]["protocols"] = serde_json::json!(["a", "b"]);
        r["options"]["concurrency"] = serde_json::json!([2]);
        r["protocols"] = serde_json::json!([
            {"name": "a", "describe": "A", "server": "a"},
            {"name": "b", "describe": "B", "server": "b"}
        ]);
        serde_json::from_value(r).unwrap()
    }

    fn cell(protocol: &str, sent: f64, received: f64) -> serde_json::Value {
        let layers = |t: f64| {
            serde_json::json!({"total_bytes": t, "framing_bytes": t / 4.0, "envelope_bytes": t / 4.0,
                "data_bytes": t / 2.0, "pending_bytes": 0.0, "framing_by_kind": {"http1_headers": t / 4.0}})
        };
        serde_json::json!({
            "protocol": protocol, "operation": "user-orders", "payload": "tiny", "n": 10, "mode": "closed",
            "concurrency": 2, "rate": null, "ops": 100, "errors": {}, "error_samples": {}, "elapsed_s": 0.1,
            "throughput_ops_s": 1000.0, "latency": null, "latency_uncorrected": null, "message_latency": null,
            "missed": 0, "client_decode": null, "flags": [], "send_lag": null, "connection_wait": null,
            "checks": {"writes_checked": 0, "writes_read_back": 0, "reads_compared": 0, "mismatches": 0, "mismatch": null, "unchecked": null},
            "bytes": {
                "sent_per_op": layers(sent), "received_per_op": layers(received),
                "setup_sent_per_connection": 0.0, "setup_received_per_connection": 0.0,
                "connections": 2, "tcp_ip_headers_per_op_estimate": 208.0,
                "headers_per_op": {"content-type": {"sent": 0.0, "received": 12.0}}
            },
            "round_trips_per_op": 1.0, "requests_per_op": 1.0, "turns_per_op": 2.0,
            "resources": {
                "server_cpu_us_per_op": null, "client_cpu_us_per_op": null,
                "server_peak_rss_bytes": null, "client_peak_rss_bytes": null
            }
        })
    }

    fn render_it(r: &Results) -> String {
        let codecs = CodecData { dir: "nowhere".into(), ..CodecData::default() };
        render(r, &codecs, &claims::load(None).unwrap(), None).unwrap()
    }

    #[test]
    fn the_method_section_quotes_the_generators_last_check_or_says_there_is_none() {
        let r = results(serde_json::json!([]));
        let codecs = CodecData { dir: "nowhere".into(), ..CodecData::default() };
        let claims = claims::load(None).unwrap();
        let none = render(&r, &codecs, &claims, None).unwrap();
        assert!(none.contains("It has not been run beside these reports"));
        let check = generator::tests::check(1.56);
        let html = render(&r, &codecs, &claims, Some(&check)).unwrap();
        assert!(html.contains("Its last run here, 2026-12-08"), "the date");
        assert!(html.contains("×1.56 [1.46–1.66]") && html.contains("Goals missed"));
    }

    #[test]
    fn an_empty_run_says_what_is_missing() {
        let html = render_it(&results(serde_json::json!([])));
        assert!(html.contains("Nothing was measured for payload tiny"));
        assert!(html.contains("The run did not complete (aborted): the server exited"));
        assert!(html.contains("not measured"));
        assert!(!html.contains("<figure"), "no empty charts");
    }

    #[test]
    fn findings_rank_whatever_protocols_ran() {
        let html = render_it(&results(serde_json::json!([cell("a", 100.0, 300.0), cell("b", 50.0, 60.0)])));
        assert!(
            html.contains("user-orders: b moves the fewest bytes, 110 B per call; a moves 3.64× as many."),
            "{html}"
        );
        // The verdicts name the winner with its figure; two protocols without roles both compete.
        assert!(html.contains(r#"<td class="v-win"><span class="main">b 110 B</span>"#), "{html}");
        // One line of health, every problem behind it.
        assert!(html.contains("Measurement health: 0 of 0 cells noisy"), "{html}");
        assert!(html.contains("Latency above the floor: the floor protocol was not part of this run"));
        assert!(html.contains("No CPU time was recorded."));
        assert!(html.contains("protocol rest was not in this run"));
        assert!(html.contains("generator below 90 % of its cores"), "no CPU read, nothing called busy");
    }

    #[test]
    fn the_health_line_names_the_cells_whose_generator_was_busy() {
        // Two cores, nothing pinned: one client thread. 12 µs per call at 80,000 calls/s is 96 %
        // of it; at 50,000 calls/s, 60 %.
        let mut busy = cell("a", 100.0, 300.0);
        busy["resources"]["client_cpu_us_per_op"] = 12.0.into();
        busy["throughput_ops_s"] = 80_000.0.into();
        let mut idle = cell("b", 50.0, 60.0);
        idle["resources"]["client_cpu_us_per_op"] = 12.0.into();
        idle["throughput_ops_s"] = 50_000.0.into();
        let html = render_it(&results(serde_json::json!([busy, idle])));
        assert!(html.contains("generator at 90 % of its cores or more in 1 cells"), "{html}");
        let item = html.split("kept its cores 90 % busy").nth(1).unwrap().split("</li>").next().unwrap();
        assert!(item.contains("a user-orders") && !item.contains("b user-orders"), "{item}");
    }
}
