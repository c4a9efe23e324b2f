//! The load generator's last self-check (`make bench-generator`, which writes
//! `reports/generator-check.json`): its figures and date, for the method section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A mean with its 95 % interval over the check's repeats (none from a single run).
#[derive(Debug, Clone, Deserialize)]
pub struct Interval {
    pub mean: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

impl Interval {
    fn show(&self, digits: usize) -> String {
        crate::fmt::with_interval(self.mean, self.lo.zip(self.hi), |v| format!("{v:.digits$}"))
    }
}

/// One comparison: wirebench against a tool on one endpoint and connection count.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub endpoint: String,
    pub tool: String,
    pub connections: u32,
    pub ratio_rps: Interval,
    pub ratio_cpu_excluding_decode: Interval,
}

/// What dissecting every byte costs the generator on one protocol.
#[derive(Debug, Clone, Deserialize)]
pub struct Dissection {
    pub protocol: String,
    pub cpu_cost_pct: Interval,
    pub rps_cost_pct: Interval,
}

/// The open loop against the closed loop at the same throughput.
#[derive(Debug, Clone, Deserialize)]
pub struct OpenLoop {
    pub closed_rps: Interval,
    pub ratio_cpu_excluding_decode: Interval,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Machine {
    pub cores: Option<u32>,
    #[serde(default)]
    pub cpu: String,
}

/// `reports/generator-check.json`, as `bench/scripts/generator_check.py` writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct GeneratorCheck {
    pub date: String,
    pub version: String,
    pub machine: Machine,
    pub seconds: f64,
    pub repeats: u32,
    pub rows: Vec<Row>,
    #[serde(default)]
    pub dissection: Vec<Dissection>,
    pub open_loop: Option<OpenLoop>,
    /// The comparisons whose goals were missed, as the check named them.
    #[serde(default)]
    pub missed: Vec<String>,
    #[serde(default)]
    pub impossible: Vec<String>,
}

/// Where the check's file is for a run's `results.json`: in the reports directory above
/// the run's own (`reports/<time>/results.json` → `reports/generator-check.json`).
pub fn beside(results_path: &Path) -> Option<PathBuf> {
    Some(results_path.parent()?.parent()?.join("generator-check.json"))
}

/// The check's file, when there is one; a file that is not one is an error.
pub fn read(path: &Path) -> anyhow::Result<Option<GeneratorCheck>> {
    use anyhow::Context as _;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let check = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a generator check's output", path.display()))?;
    Ok(Some(check))
}

/// The method section's lines about the generator.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GeneratorNote {
    /// When and on what the check ran.
    pub(crate) when: String,
    /// One line per comparison, then dissection and the open loop.
    pub(crate) lines: Vec<String>,
    /// Goals met or missed, in a sentence.
    pub(crate) verdict: String,
}

pub(crate) fn note(c: &GeneratorCheck) -> GeneratorNote {
    let cores = c.machine.cores.map_or_else(String::new, |n| format!("{n}-core "));
    let when = format!(
        "{} ({}, {cores}{}; {} repeats of {} s cells, server on one core and each client on another)",
        c.date, c.version, c.machine.cpu, c.repeats, c.seconds
    );
    let mut lines: Vec<String> = c
        .rows
        .iter()
        .map(|r| {
            format!(
                "{}, {} connections, against {}: requests/s ×{}, CPU per request (decoding apart) ×{}",
                r.endpoint,
                r.connections,
                r.tool,
                r.ratio_rps.show(2),
                r.ratio_cpu_excluding_decode.show(2)
            )
        })
        .collect();
    for d in &c.dissection {
        let cost = |i: &Interval| match (i.lo, i.hi) {
            (Some(lo), Some(hi)) if lo <= 0.0 && 0.0 <= hi => format!("below the noise ({} %)", i.show(1)),
            _ => format!("{} %", i.show(1)),
        };
        lines.push(format!(
            "dissecting every byte, {}: CPU per request {}, requests/s {}",
            d.protocol,
            cost(&d.cpu_cost_pct),
            cost(&d.rps_cost_pct)
        ));
    }
    if let Some(o) = &c.open_loop {
        lines.push(format!(
            "open loop at {:.0}/s against the closed loop at the same throughput: CPU per request ×{}",
            o.closed_rps.mean,
            o.ratio_cpu_excluding_decode.show(2)
        ));
    }
    let verdict = if !c.impossible.is_empty() {
        format!("The check found figures no measurement can give: {}.", c.impossible.join("; "))
    } else if c.missed.is_empty() {
        "Every goal was met: at least the tool's requests/s, at most its CPU per request.".into()
    } else {
        format!(
            "Goals missed (at least the tool's requests/s, at most its CPU per request) on {} of {}: {}.",
            c.missed.len(),
            c.rows.len() + usize::from(c.open_loop.is_some()),
            c.missed.join("; ")
        )
    };
    GeneratorNote { when, lines, verdict }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn check(cpu: f64) -> GeneratorCheck {
        serde_json::from_value(serde_json::json!({
            "date": "2026-12-08T00:00:00+00:00", "version": "wirebench 0.1.0",
            "machine": {"cores": 2, "cpu": "Xeon"}, "seconds": 1, "repeats": 3,
            "rows": [{"endpoint": "HTTP/1.1 GET /v1/users/1", "tool": "wrk", "connections": 16,
                "ratio_rps": {"mean": 1.01, "lo": 0.94, "hi": 1.08, "n": 3},
                "ratio_cpu_excluding_decode": {"mean": cpu, "lo": cpu - 0.1, "hi": cpu + 0.1, "n": 3}}],
            "missed": if cpu <= 1.0 { vec![] } else { vec!["HTTP/1.1 GET /v1/users/1 at 16"] },
            "dissection": [{"protocol": "rest", "cpu_cost_pct": {"mean": 1.7, "lo": -2.2, "hi": 5.6},
                "rps_cost_pct": {"mean": 4.0, "lo": 1.0, "hi": 7.0}}],
            "open_loop": null, "impossible": []
        }))
        .unwrap()
    }

    #[test]
    fn the_note_says_each_ratio_with_its_interval_and_which_goals_were_missed() {
        let n = note(&check(1.56));
        assert!(n.when.starts_with("2026-12-08") && n.when.contains("2-core Xeon"), "{}", n.when);
        assert!(n.lines[0].contains("×1.01 [0.94–1.08]") && n.lines[0].contains("×1.56 [1.46–1.66]"));
        assert!(n.lines[1].contains("CPU per request below the noise (1.7 [-2.2–5.6] %)"), "{}", n.lines[1]);
        assert!(n.lines[1].contains("requests/s 4.0 [1.0–7.0] %"), "{}", n.lines[1]);
        assert!(n.verdict.contains("missed") && n.verdict.contains("1 of 1"), "{}", n.verdict);
        assert!(note(&check(0.9)).verdict.starts_with("Every goal was met"));
    }

    #[test]
    fn a_run_without_a_check_has_none_and_a_bad_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("wirebench-gencheck-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let path = beside(&dir.join("run").join("results.json")).unwrap();
        assert_eq!(path, dir.join("generator-check.json"));
        assert!(read(&path).unwrap().is_none());
        std::fs::write(&path, "{}").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("not a generator check"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
