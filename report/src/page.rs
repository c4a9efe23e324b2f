//! The page as the template sees it: every `#[derive(Serialize)]` struct it renders (charts,
//! tables, blocks, the health line, the filters' values), the helpers the sections build them
//! with, and what is computed over the whole page once it is built (the families of table
//! rows, for the filters).

use serde::Serialize;

use super::claims::ClaimRow;
use super::{fmt, verdicts};
use wirebench_results::Results;
use wirebench_results::vocab::Operation;

/// The most bars or lines one chart draws: more variants are drawn family by family.
pub const MAX_SERIES: usize = 12;

/// "grpc has the fewest bytes per operation (167 B); rest the most (864 B, 5.17×).": the two
/// ends of a chart's values, computed. `low` and `high` name the ends ("fewest bytes per
/// operation", "most"); None without a value.
pub(crate) fn extremes(
    values: &[(String, f64)],
    (low, high): (&str, &str),
    show: impl Fn(f64) -> String,
) -> Option<String> {
    let finite: Vec<&(String, f64)> = values.iter().filter(|(_, v)| v.is_finite()).collect();
    let min = finite.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let max = finite.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    if finite.len() < 2 || min.0 == max.0 {
        return Some(format!("{} has the {low} ({}).", min.0, show(min.1)));
    }
    let times = if min.1 > 0.0 { format!(", {}", fmt::ratio(max.1 / min.1)) } else { String::new() };
    Some(format!("{} has the {low} ({}); {} the {high} ({}{times}).", min.0, show(min.1), max.0, show(max.1)))
}

/// A chart title for one of several groups: "… (gRPC)".
pub(crate) fn of_group(title: String, group: &Option<String>) -> String {
    match group {
        Some(g) => format!("{title} — {g}"),
        None => title,
    }
}

/// What a chart, a block or a table row is about, for the page's filters: each set value is
/// a `data-` attribute the filter script matches (an element without one is never hidden).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Tags {
    pub(crate) op: Option<String>,
    pub(crate) network: Option<String>,
    pub(crate) payload: Option<String>,
    pub(crate) family: Option<String>,
}

impl Tags {
    pub(crate) fn payload(payload: &str) -> Tags {
        Tags { payload: Some(payload.to_owned()), ..Tags::default() }
    }

    pub(crate) fn op(op: Operation, payload: &str) -> Tags {
        Tags { op: Some(op.name().to_owned()), ..Tags::payload(payload) }
    }

    pub(crate) fn on(self, network: &str) -> Tags {
        Tags { network: Some(network.to_owned()), ..self }
    }
}

/// A chart, or the sentence saying why there is none.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Chart {
    /// The SVG, when there was data to draw.
    pub(crate) svg: Option<String>,
    /// What it shows, in one sentence computed from its data, above it.
    pub(crate) takeaway: Option<String>,
    /// What the chart shows and how the figures were selected.
    pub(crate) caption: String,
    /// Why there is no chart.
    pub(crate) missing: Option<String>,
    /// Spans the page instead of one grid column.
    pub(crate) wide: bool,
    pub(crate) tags: Tags,
}

impl Chart {
    pub(crate) fn drawn(svg: String, caption: impl Into<String>, wide: bool) -> Self {
        Chart {
            svg: Some(svg),
            takeaway: None,
            caption: caption.into(),
            missing: None,
            wide,
            tags: Tags::default(),
        }
    }
    pub(crate) fn missing(why: impl Into<String>, wide: bool) -> Self {
        Chart {
            svg: None,
            takeaway: None,
            caption: String::new(),
            missing: Some(why.into()),
            wide,
            tags: Tags::default(),
        }
    }
    /// The sentence above it.
    pub(crate) fn saying(mut self, takeaway: Option<String>) -> Self {
        self.takeaway = takeaway;
        self
    }
    /// The operation it shows.
    pub(crate) fn of(mut self, op: Operation) -> Self {
        self.tags.op = Some(op.name().to_owned());
        self
    }
}

/// A table cell: text and an optional CSS class (best, worst, holds, …).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TCell {
    pub(crate) text: String,
    pub(crate) class: &'static str,
}

pub(crate) fn td(text: impl Into<String>) -> TCell {
    TCell { text: text.into(), class: "" }
}

pub(crate) fn td_class(text: impl Into<String>, class: &'static str) -> TCell {
    TCell { text: text.into(), class }
}

/// A table: first column is the row's name.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Table {
    pub(crate) head: Vec<String>,
    pub(crate) rows: Vec<Vec<TCell>>,
    /// CSS class: "" (numbers, right-aligned) or "text" (prose, left-aligned).
    pub(crate) class: &'static str,
    pub(crate) tags: Tags,
    /// Per row (filled in by [`tag_rows`] from the row's first cell): its protocol's family.
    pub(crate) row_tags: Vec<Tags>,
}

impl Table {
    pub(crate) fn new(head: &[&str]) -> Self {
        Table::with_head(head.iter().map(|s| (*s).to_owned()).collect())
    }

    pub(crate) fn with_head(head: Vec<String>) -> Self {
        Table { head, rows: Vec::new(), class: "", tags: Tags::default(), row_tags: Vec::new() }
    }

    /// The operation it shows.
    pub(crate) fn of(mut self, op: Operation) -> Self {
        self.tags.op = Some(op.name().to_owned());
        self
    }
}

/// A block of a section: one payload's (or operation's) charts and tables.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Block {
    pub(crate) tags: Tags,
    pub(crate) heading: String,
    pub(crate) intro: Option<String>,
    pub(crate) charts: Vec<Chart>,
    pub(crate) tables: Vec<Table>,
}

/// Key–value rows (environment, run).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Kv {
    pub(crate) key: String,
    pub(crate) value: String,
}

pub(crate) fn kv(key: &str, value: impl Into<String>) -> Kv {
    Kv { key: key.into(), value: value.into() }
}

/// A finding: one sentence with the one or two numbers that matter (`title`), and what is
/// behind it (`text`: the decomposition or the full list, folded on the page).
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub title: String,
    pub text: String,
}

/// Measurement health: one line, and what is behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub line: String,
    pub items: Vec<String>,
    /// How many items there are.
    pub problems: usize,
}

/// The values the page's filters offer (each one an attribute on the rows, charts and
/// blocks it applies to).
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct Facets {
    pub(crate) ops: Vec<String>,
    pub(crate) networks: Vec<String>,
    pub(crate) payloads: Vec<String>,
    pub(crate) families: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProtocolRow {
    pub(crate) family: String,
    pub(crate) role: String,
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) describe: String,
    pub(crate) server: String,
    pub(crate) color: String,
    pub(crate) floor: bool,
}

/// The run's settings that the method section quotes.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MethodNote {
    /// The open-loop rate, formatted, or why there is none.
    pub(crate) rate: String,
    pub(crate) warmup_s: f64,
    pub(crate) duration_s: f64,
    /// Runs of each cell.
    pub(crate) repeat: u32,
    /// The floor protocol's name, when it took part.
    pub(crate) floor: Option<String>,
    /// The load generator's last check against wrk and h2load, when one was run here.
    pub(crate) generator: Option<crate::generator::GeneratorNote>,
}

/// Everything the template shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Page {
    pub(crate) title: String,
    pub(crate) subtitle: String,
    pub(crate) status: String,
    /// The run's length against its estimate.
    pub(crate) took: String,
    pub(crate) health: Health,
    pub(crate) verdicts: verdicts::Verdicts,
    /// Best for / avoid when: the judgements engineers quote, rebuilt from this run.
    pub(crate) judgements: Vec<ClaimRow>,
    pub(crate) not_covered: Vec<wirebench_results::NotCovered>,
    pub(crate) facets: Facets,
    pub(crate) findings: Vec<Finding>,
    pub(crate) claims: Vec<ClaimRow>,
    pub(crate) claims_summary: String,
    pub(crate) protocols: Vec<ProtocolRow>,
    pub(crate) run: Vec<Kv>,
    pub(crate) wire: Vec<Block>,
    pub(crate) headers: Vec<Block>,
    pub(crate) round_trips: Vec<Block>,
    /// Latency across emulated networks, and connection set-up (empty: none ran).
    pub(crate) networks: Vec<Block>,
    /// What TLS costs (empty: no TLS cell ran).
    pub(crate) tls: Vec<Block>,
    /// Each protocol through a gateway beside direct (empty: no `--via` cell).
    pub(crate) gateway: Vec<Block>,
    /// Calls in flight over connections and over HTTP/2 streams (empty: no `--streams` cell).
    pub(crate) streams: Vec<Block>,
    /// The size sweep (empty: none ran).
    pub(crate) sizes: Vec<Block>,
    /// Compressing variants against their twins (empty: none ran).
    pub(crate) compression: Vec<Block>,
    /// Encoding × transport, per operation.
    pub(crate) matrix: Vec<Block>,
    pub(crate) latency: Vec<Block>,
    pub(crate) throughput: Vec<Block>,
    pub(crate) serialization: Vec<Block>,
    pub(crate) cpu: Vec<Block>,
    pub(crate) equivalence: Vec<Block>,
    pub(crate) repeats: Vec<Block>,
    pub(crate) environment: Vec<Kv>,
    pub(crate) method: MethodNote,
    pub(crate) command: String,
    pub(crate) floor: Option<String>,
}

/// Gives every table row that names a protocol in its first cell (its name, alone or
/// first) that protocol's family, for the family filter.
pub(crate) fn tag_rows(page: &mut Page, r: &Results) {
    let family = |text: &str| {
        let first = text.split([' ', '(']).next().unwrap_or_default();
        r.protocols.iter().find(|p| p.name == first).map(|p| p.family.clone()).filter(|f| !f.is_empty())
    };
    let lists: [&mut Vec<Block>; 15] = [
        &mut page.wire,
        &mut page.headers,
        &mut page.round_trips,
        &mut page.networks,
        &mut page.tls,
        &mut page.streams,
        &mut page.sizes,
        &mut page.compression,
        &mut page.matrix,
        &mut page.latency,
        &mut page.throughput,
        &mut page.serialization,
        &mut page.cpu,
        &mut page.equivalence,
        &mut page.repeats,
    ];
    for blocks in lists {
        for t in blocks.iter_mut().flat_map(|b| b.tables.iter_mut()) {
            t.row_tags = t
                .rows
                .iter()
                .map(|row| Tags { family: row.first().and_then(|c| family(&c.text)), ..Tags::default() })
                .collect();
        }
    }
}

/// "4 min 26 s (estimated 4 min 33 s)", from the run's start and end stamps.
pub(crate) fn took(r: &Results) -> String {
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let took = at(&r.started_at).zip(at(&r.finished_at)).and_then(|(a, b)| (b - a).to_std().ok());
    let estimated = r.estimated_s.map(std::time::Duration::from_secs_f64);
    match (took, estimated) {
        (Some(t), Some(e)) => {
            format!("took {} (estimated {})", super::fmt::duration(t), super::fmt::duration(e))
        }
        (Some(t), None) => format!("took {}", super::fmt::duration(t)),
        _ => String::new(),
    }
}

/// The filters' values: operations, networks, payloads and families that have cells.
pub(crate) fn facets(r: &Results) -> Facets {
    let mut f = Facets::default();
    for op in Operation::ALL {
        if r.cells.iter().any(|c| c.operation == op) {
            f.ops.push(op.name().to_owned());
        }
    }
    for c in &r.cells {
        if !f.networks.contains(&c.network) {
            f.networks.push(c.network.clone());
        }
        if !f.payloads.contains(&c.payload) {
            f.payloads.push(c.payload.clone());
        }
    }
    for p in &r.protocols {
        if !p.family.is_empty() && !f.families.contains(&p.family) {
            f.families.push(p.family.clone());
        }
    }
    f
}
