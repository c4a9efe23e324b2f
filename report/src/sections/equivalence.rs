//! Equivalence: what every protocol answered before anything was timed.

use std::collections::BTreeMap;

use crate::{Block, Table, Tags, View, td, td_class};
use wirebench_results::vocab::Operation;
use wirebench_results::vocab::VerdictKind;

pub(crate) fn equivalence_blocks(view: &View<'_>) -> Vec<Block> {
    let eq = &view.r.equivalence;
    let mut payloads: Vec<String> = Vec::new();
    for e in eq {
        if !payloads.contains(&e.payload) {
            payloads.push(e.payload.clone());
        }
    }
    let mut blocks = Vec::new();
    for payload in payloads {
        let rows: Vec<_> = eq.iter().filter(|e| e.payload == payload).collect();
        let mut protocols: Vec<String> = Vec::new();
        let mut ops: Vec<Operation> = Vec::new();
        for e in &rows {
            if !protocols.contains(&e.protocol) {
                protocols.push(e.protocol.clone());
            }
            if !ops.contains(&e.operation) {
                ops.push(e.operation);
            }
        }
        let count = |v: VerdictKind| rows.iter().filter(|e| e.verdict == v).count();
        let mut head = vec!["protocol".to_owned()];
        head.extend(ops.iter().map(|o| o.name().to_owned()));
        let mut matrix = Table::with_head(head);
        for p in &protocols {
            let mut row = vec![td(p.clone())];
            for op in &ops {
                row.push(match rows.iter().find(|e| e.protocol == *p && e.operation == *op) {
                    Some(e) => td_class(
                        e.verdict.as_str(),
                        match e.verdict {
                            VerdictKind::Agrees => "holds",
                            VerdictKind::Fails => "fails",
                            VerdictKind::Unsupported => "na",
                        },
                    ),
                    None => td_class("not checked", "na"),
                });
            }
            matrix.rows.push(row);
        }
        // Reasons, one line per distinct (protocol, verdict, detail).
        let mut reasons = Table::new(&["protocol", "verdict", "operations", "reason or difference"]);
        reasons.class = "text";
        let mut seen: BTreeMap<(String, &str, String), Vec<String>> = BTreeMap::new();
        for e in rows.iter().filter(|e| e.verdict != VerdictKind::Agrees) {
            seen.entry((e.protocol.clone(), e.verdict.as_str(), e.detail.clone().unwrap_or_default()))
                .or_default()
                .push(e.operation.name().to_owned());
        }
        for ((p, v, d), ops) in seen {
            let class = if v == VerdictKind::Fails.as_str() { "fails" } else { "" };
            reasons.rows.push(vec![td(p), td_class(v, class), td(ops.join(", ")), td(d)]);
        }
        let mut tables = vec![matrix];
        if !reasons.rows.is_empty() {
            tables.push(reasons);
        }
        blocks.push(Block {
            tags: Tags::payload(&payload),
            heading: format!("Payload {payload}"),
            intro: Some(format!(
                "{} (protocol, operation) pairs checked against the reference store before timing: {} agree, {} \
                 unsupported, {} fail (failures are not timed). {}",
                rows.len(),
                count(VerdictKind::Agrees),
                count(VerdictKind::Unsupported),
                count(VerdictKind::Fails),
                under_load(view, &payload)
            )),
            charts: Vec::new(),
            tables,
        });
    }
    blocks
}

/// What the timed cells' answers were checked against, summed over the payload's cells.
fn under_load(view: &View<'_>, payload: &str) -> String {
    let cells: Vec<_> = view.r.cells.iter().filter(|c| c.payload == payload).collect();
    let sum = |f: fn(&wirebench_results::Checks) -> u64| cells.iter().map(|c| f(&c.checks)).sum::<u64>();
    let unchecked = cells.iter().find_map(|c| c.checks.unchecked.clone());
    let mut text = format!(
        "Under load: {} write answers checked against their requests, {} created records read back from the \
         server's store, {} sampled reads (one in {}) compared with it; {} disagreed.",
        sum(|c| c.writes_checked),
        sum(|c| c.writes_read_back),
        sum(|c| c.reads_compared),
        wirebench_results::vocab::SAMPLE_EVERY,
        sum(|c| c.mismatches)
    );
    if let Some(why) = unchecked {
        text.push_str(&format!(" Not everything could be checked: {why}."));
    }
    text
}
