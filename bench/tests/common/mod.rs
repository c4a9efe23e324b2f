//! What the harness's integration tests share: the binary, scratch folders, results files.
#![allow(dead_code, reason = "each test file uses its own subset of these helpers")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `wirebench` binary this test run built.
pub fn wirebench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wirebench"))
}

/// A fresh, empty scratch folder named after the test and this process.
pub fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirebench-test-{tag}-{}", std::process::id()));
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{}: {e}", dir.display()),
        _ => {}
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// As a run does (when permitted: root, through `/dev/cpu_dma_latency`), keeps idle CPUs
/// awake while the hold lives, so that waking a halted vCPU (up to a millisecond here) is not
/// measured; says in one line when it cannot.
pub fn keep_cpus_awake() -> Option<wirebench_wire::kernel::WakeupLatencyHold> {
    wirebench_wire::kernel::WakeupLatencyHold::acquire()
        .inspect_err(|e| eprintln!("idle CPUs may sleep ({e}): timings may include waking one"))
        .ok()
}

/// The newest run's `results.json` under a reports folder, as JSON.
pub fn results_of(dir: &Path) -> serde_json::Value {
    let latest = dir.join("latest").join("results.json");
    let text = std::fs::read_to_string(&latest).unwrap_or_else(|e| panic!("{}: {e}", latest.display()));
    serde_json::from_str(&text).unwrap()
}

/// A `wirebench serve` child process (pinned to `cpus` when given), stopped on drop: the
/// server as a real run has it, in a process of its own.
pub struct ServeChild {
    child: std::process::Child,
    pub addrs: std::collections::BTreeMap<String, std::net::SocketAddr>,
}

impl ServeChild {
    /// A child answering on its control channel (stdin and stdout), and that channel.
    pub fn with_control(payload: &str) -> (ServeChild, wirebench_engine::control::Control) {
        let mut server = ServeChild::spawn(payload, &[], true);
        let (Some(stdin), Some(stdout)) = (server.child.stdin.take(), server.child.stdout.take()) else {
            unreachable!("both are piped")
        };
        (server, wirebench_engine::control::Control::new(stdin, stdout))
    }

    pub fn start(payload: &str, cpus: &[usize]) -> ServeChild {
        ServeChild::spawn(payload, cpus, false)
    }

    fn spawn(payload: &str, cpus: &[usize], control: bool) -> ServeChild {
        let dir = tempdir(&format!("serve-{payload}"));
        let addr_file = dir.join("servers.json");
        let mut cmd = wirebench();
        cmd.args(["serve", "--port-base", "0", "--payload", payload, "--addr-file"]).arg(&addr_file);
        if !cpus.is_empty() {
            let list: Vec<String> = cpus.iter().map(ToString::to_string).collect();
            cmd.args(["--cpus", &list.join(",")]);
        }
        if control {
            cmd.arg("--control").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        } else {
            cmd.stdout(std::process::Stdio::null());
        }
        let child = cmd.spawn().unwrap();
        // Stopped on drop from here on, whatever happens.
        let mut server = ServeChild { child, addrs: Default::default() };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                std::fs::remove_dir_all(&dir).unwrap();
                server.addrs = serde_json::from_str(&text).unwrap();
                return server;
            }
            assert!(std::time::Instant::now() < deadline, "wirebench serve was not ready in 60 s");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl ServeChild {
    /// How the child exited, if it does within `timeout`.
    pub fn exits_within(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        exits_within(&mut self.child, timeout)
    }
}

/// How `child` exited, if it does within `timeout` (it is left running otherwise).
pub fn exits_within(
    child: &mut std::process::Child,
    timeout: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        // The test is over either way; a child that already exited is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most about two seconds) until the kernel has seen every byte `counters` counted on
/// the connection's socket (acknowledgements and trailing frames may still be in flight, or in
/// an emulated link); `Err` with both counts when it never does.
pub async fn kernel_agrees(counters: &wirebench_wire::WireCounters) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..200 {
        let ours = counters.snapshot();
        let kernel = counters.kernel().expect("TCP_INFO readable");
        if kernel.bytes_acked == ours.bytes[0] && kernel.bytes_received == ours.bytes[1] {
            return Ok(());
        }
        last = format!("ours {:?} vs the kernel's {kernel:?}", ours.bytes);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(last)
}
