//! Repeats: how far each cell's figures moved from run to run, and which cells are noisy.

use crate::{Block, Table, Tags, View, td, td_class};
use wirebench_results::repeats::FIGURES;

pub(crate) fn repeat_blocks(view: &View<'_>) -> Vec<Block> {
    let o = &view.r.options;
    let summaries = &view.r.summaries;
    let intro = format!(
        "{} repeat{} of every cell, each repeat's cells in a new random order (order seed {}), each from \
         the store's fixtures. Every figure elsewhere in the report is the median across the repeats, with \
         its 95 % bootstrap interval in brackets where there are two runs or more. Spread is (largest − \
         smallest) ÷ median; a figure whose spread exceeds 5 % is noisy (in red).",
        o.repeat,
        if o.repeat == 1 { "" } else { "s" },
        o.order_seed
    );
    let mut block = Block {
        tags: Tags::default(),
        heading: String::new(),
        intro: Some(intro),
        charts: Vec::new(),
        tables: Vec::new(),
    };
    if summaries.iter().all(|s| s.runs < 2) {
        block.intro = Some(format!(
            "{} Only one run per cell here, so there is no spread to show: run with --repeat 3 or more.",
            block.intro.unwrap_or_default()
        ));
        return vec![block];
    }
    let mut head = vec!["cell".to_owned(), "runs".to_owned()];
    head.extend(FIGURES.iter().map(|f| format!("{} spread", f.name())));
    let mut t = Table::with_head(head);
    let mut rows: Vec<_> = summaries.iter().filter(|s| s.runs > 1).collect();
    // The noisiest first: that is what a reader checks.
    let worst = |s: &wirebench_results::repeats::CellSummary| {
        s.figures.values().map(|e| e.spread).fold(0.0, f64::max)
    };
    rows.sort_by(|a, b| worst(b).total_cmp(&worst(a)));
    for s in rows {
        let load = s
            .rate
            .map_or_else(|| format!("c={}", s.concurrency), |r| format!("{r:.0}/s c={}", s.concurrency));
        let mut row =
            vec![td(format!("{} {} {} {load}", s.protocol, s.operation, s.payload)), td(s.runs.to_string())];
        for f in FIGURES {
            row.push(match s.figures.get(f.name()) {
                Some(e) => {
                    let text = format!("{:.1} %", e.spread * 100.0);
                    if e.noisy() { td_class(text, "worst") } else { td(text) }
                }
                None => td_class("–", "na"),
            });
        }
        t.rows.push(row);
    }
    block.tables.push(t);
    vec![block]
}
