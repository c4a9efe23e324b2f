//! The load engine against a server that stalls mid-run (wrk2's classic demonstration):
//! the open loop's corrected p99 rises far above its uncorrected p99, while the closed loop
//! hardly sees the stall at all (coordinated omission).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wirebench::catalog::{OpParams, Operation};
use wirebench::clients::protocol;
use wirebench::load::{CellSpec, Mode, run_cell};
use wirebench::serve::{ServeArgs, start};

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
        addr,
        op: Operation::GetUser,
        params: OpParams::new(1, 1, vec![1]),
        concurrency,
        mode,
        warmup: Duration::from_millis(200),
        duration: Duration::from_millis(2500),
        max_ops: 1_000_000,
        call_timeout: Duration::from_secs(5),
        threads: 1,
        cores: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
        key_prefix: "load-test".into(),
    }
}

/// Runs a cell while the proxy stalls for 600 ms, starting 1 s into the recorded window.
async fn with_stall(spec: CellSpec, paused: Arc<AtomicBool>) -> wirebench::load::CellStats {
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
    // The generator's own lateness is measured apart: small next to the stall it reveals.
    let lag = open.send_lag.as_ref().expect("open loop records send lag");
    assert_eq!(lag.len(), open.ops);
    assert!(lag.value_at_quantile(0.5) < 20_000_000, "send lag p50 {} ns", lag.value_at_quantile(0.5));

    let closed = with_stall(spec(proxy, Mode::Closed, 1), paused.clone()).await;
    let closed_p99 = closed.latency.value_at_quantile(0.99);
    assert!(closed.send_lag.is_none() && closed.uncorrected.is_none());
    assert!(closed.ops > 500, "ran {} ops", closed.ops);
    assert!(closed.latency.max() > 300_000_000, "the stalled request itself is recorded");
    assert!(closed_p99 < 50_000_000, "closed-loop p99 {closed_p99} ns hides the stall");
    assert!(closed_p99 * 5 < corrected);
    started.stop().await;
}
