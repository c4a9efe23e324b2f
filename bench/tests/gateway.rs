//! Through a real gateway (nginx and HAProxy from Debian, started with the config rendered
//! from `gateway/`), every protocol the gateway routes answers get-user and list-orders
//! exactly as it does directly. Where a gateway is not installed the test says so in one
//! line and skips it (`make test` installs both when it runs as root).

use std::collections::BTreeMap;

use wirebench::gateway::{Gateway, Kind, Via};
use wirebench::serve::{ServeArgs, start};
use wirebench_engine::catalog::{OpParams, Operation};
use wirebench_engine::clients::{PROTOCOLS, Protocol, protocol};
use wirebench_wire::Dial;

mod common;

/// The gateway issue's protocols.
const THROUGH: [&str; 7] = ["rest", "rest-h2", "grpc", "graphql", "ws", "floor", "jsonrpc"];

async fn answer(p: &'static dyn Protocol, dial: Dial, op: Operation) -> Result<String, String> {
    let mut conn = p.connect(dial, op).await.map_err(|e| format!("connect: {e}"))?;
    let params = OpParams::new(2, 5, vec![3, 5]);
    let call = conn.call(op, &params).await.map_err(|e| format!("{op}: {e}"))?;
    Ok(format!("{:?}", call.outcome))
}

#[tokio::test]
async fn every_routed_protocol_answers_through_each_gateway_as_it_does_directly() {
    let started = start(&ServeArgs::ephemeral("small", 42)).await.unwrap();
    let upstreams: BTreeMap<String, std::net::SocketAddr> =
        started.servers.iter().map(|s| (s.name.to_owned(), s.addr)).collect();
    let dir = common::tempdir("gateway");
    let mut ran = 0;
    for kind in Kind::ALL {
        if let Some(why) = kind.missing() {
            eprintln!("skipped {}: {why}", kind.name());
            continue;
        }
        let gateway = Gateway::start(Via { kind, limit: None }, &upstreams, &dir).unwrap();
        for name in THROUGH {
            let p = protocol(name).unwrap();
            let via = gateway.dial_for(p).unwrap_or_else(|e| panic!("{e}"));
            for op in [Operation::GetUser, Operation::ListOrders] {
                let direct = answer(p, Dial::to(started.addr(p.server()).unwrap()), op).await.unwrap();
                let through = answer(p, Dial::to(via), op).await;
                assert_eq!(through.as_deref(), Ok(direct.as_str()), "{name} {op} through {}", kind.name());
            }
        }
        // A variant the gateway has no route for is said, not sent somewhere wrong.
        let web = PROTOCOLS.iter().find(|p| p.name() == "grpc-web").unwrap();
        assert!(gateway.dial_for(*web).is_err());
        assert!(!gateway.pids().is_empty());
        ran += 1;
    }
    eprintln!("{ran} gateway(s) checked");
    started.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A smoke run through each installed gateway: its cells are timed beside the direct ones,
/// with the gateway's CPU, and the report has its section.
#[test]
fn a_run_times_cells_through_each_gateway_and_reports_the_hop() {
    let installed: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.missing().is_none()).collect();
    if installed.is_empty() {
        eprintln!(
            "skipped: no gateway installed (sudo apt-get install -y nginx libnginx-mod-stream haproxy)"
        );
        return;
    }
    let out = common::tempdir("gateway-run");
    let mut via: Vec<&str> = std::iter::once("direct").chain(installed.iter().map(|k| k.name())).collect();
    // A rate limit far below what the cells offer: REST answers 429, a refusal as HTTP has it,
    // gRPC too (UNAVAILABLE
    // by gRPC's mapping of HTTP statuses).
    let limited = format!("{}@50/s", installed[0].name());
    via.push(&limited);
    let run = common::wirebench()
        .args([
            "run",
            "--profile",
            "smoke",
            "--no-pin",
            "--protocols",
            "rest,grpc",
            "--operations",
            "get-user",
        ])
        .args(["--via", &via.join(","), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let results = common::results_of(&out);
    for kind in &installed {
        let cells: Vec<&serde_json::Value> =
            results["cells"].as_array().unwrap().iter().filter(|c| c["via"] == kind.name()).collect();
        assert!(!cells.is_empty(), "no cell via {}", kind.name());
        for c in cells {
            assert!(c["ops"].as_u64().unwrap() > 0, "{c}");
            assert!(c["resources"]["gateway_cpu_us_per_op"].as_f64().is_some(), "{c}");
            // The gateway's upstream connections are kept alive: far fewer than one per call
            // (0 when it reuses one opened before the cell, as HAProxy's `http-reuse` does).
            let upstream = c["resources"]["server_connections"].as_u64().unwrap();
            assert!(upstream * 10 < c["ops"].as_u64().unwrap(), "{c}");
        }
        let checked = results["equivalence"].as_array().unwrap().iter().filter(|e| e["via"] == kind.name());
        assert!(checked.clone().count() >= 2 && checked.into_iter().all(|e| e["verdict"] == "agrees"));
    }
    let refused = |protocol: &str| -> Vec<String> {
        let cells = results["cells"].as_array().unwrap().iter();
        let mine = cells.filter(|c| c["via"] == limited.as_str() && c["protocol"] == protocol);
        mine.flat_map(|c| c["errors"].as_object().unwrap().keys().cloned().collect::<Vec<_>>()).collect()
    };
    assert!(refused("rest").iter().any(|k| k == "refused:429"), "{:?}", refused("rest"));
    assert!(refused("grpc").iter().any(|k| k == "refused:HTTP 429"), "{:?}", refused("grpc"));
    let page = std::fs::read_to_string(out.join("latest").join("index.html")).unwrap();
    assert!(page.contains("id=\"gateway\""));
    std::fs::remove_dir_all(&out).unwrap();
}

/// A rate-limited gateway meets the retry policies: without retries most reads are refused;
/// with backoff, every one gets through in more attempts.
#[test]
fn clients_that_back_off_get_through_a_rate_limited_gateway() {
    if let Some(why) = Kind::Nginx.missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let out = common::tempdir("gateway-faults");
    let run = common::wirebench()
        .args(["faults", "--via", "nginx@100/s", "--protocols", "rest", "--operations", "get-user"])
        .args(["--faults", "none", "--policies", "none,backoff", "--ops", "150", "--outage", "0"])
        .args(["--jitter-policy", "", "--seed", "3", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let dir = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("faults.json")).unwrap()).unwrap();
    assert_eq!(json["via"], "nginx@100/s");
    let cell = |policy: &str| {
        json["cells"].as_array().unwrap().iter().find(|c| c["policy"] == policy).unwrap().clone()
    };
    let (none, backoff) = (cell("none"), cell("backoff"));
    assert!(none["refusals"].as_u64().unwrap() > 0, "{none}");
    assert!(none["succeeded"].as_u64() < backoff["succeeded"].as_u64(), "{none} {backoff}");
    assert!(backoff["attempts"].as_u64().unwrap() > 150, "{backoff}");
    std::fs::remove_dir_all(&out).unwrap();
}
