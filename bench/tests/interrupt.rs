//! Stopping a run: Ctrl-C (or SIGTERM, as a service manager or `kill` stops it) ends it with
//! one line and what was measured written, even with `RUST_BACKTRACE` set, and its server child
//! never outlives it.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::{ServeChild, tempdir, wirebench};

/// A terminal's Ctrl-C (SIGINT to the whole foreground process group) as the equivalence gate
/// runs (at once) and as cells run (4 s in).
#[test]
fn ctrl_c_writes_partial_results_and_says_so_in_one_line() {
    for after in [Duration::ZERO, Duration::from_secs(4)] {
        interrupt_a_run(after, ("INT", "Ctrl-C"));
    }
}

/// SIGTERM to the harness alone (as `kill PID` sends it), as cells run.
#[test]
fn sigterm_stops_a_run_as_ctrl_c_does() {
    interrupt_a_run(Duration::from_secs(4), ("TERM", "SIGTERM"));
}

/// Sends `signal` (to the run's process group for INT, as a terminal does; to the run alone
/// for TERM, as `kill` does) `after` the server started, and checks what the run leaves.
fn interrupt_a_run(after: Duration, (signal, named): (&str, &str)) {
    let dir = tempdir(&format!("interrupt-{signal}-{}", after.as_secs()));
    let mut child = wirebench()
        .args(["run", "--profile", "smoke", "--payloads", "tiny", "--out"])
        .arg(&dir)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // A process group of its own, as a terminal gives a foreground job.
        .process_group(0)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let server_pid = loop {
        let line = stderr.next().expect("stderr ended before the server started").unwrap();
        if let Some(rest) = line.strip_prefix("server: pid ") {
            break rest.split(',').next().unwrap().parse::<u32>().unwrap();
        }
    };
    // The equivalence gate takes about a second in a debug build.
    std::thread::sleep(after);
    let target = if signal == "INT" { format!("-{}", child.id()) } else { child.id().to_string() };
    let kill = std::process::Command::new("kill").args([&format!("-{signal}"), "--", &target]).status();
    assert!(kill.unwrap().success());
    // The rest of stderr is read aside, so that a run that never ends fails the test.
    let rest = std::thread::spawn(move || stderr.map(Result::unwrap).collect::<Vec<String>>());
    let Some(status) = common::exits_within(&mut child, Duration::from_secs(60)) else {
        let _ = child.kill();
        panic!("the run still ran 60 s after {named}");
    };
    let rest = rest.join().unwrap();
    let text = rest.join("\n");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(!text.contains("backtrace") && !text.contains("panicked"), "{text}");
    let last = rest.iter().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(last.starts_with(&format!("error: interrupted by {named}")), "the last line: {last}");
    assert!(last.contains("partial results written to"), "the last line: {last}");
    assert!(
        !std::path::Path::new(&format!("/proc/{server_pid}")).exists(),
        "the server child outlived the run"
    );
    // The server did not see the Ctrl-C: no cell that was kept counts an error from it going.
    let results = common::results_of(&dir);
    assert_eq!(results["status"], "interrupted");
    for cell in results["cells"].as_array().unwrap() {
        let errors = cell["errors"].as_object().map_or(0, serde_json::Map::len);
        assert_eq!(errors, 0, "{} {}: {}", cell["protocol"], cell["operation"], cell["errors"]);
    }
}

/// A server child whose harness is gone (its control channel closed) stops by itself.
#[test]
fn serve_stops_when_its_control_channel_closes() {
    let (mut server, control) = ServeChild::with_control("tiny");
    assert!(server.exits_within(Duration::from_millis(300)).is_none(), "serve stopped by itself");
    let closed = Instant::now();
    drop(control);
    let status =
        server.exits_within(Duration::from_secs(10)).expect("serve kept serving without its harness");
    assert!(status.success(), "{status}");
    eprintln!("serve stopped {:?} after its control channel closed", closed.elapsed());
}
