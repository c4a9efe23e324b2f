//! Sharded runs and `wirebench merge`: two `run --shard I/2` processes against one server,
//! merged without loss; and merge refusing runs that do not belong together.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::Value;
use wirebench_results::{Latency, Results};

mod common;
use common::{ServeChild, tempdir, wirebench};

/// The two shards' run folders, run once for every test of this file.
fn shards() -> &'static (PathBuf, PathBuf) {
    static SHARDS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    SHARDS.get_or_init(|| {
        let server = ServeChild::start("tiny", &[]);
        let dir = tempdir("shards");
        let addr_file = dir.join("servers.json");
        std::fs::write(&addr_file, serde_json::to_string(&server.addrs).unwrap()).unwrap();
        let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(5);
        let children: Vec<_> = (1..=2)
            .map(|i| {
                let out = dir.join(format!("shard{i}"));
                let child = wirebench()
                    .args(["run", "--profile", "smoke", "--target"])
                    .arg(&addr_file)
                    .args([
                        "--shard",
                        &format!("{i}/2"),
                        "--start-at",
                        &format!("{:.3}", start.as_secs_f64()),
                    ])
                    .args([
                        "--payloads",
                        "tiny",
                        "--protocols",
                        "rest,grpc",
                        "--operations",
                        "get-user,list-orders",
                    ])
                    .args(["--concurrency", "2,3", "--rate", "2000", "--duration", "0.4", "--warmup", "0.1"])
                    .args(["--repeat", "1", "--no-pin", "--format", "json", "--out"])
                    .arg(&out)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                (out, child)
            })
            .collect();
        let mut outs = Vec::new();
        for (out, child) in children {
            let done = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&done.stderr);
            assert!(done.status.success(), "shard failed: {stderr}");
            // The summary is JSON on stdout; the paths went to stderr.
            let rows: Value = serde_json::from_slice(&done.stdout).unwrap();
            assert!(rows.as_array().is_some_and(|r| !r.is_empty()), "{rows}");
            outs.push(out.join("latest"));
        }
        drop(server);
        (outs[0].clone(), outs[1].clone())
    })
}

fn merge(inputs: &[&Path], out: &Path) -> std::process::Output {
    wirebench().arg("merge").args(inputs).arg("--out").arg(out).output().unwrap()
}

fn histogram(l: &Option<Latency>) -> Option<Histogram<u64>> {
    l.as_ref().map(|l| l.histogram().expect("histograms decode"))
}

/// The cell's identity across shards, its load being the total one.
fn key(c: &wirebench_results::Cell) -> String {
    let total = c.total_load.map_or(c.concurrency, |t| t.concurrency);
    format!(
        "{}|{}|{}|{}|{}|{total}|{}|{}|{}|{}",
        c.protocol,
        c.operation.name(),
        c.mode,
        c.n,
        c.sized,
        c.network,
        c.tls,
        c.fresh_connections,
        c.streams
    )
}

#[test]
fn two_shards_merge_into_exact_counts_and_the_percentiles_of_the_added_histograms() {
    let (a, b) = shards();
    let out = tempdir("merged");
    let done = merge(&[a, b], &out);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("shard 1/2") && stderr.contains("shard 2/2"), "{stderr}");
    let merged = Results::read(&out.join("results.json")).unwrap();
    let shards =
        [Results::read(&a.join("results.json")).unwrap(), Results::read(&b.join("results.json")).unwrap()];
    assert_eq!(merged.shards.iter().map(|s| s.index).collect::<Vec<_>>(), [1, 2]);
    assert!(!merged.cells.is_empty());
    let mut open = 0;
    for m in &merged.cells {
        let parts: Vec<_> = shards.iter().flat_map(|r| &r.cells).filter(|c| key(c) == key(m)).collect();
        assert!(!parts.is_empty(), "{}", key(m));
        // Counts: exactly the sums.
        assert_eq!(m.ops, parts.iter().map(|c| c.ops).sum::<u64>(), "{}", key(m));
        let errors = |c: &wirebench_results::Cell| c.errors.values().sum::<u64>();
        assert_eq!(errors(m), parts.iter().map(|c| errors(c)).sum::<u64>());
        assert_eq!(m.concurrency, parts.iter().map(|c| c.concurrency).sum::<u32>());
        assert_eq!(Some(m.concurrency), parts[0].total_load.map(|t| t.concurrency));
        if let Some(rate) = m.rate {
            open += 1;
            assert_eq!(parts.len(), 2);
            assert!((rate - parts[0].total_load.unwrap().rate.unwrap()).abs() < 1e-9);
            assert!(m.send_lag.is_some(), "send lag merged too");
        }
        // Percentiles: those of the two raw histograms added, never averaged.
        let mut sum = histogram(&parts[0].latency).unwrap();
        for c in &parts[1..] {
            sum.add(histogram(&c.latency).unwrap()).unwrap();
        }
        let l = m.latency.as_ref().unwrap();
        assert_eq!(l.count, sum.len());
        for (got, q) in [(l.p50_ns, 0.5), (l.p90_ns, 0.9), (l.p99_ns, 0.99), (l.p999_ns, 0.999)] {
            let want = sum.value_at_quantile(q);
            assert!(sum.equivalent(got, want), "{}: p{q} {got} against {want}", key(m));
        }
        assert_eq!((l.min_ns, l.max_ns), (sum.min(), sum.max()));
    }
    assert!(open > 0, "the open-loop cells were split and merged");
    // The exports of the merged run: an interval log HdrHistogram's reader takes, and
    // OpenMetrics text.
    let log = std::fs::read(out.join("latency.hlog")).unwrap();
    let intervals = hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&log)
        .filter(|e| matches!(e, Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(_))))
        .count();
    assert_eq!(intervals, merged.cells.iter().filter(|c| c.latency.is_some()).count());
    let metrics = std::fs::read_to_string(out.join("metrics.txt")).unwrap();
    assert!(metrics.ends_with("# EOF\n"));
    assert!(out.join("index.html").exists());
}

#[test]
fn merge_refuses_runs_that_do_not_belong_together() {
    let (a, b) = shards();
    let dir = tempdir("refused");
    let refused = |inputs: &[&Path], why: &str| {
        let done = merge(inputs, &dir.join("out"));
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(!done.status.success(), "merged, but {why}");
        assert!(stderr.contains(why), "expected {why:?}, got {stderr}");
    };
    refused(&[a], "missing");
    refused(&[a, a], "given twice");
    // A copy of shard 2 changed in one way each.
    let changed = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(b.join("results.json")).unwrap()).unwrap();
        edit(&mut v);
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
        path
    };
    let revision = changed("revision", &|v| v["environment"]["git_revision"] = "0000000".into());
    refused(&[a, &revision], "the revision differs");
    let seed = changed("seed", &|v| v["options"]["seed"] = 7.into());
    refused(&[a, &seed], "the fixture seed differs");
    let options = changed("options", &|v| v["options"]["duration_s"] = 9.0.into());
    refused(&[a, &options], "other options: duration_s");
    let start = changed("start", &|v| v["shards"][0]["start_unix_s"] = 1.0.into());
    refused(&[a, &start], "the shard count or start time differs");
    let unsharded = changed("unsharded", &|v| v["shards"] = Value::Array(vec![]));
    refused(&[a, &unsharded], "not one shard of a sharded run");
}
