//! The load engine's timing: against a server that stalls mid-run (wrk2's classic
//! demonstration) the open loop's corrected p99 rises far above its uncorrected p99 while the
//! closed loop hardly sees the stall (coordinated omission); with no stall a low-rate open
//! loop measures what the closed loop does (its sends leave on time); a call that times out
//! is in the histogram at its timeout, and sends that never left are counted.
//!
//! The tests take turns (one lock): they measure time, and must not share the machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wirebench::serve::{ServeArgs, start};
use wirebench_engine::catalog::{OpParams, Operation};
use wirebench_engine::clients::protocol;
use wirebench_engine::load::{CellSpec, Mode, run_cell};
use wirebench_wire::Dial;

mod common;

/// One timing test at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A TCP proxy that stops forwarding while `paused` is set.
async fn pausable_proxy(upstream: SocketAddr, paused: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(upstream).await.unwrap();
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, paused.clone()));
            tokio::spawn(pump(sr, cw, paused.clone()));
        }
    });
    addr
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while paused.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn spec(addr: SocketAddr, mode: Mode, concurrency: u32) -> CellSpec {
    CellSpec {
        protocol: protocol("floor").unwrap(),
        dial: Dial::to(addr),
        op: Operation::GetUser,
        params: OpParams::new(1, 1, vec![1]),
        concurrency,
        mode,
        warmup: Duration::from_millis(200),
        duration: Duration::from_millis(2500),
        max_ops: 1_000_000,
        min_ops: 0,
        overtime: Duration::ZERO,
        call_timeout: Duration::from_secs(5),
        threads: 1,
        cores: Vec::new(),
        fresh_connections: false,
        streams: 1,
        stop: Arc::new(AtomicBool::new(false)),
        on_recording: None,
        key_prefix: "load-test".into(),
    }
}

/// Runs a cell while the proxy stalls for 600 ms, starting 1 s into the recorded window.
async fn with_stall(spec: CellSpec, paused: Arc<AtomicBool>) -> wirebench_engine::load::CellStats {
    let stall = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        paused.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(600)).await;
        paused.store(false, Ordering::Relaxed);
    });
    let stats = tokio::task::spawn_blocking(move || run_cell(&spec)).await.unwrap();
    stall.await.unwrap();
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_corrects_for_a_stall_and_closed_loop_hides_it() {
    let _turn = TURN.lock().await;
    let args = ServeArgs::ephemeral("tiny", 1);
    let started = start(&args).await.unwrap();
    let floor = started.addr("floor").unwrap();
    let paused = Arc::new(AtomicBool::new(false));
    let proxy = pausable_proxy(floor, paused.clone()).await;

    let open = with_stall(spec(proxy, Mode::Open { rate: 400.0 }, 4), paused.clone()).await;
    let corrected = open.latency.value_at_quantile(0.99);
    let uncorrected = open.uncorrected.as_ref().unwrap().value_at_quantile(0.99);
    assert_eq!(open.error_count(), 0, "{:?}", open.error_samples);
    assert!(open.ops > 500, "ran {} ops", open.ops);
    // About a quarter of the intended sends fall inside the stall: corrected p99 is of the
    // order of the stall itself, uncorrected p99 only sees the few requests caught in flight.
    assert!(corrected > 300_000_000, "corrected p99 {corrected} ns");
    assert!(corrected > 10 * uncorrected, "corrected {corrected} vs uncorrected {uncorrected}");
    // The stall is queueing (sends waiting for their connection), not the generator's lag.
    let lag = open.send_lag.as_ref().expect("open loop records send lag");
    let wait = open.connection_wait.as_ref().expect("open loop records connection waits");
    assert_eq!((lag.len(), wait.len()), (open.ops, open.ops));
    assert!(wait.max() > 300_000_000, "the stall is in the connection wait: {} ns", wait.max());
    assert!(lag.value_at_quantile(0.5) < 1_000_000, "send lag p50 {} ns", lag.value_at_quantile(0.5));

    let closed = with_stall(spec(proxy, Mode::Closed, 1), paused.clone()).await;
    let closed_p99 = closed.latency.value_at_quantile(0.99);
    assert!(closed.send_lag.is_none() && closed.uncorrected.is_none());
    assert!(closed.ops > 500, "ran {} ops", closed.ops);
    assert!(closed.latency.max() > 300_000_000, "the stalled request itself is recorded");
    assert!(closed_p99 < 50_000_000, "closed-loop p99 {closed_p99} ns hides the stall");
    assert!(closed_p99 * 5 < corrected);
    started.stop().await.expect("the servers stop cleanly");
}

/// Server and client each on a core of their own when the machine has two, as a run has them.
#[test]
fn a_low_rate_open_loop_measures_what_the_closed_loop_does() {
    let _turn = TURN.blocking_lock();
    let _awake = common::keep_cpus_awake();
    let two = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let server = common::ServeChild::start("tiny", if two { &[0] } else { &[] });
    let run = |mode, duration| {
        let mut spec = spec(server.addrs["floor"], mode, 1);
        (spec.duration, spec.cores) = (duration, if two { vec![1] } else { Vec::new() });
        run_cell(&spec)
    };
    let closed = run(Mode::Closed, Duration::from_millis(1500));
    let open = run(Mode::Open { rate: 200.0 }, Duration::from_millis(2500));
    assert_eq!((closed.error_count(), open.error_count(), open.missed), (0, 0, 0));
    assert!(open.ops >= 490, "{} sends at 200/s for 2.5 s", open.ops);
    let (c, o) = (closed.latency.value_at_quantile(0.5), open.latency.value_at_quantile(0.5));
    let lag = open.send_lag.as_ref().unwrap().value_at_quantile(0.5);
    eprintln!("open-loop p50 {o} ns, closed-loop p50 {c} ns, send lag p50 {lag} ns");
    // Sends on time: the open loop's median (from the intended send) is the protocol's, not
    // a timer's. What remains is an idle server's colder caches.
    assert!(
        o.abs_diff(c) < 100_000,
        "open-loop p50 {o} ns vs closed-loop p50 {c} ns (send lag p50 {lag} ns)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_in_the_histogram_and_unsent_requests_are_missed() {
    let _turn = TURN.lock().await;
    let args = ServeArgs::ephemeral("tiny", 1);
    let started = start(&args).await.unwrap();
    let paused = Arc::new(AtomicBool::new(true));
    let proxy = pausable_proxy(started.addr("floor").unwrap(), paused.clone()).await;
    let timeout = Duration::from_millis(300);
    let mut spec = spec(proxy, Mode::Open { rate: 100.0 }, 1);
    (spec.warmup, spec.duration, spec.call_timeout) = (Duration::ZERO, Duration::from_millis(1000), timeout);
    let stats = tokio::task::spawn_blocking(move || run_cell(&spec)).await.unwrap();
    let timeouts = stats.errors.get("timeout").copied().unwrap_or(0);
    // Every call timed out, and every one is in the histogram at its timeout (or later:
    // corrected latency counts from the intended send).
    assert!(timeouts >= 2, "{:?}", stats.errors);
    assert_eq!((stats.ops, stats.latency.len()), (0, timeouts));
    assert!(stats.latency.min() >= timeout.as_nanos() as u64 * 999 / 1000, "{}", stats.latency.min());
    let uncorrected = stats.uncorrected.as_ref().unwrap();
    assert!(uncorrected.max() < (timeout.as_nanos() as u64) * 11 / 10, "{}", uncorrected.max());
    // About 100 sends were due in the second; the few that left timed out, the rest never left.
    assert!(stats.missed + timeouts >= 95 && stats.missed > 80, "missed {} of 100", stats.missed);
    paused.store(false, Ordering::Relaxed);
    started.stop().await.expect("the servers stop cleanly");
}

/// `--streams M` puts M calls in flight on one connection, seen from behind the server: with
/// 20 ms per store call, the most store calls waiting at once is M for the variants that
/// multiplex, over one connection; one stream gives one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m_streams_are_m_calls_in_flight_at_the_server_over_one_connection() {
    let _turn = TURN.lock().await;
    for (name, streams) in [("rest-h2", 8), ("graphql-h2", 8), ("grpc", 8), ("ws", 8), ("grpc", 1)] {
        let args = ServeArgs { store_latency_us: 20_000, ..ServeArgs::ephemeral("tiny", 42) };
        let started = start(&args).await.unwrap();
        let p = protocol(name).unwrap();
        let mut spec = spec(started.addr(p.server()).unwrap(), Mode::Closed, 1);
        spec.protocol = p;
        spec.streams = streams;
        (spec.warmup, spec.duration) = (Duration::from_millis(50), Duration::from_millis(400));
        let stats = tokio::task::spawn_blocking(move || run_cell(&spec)).await.unwrap();
        let what = format!("{name} ×{streams}");
        assert_eq!(stats.error_count(), 0, "{what}: {:?}", stats.errors);
        assert_eq!(stats.connections, 1, "{what}: one connection");
        assert_eq!(started.store.most_in_flight(), u64::from(streams), "{what}");
        // About 400 ms / 20 ms calls per stream were recorded, and their bytes counted once.
        let per_stream = stats.ops / u64::from(streams);
        assert!((12..=21).contains(&per_stream), "{what}: {} ops", stats.ops);
        let per_op = stats.wire.bytes[1] / stats.ops.max(1);
        assert!((100..2000).contains(&per_op), "{what}: {per_op} bytes received per op");
        started.stop().await.expect("the servers stop cleanly");
    }
}

/// In open loop, `--streams M` sends each lane's calls on schedule without waiting for the
/// other lanes' answers: at 200/s with 20 ms calls, four calls are in flight at once on the
/// one connection, and none is sent late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_streams_send_on_schedule_over_one_connection() {
    let _turn = TURN.lock().await;
    for name in ["rest-h2", "grpc", "graphql-h2", "ws"] {
        let args = ServeArgs { store_latency_us: 20_000, ..ServeArgs::ephemeral("tiny", 42) };
        let started = start(&args).await.unwrap();
        let p = protocol(name).unwrap();
        let mut spec = spec(started.addr(p.server()).unwrap(), Mode::Open { rate: 200.0 }, 1);
        spec.protocol = p;
        spec.streams = 8;
        (spec.warmup, spec.duration) = (Duration::from_millis(50), Duration::from_millis(500));
        let stats = tokio::task::spawn_blocking(move || run_cell(&spec)).await.unwrap();
        assert_eq!(stats.error_count(), 0, "{name}: {:?}", stats.errors);
        assert_eq!((stats.connections, stats.missed), (1, 0), "{name}: one connection, nothing missed");
        let in_flight = started.store.most_in_flight();
        assert!((3..=6).contains(&in_flight), "{name}: {in_flight} calls in flight at most");
        assert!((80..=125).contains(&stats.ops), "{name}: {} ops in 550 ms at 200/s", stats.ops);
        started.stop().await.expect("the servers stop cleanly");
    }
}
