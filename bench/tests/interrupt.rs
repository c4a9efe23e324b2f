//! Stopping a run: Ctrl-C ends it with one line and what was measured written, even with
//! `RUST_BACKTRACE` set, and its server child never outlives it.

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
        interrupt_a_run(after);
    }
}

fn interrupt_a_run(after: Duration) {
    let dir = tempdir(&format!("interrupt-{}", after.as_secs()));
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
    let group = format!("-{}", child.id());
    assert!(std::process::Command::new("kill").args(["-INT", "--", &group]).status().unwrap().success());
    // The rest of stderr is read aside, so that a run that never ends fails the test.
    let rest = std::thread::spawn(move || stderr.map(Result::unwrap).collect::<Vec<String>>());
    let Some(status) = common::exits_within(&mut child, Duration::from_secs(60)) else {
        let _ = child.kill();
        panic!("the run still ran 60 s after Ctrl-C");
    };
    let rest = rest.join().unwrap();
    let text = rest.join("\n");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(!text.contains("backtrace") && !text.contains("panicked"), "{text}");
    let last = rest.iter().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(last.starts_with("error: interrupted by Ctrl-C"), "the last line: {last}");
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
