//! `wirebench run` as a user runs it: the binary, its own server child, results on disk.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;
use common::{results_of, tempdir, wirebench};
use std::time::{Duration, Instant};

#[test]
fn smoke_run_writes_results_for_every_protocol_and_operation() {
    let out = tempdir("smoke");
    let status = wirebench()
        .args(["run", "--profile", "smoke", "--no-pin", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let r = results_of(&out);
    assert_eq!(r["status"], "complete");
    assert_eq!(r["version"], wirebench_results::RESULTS_VERSION);
    // Every equivalence verdict agrees or says why the variant does not apply; the server
    // counted the store calls of every agreeing check.
    let mut calls = std::collections::BTreeMap::new();
    for e in r["equivalence"].as_array().unwrap() {
        assert_ne!(e["verdict"], "fails", "{e}");
        if e["verdict"] == "agrees" {
            calls.insert(
                (e["protocol"].as_str().unwrap(), e["operation"].as_str().unwrap()),
                e["store_calls"].as_u64().unwrap(),
            );
        }
    }
    // N+1 made visible: users-orders of N = 10 users is 11 store calls one user at a time,
    // 2 when batched (the users, then all their orders).
    for (protocol, want) in
        [("rest", 11), ("rest-include", 2), ("graphql-no-dataloader", 11), ("graphql", 2), ("grpc", 2)]
    {
        assert_eq!(calls[&(protocol, "users-orders")], want, "{protocol}");
    }
    let cells = r["cells"].as_array().unwrap();
    for protocol in r["protocols"].as_array().unwrap() {
        let name = protocol["name"].as_str().unwrap();
        let mine: Vec<_> = cells.iter().filter(|c| c["protocol"] == name).collect();
        assert!(!mine.is_empty(), "{name} has no cells");
        for c in mine {
            let what = format!("{name} {}", c["operation"]);
            assert!(c["ops"].as_u64().unwrap() > 0, "{what}");
            assert!(c["bytes"]["sent_per_op"]["total_bytes"].as_f64().unwrap() > 0.0, "{what}");
            assert!(c["bytes"]["received_per_op"]["total_bytes"].as_f64().unwrap() > 0.0, "{what}");
            assert!(c["round_trips_per_op"].as_f64().unwrap() >= 1.0, "{what}");
            // Every byte attributed: the layers add up to the total, nothing pending.
            for dir in ["sent_per_op", "received_per_op"] {
                let l = &c["bytes"][dir];
                let sum: f64 = ["framing_bytes", "envelope_bytes", "data_bytes"]
                    .iter()
                    .map(|k| l[k].as_f64().unwrap())
                    .sum();
                assert!((sum - l["total_bytes"].as_f64().unwrap()).abs() < 1e-6, "{what} {dir}: {l}");
                assert_eq!(l["pending_bytes"].as_f64(), Some(0.0), "{what} {dir}");
                assert!(l["framing_by_kind"].get("unparsed").is_none(), "{what} {dir}: {l}");
            }
            assert!(c["bytes"]["received_per_op"]["data_bytes"].as_f64().unwrap() > 0.0, "{what}");
            assert!(c["latency"]["p50_ns"].as_u64().unwrap() > 0, "{what}");
            assert_eq!(c["errors"].as_object().unwrap().len(), 0, "{what}: {}", c["error_samples"]);
            // Writes were checked and read back from the server's store; reads were sampled.
            let checks = &c["checks"];
            assert_eq!(checks["mismatches"], 0, "{what}: {checks}");
            if c["protocol"] != "floor-echo" {
                let (key, why) = if c["operation"] == "create-order" || c["operation"] == "import-orders" {
                    ("writes_read_back", "every created record")
                } else {
                    ("reads_compared", "the first read")
                };
                assert!(checks[key].as_u64().unwrap() > 0, "{what}: {why} is checked: {checks}");
            }
            // Every successful call's decoding was timed, apart from its latency.
            assert_eq!(c["client_decode"]["count"], c["ops"], "{what}");
            // Both processes' CPU clocks were read over the cell's window.
            for side in ["server_cpu_us_per_op", "client_cpu_us_per_op"] {
                assert!(c["resources"][side].as_f64().unwrap() > 0.0, "{what} {side}: {}", c["flags"]);
            }
            assert_decode_within_cpu(c, &what);
        }
    }
    let ops: std::collections::BTreeSet<_> = cells.iter().map(|c| c["operation"].as_str().unwrap()).collect();
    assert_eq!(ops.len(), wirebench_engine::catalog::Operation::ALL.len(), "{ops:?}");

    // A run compared with itself: every cell matched, nothing changed, a page written.
    let results = out.join("latest").join("results.json");
    let html = out.join("compare.html");
    let compare =
        wirebench().arg("compare").args([&results, &results]).arg("--html").arg(&html).output().unwrap();
    assert!(compare.status.success(), "{}", String::from_utf8_lossy(&compare.stderr));
    let table = String::from_utf8(compare.stdout).unwrap();
    assert!(!table.contains("better") && !table.contains("worse") && !table.contains("only in"), "{table}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("What changed") && page.contains(r#"class="same""#));

    // Three repeats of every cell (the run's, spread by ±1 %), then the same doctored with a
    // 20 % regression: compare --fail-on-regression fails on it, naming cells, and passes the
    // repeats compared with themselves.
    let mut a: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    // Every call slower by `f`: the latency histogram's values, the recorded time, throughput.
    let scale = |c: &mut serde_json::Value, f: f64| {
        c["throughput_ops_s"] = (c["throughput_ops_s"].as_f64().unwrap() / f).into();
        c["elapsed_s"] = (c["elapsed_s"].as_f64().unwrap() * f).into();
        if c["latency"].is_object() {
            let l: wirebench_results::Latency = serde_json::from_value(c["latency"].clone()).unwrap();
            let h = l.histogram().unwrap();
            let mut scaled = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
            for v in h.iter_recorded() {
                let at = (v.value_iterated_to() as f64 * f).round() as u64;
                scaled.record_n(at, v.count_at_value()).unwrap();
            }
            c["latency"] = serde_json::to_value(wirebench_results::Latency::of(&scaled).unwrap()).unwrap();
        }
    };
    let runs: Vec<serde_json::Value> = a["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            [1.0, 1.01, 0.99].into_iter().enumerate().map(move |(i, f)| {
                let mut c = c.clone();
                c["repeat"] = i.into();
                scale(&mut c, f);
                c
            })
        })
        .collect();
    a["cells"] = runs.into();
    let mut b = a.clone();
    for c in b["cells"].as_array_mut().unwrap() {
        scale(c, 1.2);
    }
    let (path_a, path_b) = (out.join("a.json"), out.join("b.json"));
    std::fs::write(&path_a, a.to_string()).unwrap();
    std::fs::write(&path_b, b.to_string()).unwrap();
    let gate = |x: &std::path::Path, y: &std::path::Path| {
        wirebench()
            .arg("compare")
            .args([x, y])
            .args(["--fail-on-regression", "5%", "--html"])
            .arg(out.join("gate.html"))
            .output()
            .unwrap()
    };
    let regressed = gate(&path_a, &path_b);
    let why = String::from_utf8_lossy(&regressed.stderr);
    assert!(!regressed.status.success(), "a 20 % regression must fail the gate");
    // Every cell 20 % slower is a regression of the whole run, not noise beyond its move.
    assert!(why.contains("significant regression") && why.contains("the whole run"), "{why}");
    assert!(why.contains("p50 µs +20."), "{why}");
    let table = String::from_utf8_lossy(&regressed.stdout);
    assert!(table.contains("worse") && table.contains("95 % interval"), "{table}");
    let same = gate(&path_a, &path_a);
    assert!(same.status.success(), "{}", String::from_utf8_lossy(&same.stderr));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_server_killed_mid_run_leaves_finished_results_and_a_clear_exit() {
    let out = tempdir("killed");
    let mut run = wirebench()
        .args([
            "run",
            "--profile",
            "smoke",
            "--no-pin",
            "--protocols",
            "floor,rest",
            "--duration",
            "2",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The run announces its server child on stderr (the progress bar's stream).
    let stderr = BufReader::new(run.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        let mut rest = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            if !sent && let Some(pid) = line.split("server: pid ").nth(1).and_then(|s| s.split(',').next()) {
                let _ = tx.send(pid.trim().parse::<u32>().unwrap());
                sent = true;
            }
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    let pid = rx.recv_timeout(Duration::from_secs(60)).expect("the run names its server");
    // Past the gate and the warm-up pass, inside the first 2-second cell or a later one.
    std::thread::sleep(Duration::from_millis(4000));
    assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());

    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the run hangs after its server died");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "a run whose server died is not a success");
    let r = results_of(&out);
    assert_eq!(r["status"], "aborted");
    assert!(r["message"].as_str().unwrap().contains("server exited"), "{}", r["message"]);
    let errors: u64 = r["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["errors"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()))
        .sum();
    assert!(errors > 0, "the cell running when the server died counts its errors");
    std::fs::remove_dir_all(&out).unwrap();
}

/// The run's dimensions beside the usual cells, end to end: TLS (full handshakes warm and
/// cold, resumed), streams on one HTTP/2 connection, and a size sweep, each in results.json
/// with what it measured, and each a section of the report.
#[test]
fn tls_streams_and_sizes_are_cells_of_a_run_and_sections_of_its_report() {
    let out = tempdir("dimensions");
    let status = wirebench()
        .args(["run", "--profile", "smoke", "--no-pin", "--protocols", "rest-h2,ws"])
        .args(["--operations", "get-user,list-orders", "--concurrency", "2", "--no-open-loop"])
        .args(["--tls", "tls,tls-resumed", "--streams", "4", "--sizes", "1,10", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let r = results_of(&out);
    let cells = r["cells"].as_array().unwrap();
    let find = |protocol: &str, op: &str, pick: &dyn Fn(&serde_json::Value) -> bool| {
        let c = cells.iter().find(|c| c["protocol"] == protocol && c["operation"] == op && pick(c));
        c.unwrap_or_else(|| panic!("no {protocol} {op} cell")).clone()
    };
    let mut handshakes = Vec::new();
    for protocol in ["rest-h2", "ws"] {
        let warm = find(protocol, "get-user", &|c| c["tls"] == "tls" && c["fresh_connections"] == false);
        assert!(warm["bytes"]["received_per_op"]["framing_by_kind"]["tls_records"].as_f64().unwrap() > 0.0);
        let cold = find(protocol, "get-user", &|c| c["tls"] == "tls" && c["fresh_connections"] == true);
        let resumed = find(protocol, "get-user", &|c| c["tls"] == "tls-resumed");
        let (b, rb) = (&cold["bytes"], &resumed["bytes"]);
        let full = b["setup_tls_received_per_connection"].as_f64().unwrap();
        handshakes.push(full);
        // TLS's round trip, and the WebSocket upgrade's after it.
        let want = if protocol == "ws" { 2.0 } else { 1.0 };
        assert_eq!(b["setup_round_trips_per_connection"].as_f64(), Some(want), "{protocol}");
        assert_eq!(b["connections_resumed"], 0, "{protocol}: full handshakes only");
        let (n, resumed_n) =
            (rb["connections"].as_u64().unwrap(), rb["connections_resumed"].as_u64().unwrap());
        // Each worker's first connection makes a full handshake (more when two race for one
        // cache entry): nearly all the others resume.
        assert!(n > 10 && resumed_n * 10 >= n * 9, "{protocol}: {resumed_n} of {n} resumed");
        assert!(rb["setup_tls_received_per_connection"].as_f64().unwrap() + 300.0 < full, "{protocol}");
    }
    // The handshake is the same but for the ALPN names ("h2", "http/1.1") and the signature's
    // length: session tickets are not part of it.
    assert!((handshakes[0] - handshakes[1]).abs() < 12.0, "{handshakes:?}");
    // One connection carrying the four calls in flight: HTTP/2 streams, WebSocket requests
    // by correlation id.
    for protocol in ["rest-h2", "ws"] {
        let streams = find(protocol, "get-user", &|c| c["streams"] == 4);
        assert_eq!(
            (streams["concurrency"].as_u64(), streams["bytes"]["connections"].as_u64()),
            (Some(1), Some(1)),
            "{protocol}"
        );
        // Four calls share the connection; each counts its own decoding, not its lanes'.
        assert_decode_within_cpu(&streams, protocol);
    }
    let data = |n: u64| {
        let c = find("rest-h2", "list-orders", &|c| c["sized"] == true && c["n"] == n);
        c["bytes"]["received_per_op"]["data_bytes"].as_f64().unwrap()
    };
    assert!(data(10) > 5.0 * data(1), "{} vs {}", data(10), data(1));
    let page = std::fs::read_to_string(out.join("latest").join("index.html")).unwrap();
    for section in ["id=\"tls\"", "id=\"streams\"", "id=\"sizes\""] {
        assert!(page.contains(section), "{section}");
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// A cell's median call decoded for no longer than the client's whole CPU time per call (the
/// results validation refuses a file where it did; see `Results::impossible`).
fn assert_decode_within_cpu(c: &serde_json::Value, what: &str) {
    let decode_us = c["client_decode"]["p50_ns"].as_f64().unwrap() / 1e3;
    let cpu_us = c["resources"]["client_cpu_us_per_op"].as_f64().unwrap();
    assert!(decode_us > 0.0 && decode_us <= cpu_us, "{what}: decode {decode_us} µs, client CPU {cpu_us} µs");
}
