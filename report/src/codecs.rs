//! Serialization cost: what the codec benches (`bench/benches/codecs.rs`) leave behind, and
//! the readers the report uses.
//!
//! The benches time encode and decode of every format on every payload profile with
//! criterion, and write the encoded sizes next to criterion's results. Names:
//!
//! - criterion group `codec/{format}/{dataset}` ([`group_name`]), function `encode` or
//!   `decode` ([`OPS`]), parameter the payload profile name (`tiny`, `small`, …);
//! - criterion 0.8 writes each estimate to
//!   `<criterion_dir>/codec_{format}_{dataset}/{op}/{payload}/new/estimates.json` (it turns
//!   `/` in a group name into `_`), with the unsanitized names in `new/benchmark.json`;
//! - the sizes are one JSON array of [`SizeRecord`] in `<criterion_dir>/`[`SIZES_FILE`].
//!
//! `<criterion_dir>` is criterion's output directory: `$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion` of the workspace.
//!
//! Formats are `json`, `protobuf`, `graphql` and `ws` today (one file each under
//! `bench/benches/formats/`); datasets are [`DATASETS`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// First segment of every codec bench group name.
pub const GROUP_PREFIX: &str = "codec";
/// The sizes file, in criterion's output directory.
pub const SIZES_FILE: &str = "wirebench-codec-sizes.json";
/// When and from which revision the timings were measured, in criterion's output directory.
pub const RUN_FILE: &str = "wirebench-codec-run.json";
/// The two timed operations (criterion function ids).
pub const OPS: [&str; 2] = ["encode", "decode"];
/// What is encoded: one full user, and one page of (up to) [`ORDERS_PAGE`] full orders.
pub const DATASETS: [&str; 2] = ["user", "orders"];
/// Orders in the `orders` dataset's page (fewer when the profile has fewer).
pub const ORDERS_PAGE: u32 = 100;
/// Seed of the fixtures every codec bench encodes.
pub const FIXTURE_SEED: u64 = 42;

/// The criterion group of one format and dataset: `codec/{format}/{dataset}`.
pub fn group_name(format: &str, dataset: &str) -> String {
    format!("{GROUP_PREFIX}/{format}/{dataset}")
}

/// `(format, dataset)` of a codec group name, as written by [`group_name`].
pub fn parse_group_name(group: &str) -> Option<(&str, &str)> {
    let rest = group.strip_prefix(GROUP_PREFIX)?.strip_prefix('/')?;
    let (format, dataset) = rest.split_once('/')?;
    (!format.is_empty() && !dataset.is_empty() && !dataset.contains('/')).then_some((format, dataset))
}

/// `(format, dataset)` of a codec group's directory name (`codec_{format}_{dataset}`), for
/// results without `benchmark.json`. Datasets never contain `_`; formats may.
fn parse_group_dir(dir: &str) -> Option<(&str, &str)> {
    let rest = dir.strip_prefix(GROUP_PREFIX)?.strip_prefix('_')?;
    let (format, dataset) = rest.rsplit_once('_')?;
    (!format.is_empty() && !dataset.is_empty()).then_some((format, dataset))
}

/// Encoded size of one format, dataset and payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeRecord {
    pub format: String,
    pub dataset: String,
    /// Payload profile name.
    pub payload: String,
    /// The encoded bytes, as the timed `encode` produces them.
    pub raw_bytes: u64,
    /// Those bytes gzipped (flate2, default level 6).
    pub gzip_bytes: u64,
    /// Those bytes compressed with zstd level 3.
    pub zstd_bytes: u64,
}

/// Criterion's estimate of one timed operation: the mean time per iteration and its
/// confidence interval (criterion's default 95 %), in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRecord {
    pub format: String,
    pub dataset: String,
    /// Payload profile name.
    pub payload: String,
    /// `encode` or `decode`.
    pub op: String,
    pub mean_ns: f64,
    pub ci_low_ns: f64,
    pub ci_high_ns: f64,
}

/// Where the codec timings come from: written by the benches after a measuring run (not by
/// `cargo test --bench codecs`, which times nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodecRun {
    /// The git revision the benches were built from (`-dirty` with uncommitted changes).
    pub git_revision: String,
    /// When the run finished, RFC 3339 UTC.
    pub measured_at: String,
    /// The arguments criterion was given (measurement time, resamples, …).
    pub args: Vec<String>,
}

/// Writes `run` to `<criterion_dir>/`[`RUN_FILE`].
pub fn write_run(criterion_dir: &Path, run: &CodecRun) -> io::Result<PathBuf> {
    fs::create_dir_all(criterion_dir)?;
    let path = criterion_dir.join(RUN_FILE);
    fs::write(&path, serde_json::to_vec_pretty(run).map_err(io::Error::other)?)?;
    Ok(path)
}

/// The codec run's provenance; None when the benches have not measured since this file was
/// introduced, an error when it is corrupt.
pub fn read_run(criterion_dir: &Path) -> anyhow::Result<Option<CodecRun>> {
    read_json(&criterion_dir.join(RUN_FILE))
}

/// Writes `records` to `<criterion_dir>/`[`SIZES_FILE`], creating the directory; returns
/// the file's path.
pub fn write_sizes(criterion_dir: &Path, records: &[SizeRecord]) -> io::Result<PathBuf> {
    fs::create_dir_all(criterion_dir)?;
    let path = criterion_dir.join(SIZES_FILE);
    let json = serde_json::to_vec_pretty(records).map_err(io::Error::other)?;
    fs::write(&path, json)?;
    Ok(path)
}

/// The sizes the codec benches wrote; empty when the file is missing (the benches have not
/// run), an error when it is unreadable or corrupt.
pub fn read_sizes(criterion_dir: &Path) -> anyhow::Result<Vec<SizeRecord>> {
    let path = criterion_dir.join(SIZES_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(corrupt(&path, e)),
    }
}

/// A codec bench file that exists but cannot be read: the report says which, rather than
/// leaving its figures out unexplained.
fn corrupt(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{}: {e} (rerun `make codecs`, or delete the file)", path.display())
}

/// A JSON file criterion writes: None when missing (the bench did not finish), an error when
/// unreadable or corrupt.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(corrupt(path, e)),
    }
}

/// The names criterion keeps in `new/benchmark.json`.
#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

/// The part of criterion's `estimates.json` read here.
#[derive(Deserialize)]
struct EstimatesJson {
    mean: EstimateJson,
}

#[derive(Deserialize)]
struct EstimateJson {
    point_estimate: f64,
    confidence_interval: IntervalJson,
}

#[derive(Deserialize)]
struct IntervalJson {
    lower_bound: f64,
    upper_bound: f64,
}

fn subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect()
}

/// One estimate, named from `benchmark.json` when present, else from the directories.
/// None when the bench has no estimate yet or is not one of the codec benches; an error when
/// a file is corrupt.
fn read_one(
    group_dir: &str,
    op_dir: &str,
    payload_dir: &str,
    new: &Path,
) -> anyhow::Result<Option<TimeRecord>> {
    let Some(estimates) = read_json::<EstimatesJson>(&new.join("estimates.json"))? else { return Ok(None) };
    let names = read_json::<BenchmarkJson>(&new.join("benchmark.json"))?;
    let named = match &names {
        Some(b) => parse_group_name(&b.group_id).and_then(|(format, dataset)| {
            Some((format, dataset, b.function_id.as_deref()?, b.value_str.as_deref()?))
        }),
        None => parse_group_dir(group_dir).map(|(format, dataset)| (format, dataset, op_dir, payload_dir)),
    };
    let Some((format, dataset, op, payload)) = named else { return Ok(None) };
    Ok(Some(TimeRecord {
        format: format.to_owned(),
        dataset: dataset.to_owned(),
        payload: payload.to_owned(),
        op: op.to_owned(),
        mean_ns: estimates.mean.point_estimate,
        ci_low_ns: estimates.mean.confidence_interval.lower_bound,
        ci_high_ns: estimates.mean.confidence_interval.upper_bound,
    }))
}

/// Every codec estimate criterion has written under `criterion_dir` (its latest run, the
/// `new/` directories), sorted by format, dataset, op and payload. Other benchmarks are
/// skipped; a missing directory gives an empty list; a corrupt file is an error.
pub fn read_estimates(criterion_dir: &Path) -> anyhow::Result<Vec<TimeRecord>> {
    let mut records = Vec::new();
    for (group, group_path) in subdirs(criterion_dir) {
        if !group.starts_with(GROUP_PREFIX) {
            continue;
        }
        for (op, op_path) in subdirs(&group_path) {
            for (payload, payload_path) in subdirs(&op_path) {
                let new = payload_path.join("new");
                records.extend(read_one(&group, &op, &payload, &new)?);
            }
        }
    }
    records.sort_by(|a, b| {
        (&a.format, &a.dataset, &a.op, &a.payload).cmp(&(&b.format, &b.dataset, &b.op, &b.payload))
    });
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("wirebench-codecs-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// An estimates.json as criterion 0.8 writes it (every field it writes, abridged values).
    fn estimates_json(mean: f64, low: f64, high: f64) -> String {
        let estimate = |v: f64, lo: f64, hi: f64| {
            format!(
                r#"{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{lo},"upper_bound":{hi}}},"point_estimate":{v},"standard_error":1.5}}"#
            )
        };
        format!(
            r#"{{"mean":{},"median":{},"median_abs_dev":{},"slope":{},"std_dev":{}}}"#,
            estimate(mean, low, high),
            estimate(mean - 1.0, low - 1.0, high - 1.0),
            estimate(3.0, 2.0, 4.0),
            estimate(mean + 0.5, low, high),
            estimate(10.0, 8.0, 12.0),
        )
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn group_names_round_trip() {
        assert_eq!(group_name("json", "user"), "codec/json/user");
        assert_eq!(parse_group_name("codec/json/user"), Some(("json", "user")));
        assert_eq!(parse_group_name("codec/json"), None);
        assert_eq!(parse_group_name("other/json/user"), None);
        assert_eq!(parse_group_dir("codec_msg_pack_orders"), Some(("msg_pack", "orders")));
    }

    #[test]
    fn estimates_are_read_with_and_without_benchmark_json() {
        let dir = TempDir::new("estimates");
        let root = &dir.0;
        // With benchmark.json, as criterion writes it.
        let new = root.join("codec_json_user/encode/small/new");
        write(&new.join("estimates.json"), &estimates_json(812.5, 800.0, 830.25));
        write(
            &new.join("benchmark.json"),
            r#"{"group_id":"codec/json/user","function_id":"encode","value_str":"small","throughput":{"Bytes":1065},"full_id":"codec/json/user/encode/small","directory_name":"codec_json_user/encode/small","title":"codec/json/user/encode/small"}"#,
        );
        // Without it: names from the directories.
        write(
            &root.join("codec_protobuf_orders/decode/large/new/estimates.json"),
            &estimates_json(1.5e6, 1.4e6, 1.6e6),
        );
        // Ignored: the previous run, other benchmarks, a bench that has not finished.
        write(&root.join("codec_json_user/encode/small/base/estimates.json"), &estimates_json(1.0, 1.0, 1.0));
        write(&root.join("other_group/encode/small/new/estimates.json"), "not json");
        fs::create_dir_all(root.join("codec_json_user/decode/small/new")).unwrap();
        write(&root.join(SIZES_FILE), "[]");

        let records = read_estimates(root).unwrap();
        assert_eq!(
            records,
            vec![
                TimeRecord {
                    format: "json".into(),
                    dataset: "user".into(),
                    payload: "small".into(),
                    op: "encode".into(),
                    mean_ns: 812.5,
                    ci_low_ns: 800.0,
                    ci_high_ns: 830.25,
                },
                TimeRecord {
                    format: "protobuf".into(),
                    dataset: "orders".into(),
                    payload: "large".into(),
                    op: "decode".into(),
                    mean_ns: 1.5e6,
                    ci_low_ns: 1.4e6,
                    ci_high_ns: 1.6e6,
                },
            ]
        );
        assert!(read_estimates(&root.join("missing")).unwrap().is_empty());

        // A corrupt file of a codec bench is an error that names it, not a figure left out.
        write(&root.join("codec_ws_user/encode/tiny/new/estimates.json"), "not json");
        let e = read_estimates(root).unwrap_err().to_string();
        assert!(e.contains("codec_ws_user/encode/tiny/new/estimates.json"), "{e}");
    }

    #[test]
    fn sizes_round_trip_through_the_file() {
        let dir = TempDir::new("sizes");
        assert!(read_sizes(&dir.0).unwrap().is_empty());
        let records = vec![SizeRecord {
            format: "protobuf".into(),
            dataset: "orders".into(),
            payload: "tiny".into(),
            raw_bytes: 3000,
            gzip_bytes: 900,
            zstd_bytes: 850,
        }];
        let path = write_sizes(&dir.0.join("criterion"), &records).unwrap();
        assert!(path.ends_with(SIZES_FILE));
        assert_eq!(read_sizes(&dir.0.join("criterion")).unwrap(), records);
        // The exact field names the report and other tools rely on.
        let text = fs::read_to_string(path).unwrap();
        for field in ["format", "dataset", "payload", "raw_bytes", "gzip_bytes", "zstd_bytes"] {
            assert!(text.contains(&format!("\"{field}\"")), "{field} in {text}");
        }
        fs::write(dir.0.join("criterion").join(SIZES_FILE), "{").unwrap();
        assert!(read_sizes(&dir.0.join("criterion")).is_err());
    }
}
