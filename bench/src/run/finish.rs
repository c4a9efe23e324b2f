//! The end of a run: `results.json`, the `latest` link, the terminal summary and the report.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use wirebench_results::{Results, RunStatus};

/// Writes everything a run leaves behind, then returns the results path, or an error when
/// the run did not complete or its report could not be written (results are written first
/// either way).
pub fn finish(
    results: &Results,
    out: &Path,
    stamp: &str,
    format: wirebench_report::summary::Format,
) -> anyhow::Result<PathBuf> {
    let path = out.join(stamp).join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(results)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    let impossible = results.impossible();
    if !impossible.is_empty() {
        // Kept for a look, never reported: a harness that measured this is wrong.
        bail!(
            "{} holds figures no measurement can give, so no report was made: {}",
            path.display(),
            impossible.join("; ")
        );
    }
    let latest = out.join("latest");
    let shown = match update_latest(out, stamp) {
        Ok(()) => latest.clone(),
        Err(e) => {
            eprintln!(
                "warning: {} not updated ({e:#}); the run is in {}",
                latest.display(),
                out.join(stamp).display()
            );
            out.join(stamp)
        }
    };
    wirebench_results::export::write_beside(results, &path)?;
    wirebench_report::summary::write_as(&mut std::io::stdout().lock(), results, format)
        .context("printing the summary")?;
    // For people beside the table; beside JSON or CSV, out of the way of the program reading.
    let say = |line: String| match format {
        wirebench_report::summary::Format::Table | wirebench_report::summary::Format::Full => {
            println!("{line}")
        }
        _ => eprintln!("{line}"),
    };
    // Printed through `reports/latest`, the path that stays valid for the newest run.
    say(format!("results: {} (= {})", shown.join("results.json").display(), path.display()));
    let report = wirebench_report::write(&path, &wirebench_report::ReportOptions::default())
        .with_context(|| format!("the report of {} was not written", path.display()))?;
    let name = report.file_name().map(PathBuf::from).unwrap_or_default();
    say(format!("report: {}", shown.join(name).display()));
    let disagree: Vec<String> = results
        .equivalence
        .iter()
        .filter(|e| e.verdict == wirebench_engine::equivalence::VerdictKind::Fails)
        .map(|e| format!("{} {} ({})", e.protocol, e.operation, e.payload))
        .collect();
    match results.status {
        // A protocol that disagrees with the reference fails the run, once everything is written.
        RunStatus::Complete if !disagree.is_empty() => bail!(
            "{} disagree with the reference store and were not timed: {} — results and report written to {}",
            disagree.len(),
            disagree.join(", "),
            path.display()
        ),
        RunStatus::Complete => Ok(path),
        _ => bail!(
            "{} — partial results written to {}",
            results.message.clone().unwrap_or_default(),
            path.display()
        ),
    }
}

/// Points `out/latest` at the run folder `stamp`.
fn update_latest(out: &Path, stamp: &str) -> anyhow::Result<()> {
    let latest = out.join("latest");
    match std::fs::remove_file(&latest) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", latest.display()));
        }
        _ => {}
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(stamp, &latest).with_context(|| format!("linking {}", latest.display()))?;
    Ok(())
}
