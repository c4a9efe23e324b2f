//! `wirebench serve` as a process: Ctrl-C (SIGINT) and SIGTERM let requests in flight on
//! every protocol finish, then the process exits cleanly within its grace period.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{tempdir, wirebench};

/// Each store call takes this long, so requests are in flight when the signal comes.
const STORE_LATENCY: Duration = Duration::from_millis(600);
const GRACE_S: &str = "3";

#[test]
fn sigterm_and_ctrl_c_drain_in_flight_requests_then_exit() {
    for signal in ["TERM", "INT"] {
        let dir = tempdir(&format!("drain-{signal}"));
        let addr_file = dir.join("servers.json");
        let mut child = wirebench()
            .args(["serve", "--port-base", "0", "--payload", "tiny", "--grace", GRACE_S])
            .args(["--store-latency-us", &STORE_LATENCY.as_micros().to_string(), "--addr-file"])
            .arg(&addr_file)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let addrs = wait_for_addrs(&mut child, &addr_file);
        let calls: Vec<_> = ["rest", "graphql", "floor"]
            .into_iter()
            .map(|name| {
                let addr = addrs[name];
                std::thread::spawn(move || (name, call(name, addr)))
            })
            .collect();
        std::thread::sleep(STORE_LATENCY / 4);
        let signalled = Instant::now();
        let kill = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        assert!(kill.unwrap().success());
        for handle in calls {
            let (name, answer) = handle.join().unwrap();
            assert!(answer.is_ok(), "SIG{signal}: the {name} request in flight was not answered: {answer:?}");
        }
        let status = wait_with_timeout(&mut child, Duration::from_secs(10));
        let took = signalled.elapsed();
        assert!(status.success(), "SIG{signal}: serve exited with {status}");
        assert!(took < Duration::from_secs(3) + Duration::from_secs(2), "SIG{signal}: exited after {took:?}");
        let mut stdout = String::new();
        child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        assert!(stdout.contains("shutting down"), "{stdout}");
    }
}

fn wait_for_addrs(
    child: &mut Child,
    file: &std::path::Path,
) -> std::collections::BTreeMap<String, SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            return serde_json::from_str(&text).unwrap();
        }
        assert!(child.try_wait().unwrap().is_none(), "serve exited before it was ready");
        assert!(Instant::now() < deadline, "serve not ready in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    common::exits_within(child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("serve still running {limit:?} after the signal")
    })
}

/// One get-user call on `name`'s port, blocking; the answer's first bytes, or what failed.
fn call(name: &str, addr: SocketAddr) -> Result<String, String> {
    let mut tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let request: Vec<u8> = match name {
        "rest" => b"GET /v1/users/1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        "graphql" => {
            let body = r#"{"query":"{ user(id: 1) { id } }"}"#;
            format!(
                "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        // A floor GET_USER frame: length 3, op 1, protobuf `id: 1`.
        "floor" => vec![0, 0, 0, 3, 1, 0x08, 0x01],
        other => return Err(format!("no call for {other}")),
    };
    tcp.write_all(&request).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 16 * 1024];
    let n = tcp.read(&mut buf).map_err(|e| e.to_string())?;
    let answer = &buf[..n];
    let ok = match name {
        "floor" => answer.len() > 4 && answer[4] == 0,
        _ => answer.starts_with(b"HTTP/1.1 200"),
    };
    if ok {
        Ok(String::from_utf8_lossy(answer).into_owned())
    } else {
        Err(String::from_utf8_lossy(answer).into_owned())
    }
}
