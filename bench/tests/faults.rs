//! Faults and retries against real servers: a lost answer retried with an idempotency key
//! leaves one order per logical write on every protocol, and without a key each retried lost
//! answer is one more order; a retry budget caps the attempts; a breaker opens and half-opens
//! on its schedule; a refusal comes back in each protocol's own terms, with its hint. Each
//! test prints its seed.

use std::time::Duration;

use wirebench::serve::{ServeArgs, Started, start};
use wirebench_domain::faults::{FaultPlan, Outage};
use wirebench_engine::catalog::{OpParams, Operation};
use wirebench_engine::clients::{ClientError, Protocol, protocol};
use wirebench_engine::faults::guards::State;
use wirebench_engine::faults::{LinkFaults, Setting, closed, policy, timed};
use wirebench_wire::Dial;

mod common;

/// The families' main variants, the floor and JSON-RPC.
const PROTOCOLS: [&str; 6] = ["rest", "grpc", "graphql", "ws", "floor", "jsonrpc"];

fn seed() -> u64 {
    let seed = std::env::var("WIREBENCH_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_207);
    println!("seed {seed} (WIREBENCH_FAULT_SEED to change it)");
    seed
}

fn setting(
    started: &Started,
    name: &str,
    op: Operation,
    policy: &str,
    link: LinkFaults,
    seed: u64,
) -> Setting {
    let p: &'static dyn Protocol = protocol(name).unwrap();
    let mut policy = policy::load(None).unwrap()[policy].clone();
    policy.backoff_ms = policy.backoff_ms.min(2);
    Setting {
        protocol: p,
        dial: Dial::to(started.addr(p.server()).unwrap()),
        op,
        params: OpParams::new(2, 5, vec![3, 5]),
        policy,
        link,
        stamp: format!("{name}-{seed}"),
        seed,
        trace: false,
    }
}

#[tokio::test]
async fn a_lost_answer_retried_with_a_key_leaves_one_order_and_without_one_a_duplicate() {
    let seed = seed();
    let started = start(&ServeArgs::ephemeral("small", 42)).await.unwrap();
    let link = LinkFaults { lose: 0.2, reset: 0.0 };
    for name in PROTOCOLS {
        for (policy, keyed) in [("backoff", true), ("backoff-nokeys", false)] {
            let s = setting(&started, name, Operation::CreateOrder, policy, link, seed);
            let before = started.store.next_order_id();
            let (tally, _) = closed(&s, 150, 2).await;
            let effects = started.store.next_order_id() - before;
            let what = format!("{name} {policy}: {tally:?}, {effects} orders");
            assert_eq!(tally.counts.succeeded, 150, "{what}");
            assert!(tally.counts.lost_injected >= 10, "{what}");
            if keyed {
                assert_eq!(effects, 150, "one order per logical write: {what}");
            } else {
                assert_eq!(
                    effects,
                    150 + tally.counts.lost_retried,
                    "a duplicate per retried lost answer: {what}"
                );
                assert!(tally.counts.lost_retried >= 10, "{what}");
            }
        }
    }
    started.stop().await.unwrap();
}

#[tokio::test]
async fn a_refusal_comes_back_in_each_protocols_terms_with_its_hint_and_is_retried() {
    let seed = seed();
    let started = start(&ServeArgs::ephemeral("small", 42)).await.unwrap();
    let plan = FaultPlan { seed, unavailable: 1.0, retry_after_ms: 1500, ..FaultPlan::default() };
    for name in PROTOCOLS {
        started.store.set_faults(Some(plan.clone()));
        let p = protocol(name).unwrap();
        let mut conn =
            p.connect(Dial::to(started.addr(p.server()).unwrap()), Operation::GetUser).await.unwrap();
        let err = conn.call(Operation::GetUser, &OpParams::new(2, 5, vec![3])).await.err();
        let Some(ClientError::Refused { code, overload: false, retry_after, .. }) = err else {
            panic!("{name}: {err:?}")
        };
        // HTTP's Retry-After counts whole seconds; gRPC's pushback and GraphQL's extension
        // milliseconds; the WebSocket, floor and JSON-RPC errors carry the code alone.
        let expected = match name {
            "rest" => Some(Duration::from_secs(2)),
            "grpc" | "graphql" => Some(Duration::from_millis(1500)),
            _ => None,
        };
        assert_eq!(retry_after, expected, "{name} {code}");
        // A fifth of the calls refused: five attempts get every read through (all five are
        // refused one time in 3,125).
        started.store.set_faults(Some(FaultPlan { unavailable: 0.2, retry_after_ms: 0, ..plan.clone() }));
        let s = setting(&started, name, Operation::GetUser, "naive", LinkFaults::default(), seed);
        let (tally, _) = closed(&s, 100, 1).await;
        let injected = started.store.set_faults(None);
        assert_eq!(tally.counts.succeeded, 100, "{name}: {tally:?}");
        assert_eq!(tally.counts.refusals, injected.unavailable, "{name}: every refusal seen is one injected");
        assert_eq!(tally.counts.attempts, 100 + tally.counts.refusals, "{name}: {tally:?}");
    }
    started.stop().await.unwrap();
}

#[tokio::test]
async fn a_budget_caps_attempts_and_a_breaker_opens_and_half_opens_on_schedule() {
    let seed = seed();
    let started = start(&ServeArgs::ephemeral("small", 42)).await.unwrap();
    // Every call refused: naive retries make 5 attempts each, a 20 % budget about 1.2.
    started.store.set_faults(Some(FaultPlan { seed, unavailable: 1.0, ..FaultPlan::default() }));
    let mut s = setting(&started, "grpc", Operation::GetUser, "naive", LinkFaults::default(), seed);
    let (naive, _) = closed(&s, 200, 1).await;
    assert_eq!(naive.counts.attempts, 1000, "{naive:?}");
    s.policy = policy::load(None).unwrap()["budget"].clone();
    s.policy.budget.as_mut().unwrap().min_per_s = 0.0;
    let (budget, _) = closed(&s, 200, 1).await;
    assert_eq!(budget.counts.succeeded, 0);
    assert!(budget.counts.attempts <= 240 && budget.counts.attempts >= 230, "{budget:?}");
    // An outage of 300 ms from the start: the breaker (20 calls, half failing, open 500 ms)
    // opens within it, half-opens 500 ms later, and closes on three good probes.
    let plan =
        FaultPlan { seed, outage: Some(Outage { start_ms: 0, length_ms: 300 }), ..FaultPlan::default() };
    started.store.set_faults(Some(plan));
    s.policy = policy::load(None).unwrap()["breaker"].clone();
    s.policy.attempts = 1;
    let (tally, changes) = timed(&s, Duration::from_millis(1200), 1).await;
    started.store.set_faults(None);
    let states: Vec<State> = changes.iter().map(|c| c.1).collect();
    assert_eq!(states, [State::Open, State::HalfOpen, State::Closed], "{changes:?}");
    let (opened, half) = (changes[0].0, changes[1].0);
    assert!(opened < Duration::from_millis(300), "{changes:?}");
    let open_for = half - opened;
    assert!(open_for >= Duration::from_millis(500) && open_for < Duration::from_millis(600), "{changes:?}");
    assert!(tally.counts.failed_fast > 0, "{tally:?}");
    started.stop().await.unwrap();
}

/// `wirebench faults` end to end: a server child, a lost answer on create-order with and
/// without keys, a short recovery, faults.json and faults.html written, the claims printed.
#[test]
fn the_faults_command_writes_its_results_and_judges_the_duplicates_claim() {
    let out = common::tempdir("faults");
    let run = common::wirebench()
        .args(["faults", "--protocols", "rest", "--operations", "create-order", "--faults", "lost=10%"])
        .args(["--policies", "backoff,backoff-nokeys", "--ops", "80", "--outage", "0.3"])
        .args(["--recovery-policies", "naive", "--load", "0.3", "--seed", "7", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("seed 7"), "{stdout}");
    assert!(stdout.contains("create duplicate orders; with keys they do not: HOLDS"), "{stdout}");
    let dir = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("faults.json")).unwrap()).unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for c in cells {
        let (effects, ok, retried) = (
            c["effects"].as_u64().unwrap(),
            c["succeeded"].as_u64().unwrap(),
            c["lost_retried"].as_u64().unwrap(),
        );
        assert_eq!(ok, 80, "{c}");
        let expected = if c["keys"].as_bool().unwrap() { 80 } else { 80 + retried };
        assert_eq!(effects, expected, "{c}");
    }
    assert_eq!(json["recovery"].as_array().unwrap().len(), 1);
    assert!(std::fs::read_to_string(dir.join("faults.html")).unwrap().contains("When calls fail"));
    std::fs::remove_dir_all(&out).unwrap();
}
