//! Random and mutated bytes at every protocol's port, in bounded time: valid requests of
//! each protocol (HTTP/1.1 and h2c requests with JSON bodies, GraphQL queries, gRPC calls
//! in HTTP/2 frames with protobuf messages, WebSocket upgrades and masked frames, floor
//! frames) are mutated (bit flips, byte swaps, insertions, deletions, truncations,
//! splices, boundary values), and some inputs are random bytes. Through it all: no panic
//! in a server task, a client alongside is served on every port, every server stops in time
//! after, and the process's memory stays bounded.
//!
//! `WIREBENCH_FUZZ_SEED` and `WIREBENCH_FUZZ_INPUTS` (per port) change the run; the seed is
//! printed, so a failure can be replayed. Longer runs of single decoders: `fuzz/` (cargo fuzz).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use prost::Message as _;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wirebench_proto::v1 as pb;
use wirebench_servers::{ServerConfig, ServerContext, floor, ws};

mod common;
use common::{TestServer, ctx, get_user_1, new_order};

/// Inputs per port unless `WIREBENCH_FUZZ_INPUTS` says otherwise.
const INPUTS: usize = 2_000;
/// Inputs in flight at once, per port.
const PARALLEL: usize = 32;
/// Silence after which an input's connection stops waiting for more answers.
const QUIET: Duration = Duration::from_millis(100);
/// Time one input's connection may take, answer and close included.
const PER_INPUT: Duration = Duration::from_secs(3);
/// Growth of the process's resident memory allowed over the whole run.
const MEMORY_BOUND: u64 = 256 * 1024 * 1024;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_bytes_on_every_port_leave_the_servers_serving() {
    let seed: u64 = env_or("WIREBENCH_FUZZ_SEED", 0x5eed_2026);
    let inputs: usize = env_or("WIREBENCH_FUZZ_INPUTS", INPUTS);
    let panics = count_panics();
    let config = ServerConfig {
        header_read_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(800),
        ..ServerConfig::default()
    };
    let mut servers = Vec::new();
    for server in wirebench_servers::SERVERS {
        let ctx = ServerContext { config: config.clone(), ..ctx(Duration::ZERO, 64 * 1024) };
        servers.push(TestServer::start(*server, ctx).await);
    }
    // Warm every server once, then take the memory baseline.
    for (server, running) in wirebench_servers::SERVERS.iter().zip(&servers) {
        get_user_1(server.name(), running.addr()).await.unwrap_or_else(|e| panic!("before fuzzing: {e}"));
    }
    let baseline = resident_bytes();
    println!("fuzz seed {seed:#x} ({inputs} inputs per port; WIREBENCH_FUZZ_SEED replays it)");
    for (i, (server, running)) in wirebench_servers::SERVERS.iter().zip(&servers).enumerate() {
        let name = server.name();
        let addr = running.addr();
        let done = CancellationToken::new();
        let alongside = tokio::spawn(keep_calling(name, addr, done.clone()));
        let started = Instant::now();
        let stats = fuzz_port(name, addr, seed.wrapping_add(i as u64), inputs).await;
        done.cancel();
        let (calls, failures) = alongside.await.unwrap();
        println!(
            "fuzz {name:<8} {} inputs ({} mutated, {} random; {} answered with bytes) in {:.1} s; \
             {calls} calls alongside, {} failed",
            stats.sent,
            stats.mutated,
            stats.random,
            stats.answered,
            started.elapsed().as_secs_f64(),
            failures.len()
        );
        assert!(failures.is_empty(), "{name}: a client alongside was not served: {failures:?}");
        assert!(calls > 0, "{name}: no call alongside finished");
        get_user_1(name, addr).await.unwrap_or_else(|e| panic!("{name} after fuzzing: {e}"));
    }
    let grown = resident_bytes().saturating_sub(baseline);
    println!("fuzz: resident memory grew {} KiB", grown / 1024);
    assert!(grown < MEMORY_BOUND, "memory grew by {grown} bytes");
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a server task panicked (see above)");
    for server in servers {
        server.stop().await;
    }
}

/// Counts panics on any thread from here on (a panicking connection task would otherwise
/// only end itself, unseen).
fn count_panics() -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    count
}

/// The process's resident memory, from /proc (0 where there is none).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

#[derive(Default)]
struct Stats {
    sent: usize,
    mutated: usize,
    random: usize,
    answered: usize,
}

/// Sends `inputs` inputs to `addr`, [`PARALLEL`] at a time.
async fn fuzz_port(name: &str, addr: SocketAddr, seed: u64, inputs: usize) -> Stats {
    let corpus = corpus(name);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Stats::default();
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(inputs);
    for _ in 0..inputs {
        if rng.random_ratio(1, 8) {
            let len = rng.random_range(0..2048);
            let mut bytes = vec![0; len];
            rng.fill_bytes(&mut bytes);
            stats.random += 1;
            batch.push(bytes);
        } else {
            let mut bytes = corpus[rng.random_range(0..corpus.len())].clone();
            let other = &corpus[rng.random_range(0..corpus.len())];
            // WebSocket: mostly the frames after a valid upgrade, so that the mutations reach
            // the frame and message decoders, not only the handshake.
            let keep = match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(end) if name == "ws" && rng.random_ratio(3, 4) => end + 4,
                _ => 0,
            };
            let mut tail = bytes.split_off(keep);
            for _ in 0..rng.random_range(1..=4) {
                mutate(&mut tail, other, &mut rng);
            }
            bytes.extend(tail);
            stats.mutated += 1;
            batch.push(bytes);
        }
    }
    let upgrade = name == "ws";
    let answers =
        futures::stream::iter(batch).map(|bytes| exchange(addr, bytes, upgrade)).buffer_unordered(PARALLEL);
    let answers: Vec<bool> = answers.collect().await;
    stats.sent = answers.len();
    stats.answered = answers.iter().filter(|a| **a).count();
    stats
}

/// One input on its own connection: written, answers read until the server closes or is
/// quiet for [`QUIET`], then the write half closed and the rest read to the end. Whether any
/// bytes came back. (Closing the write half at once would end some exchanges early: a
/// WebSocket server that sees the end of the stream during its upgrade never reads the
/// frames after it.)
async fn exchange(addr: SocketAddr, bytes: Vec<u8>, upgrade: bool) -> bool {
    let run = async {
        let mut tcp = TcpStream::connect(addr).await.ok()?;
        let mut answered = false;
        let mut buf = vec![0u8; 16 * 1024];
        // A WebSocket client waits for the upgrade's answer before it sends frames (a server
        // rejects bytes after the request as junk): so does this one.
        let rest = match (upgrade, bytes.windows(4).position(|w| w == b"\r\n\r\n")) {
            (true, Some(end)) => {
                let _ = tcp.write_all(&bytes[..end + 4]).await;
                if let Ok(Ok(1..)) = tokio::time::timeout(QUIET, tcp.read(&mut buf)).await {
                    answered = true;
                }
                &bytes[end + 4..]
            }
            _ => &bytes[..],
        };
        // The server may close or reset before all is written: that is an answer too.
        let _ = tcp.write_all(rest).await;
        loop {
            match tokio::time::timeout(QUIET, tcp.read(&mut buf)).await {
                Ok(Ok(1..)) => answered = true,
                Ok(_) => return Some(answered),
                Err(_) => break,
            }
        }
        let _ = tcp.shutdown().await;
        while let Ok(n @ 1..) = tcp.read(&mut buf).await {
            answered |= n > 0;
        }
        Some(answered)
    };
    tokio::time::timeout(PER_INPUT, run).await.ok().flatten().unwrap_or(false)
}

/// One of the mutations, applied to `bytes` (`other` is another corpus entry to splice).
fn mutate(bytes: &mut Vec<u8>, other: &[u8], rng: &mut ChaCha8Rng) {
    if bytes.is_empty() {
        bytes.push(rng.random());
        return;
    }
    let at = rng.random_range(0..bytes.len());
    match rng.random_range(0..8) {
        0 => bytes[at] ^= 1 << rng.random_range(0..8),
        1 => bytes[at] = rng.random(),
        2 => {
            let n = rng.random_range(1..=16);
            let insert: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            bytes.splice(at..at, insert);
        }
        3 => {
            let end = (at + rng.random_range(1..=32)).min(bytes.len());
            bytes.drain(at..end);
        }
        4 => bytes.truncate(at),
        5 => {
            let from = rng.random_range(0..other.len().max(1));
            bytes.truncate(at);
            bytes.extend_from_slice(other.get(from..).unwrap_or_default());
        }
        6 => bytes[at] = [0x00, 0x7f, 0x80, 0xff][rng.random_range(0..4)],
        _ => {
            // Repeat a chunk: long headers, long frames, nested brackets.
            let end = (at + rng.random_range(1..=64)).min(bytes.len());
            let chunk = bytes[at..end].to_vec();
            for _ in 0..rng.random_range(1..=64) {
                bytes.splice(at..at, chunk.iter().copied());
            }
        }
    }
}

/// Valid requests of `name`'s protocol, for mutation.
fn corpus(name: &str) -> Vec<Vec<u8>> {
    let order = serde_json::to_string(&new_order(1, 2)).unwrap();
    match name {
        "rest" => vec![
            http1("GET", "/v1/users/1", ""),
            http1("GET", "/v1/users/1/orders?limit=5", ""),
            http1("GET", "/v1/orders?limit=10&sort=created_desc&status=paid", ""),
            http1("POST", "/v1/orders", &order),
            http1("PATCH", "/v1/orders/1", r#"{"status":"shipped"}"#),
            h2c_get("/v1/users/2"),
        ],
        "graphql" => {
            let queries = [
                r#"{"query":"{ user(id: 1) { id name orders(first: 3) { edges { node { id } } } } }"}"#,
                r#"{"query":"query($id: ID!) { user(id: $id) { email } }","variables":{"id":"2"}}"#,
                r#"{"query":"{ orders(first: 5) { pageInfo { endCursor } edges { node { totalCents } } } }"}"#,
                r#"{"query":"mutation { __typename }"}"#,
            ];
            let mut corpus: Vec<Vec<u8>> = queries.iter().map(|q| http1("POST", "/graphql", q)).collect();
            corpus.push(http1("GET", "/graphql?query=%7B%20user(id%3A%201)%20%7B%20id%20%7D%20%7D", ""));
            corpus
        }
        "jsonrpc" => {
            let calls = [
                r#"{"jsonrpc":"2.0","method":"getUser","params":{"id":1},"id":1}"#.to_owned(),
                r#"{"jsonrpc":"2.0","method":"userOrders","params":{"id":1,"limit":3},"id":2}"#.to_owned(),
                r#"[{"jsonrpc":"2.0","method":"listOrders","params":{"limit":5},"id":3},{"jsonrpc":"2.0","method":"getOrder","params":{"id":1},"id":4}]"#.to_owned(),
                format!(r#"{{"jsonrpc":"2.0","method":"createOrder","params":{{"order":{order}}},"id":5}}"#),
            ];
            calls.iter().map(|c| http1("POST", "/rpc", c)).collect()
        }
        "grpc" => vec![
            grpc_call("GetUser", &pb::GetUserRequest { id: 1 }.encode_to_vec()),
            grpc_call("GetUserOrders", &pb::GetUserOrdersRequest { user_id: 1, limit: 3 }.encode_to_vec()),
            grpc_call(
                "ListOrders",
                &pb::ListOrdersRequest { limit: 5, ..Default::default() }.encode_to_vec(),
            ),
            grpc_call("CreateOrder", &create_order()),
            grpc_call("ImportOrders", &create_order()),
        ],
        "ws" => {
            let messages = [
                r#"{"op":"get_user","id":1,"user_id":1}"#.to_owned(),
                r#"{"op":"list_orders","id":2,"limit":5}"#.to_owned(),
                r#"{"op":"stream_orders","id":3,"limit":3}"#.to_owned(),
                format!(r#"{{"op":"create_order","id":4,"order":{order}}}"#),
                r#"{"op":"subscribe_events","id":5}"#.to_owned(),
            ];
            messages.iter().map(|m| ws_session(m)).collect()
        }
        "floor" => {
            let frame = |op: u8, body: Vec<u8>| {
                let mut bytes = u32::try_from(body.len() + 1).unwrap().to_be_bytes().to_vec();
                bytes.push(op);
                bytes.extend(body);
                bytes
            };
            vec![
                frame(floor::op::GET_USER, pb::GetUserRequest { id: 1 }.encode_to_vec()),
                frame(
                    floor::op::LIST_ORDERS,
                    pb::ListOrdersRequest { limit: 5, ..Default::default() }.encode_to_vec(),
                ),
                frame(floor::op::CREATE_ORDER, create_order()),
                frame(floor::op::FILL, [0, 0, 0, 1, 0, 0, 0, 9].to_vec()),
                frame(floor::op::ECHO, b"hello".to_vec()),
            ]
        }
        other => panic!("no corpus for {other}"),
    }
}

fn create_order() -> Vec<u8> {
    pb::CreateOrderRequest { idempotency_key: "fuzz".into(), order: Some(new_order(1, 1).into()) }
        .encode_to_vec()
}

/// An HTTP/1.1 request; a body makes it JSON.
fn http1(method: &str, path: &str, body: &str) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n");
    if !body.is_empty() {
        head += &format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    }
    format!("{head}\r\n{body}").into_bytes()
}

/// An HTTP/2 frame.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    frame.extend([kind, flags]);
    frame.extend(stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An HPACK block of literal headers (never indexed, no Huffman coding).
fn hpack(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in headers {
        block.push(0x10);
        block.push(name.len() as u8);
        block.extend(name.as_bytes());
        block.push(value.len() as u8);
        block.extend(value.as_bytes());
    }
    block
}

/// The h2 preface, an empty SETTINGS frame, then `frames`.
fn h2_connection(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend(h2_frame(4, 0, 0, &[]));
    for frame in frames {
        bytes.extend(frame);
    }
    bytes
}

fn h2c_get(path: &str) -> Vec<u8> {
    let headers = hpack(&[(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "x")]);
    h2_connection(&[h2_frame(1, 0x5, 1, &headers)])
}

/// A unary gRPC call of `method` carrying `message`, in HTTP/2 frames.
fn grpc_call(method: &str, message: &[u8]) -> Vec<u8> {
    let path = format!("/wirebench.v1.Shop/{method}");
    let headers = hpack(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", &path),
        (":authority", "x"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    let mut data = vec![0];
    data.extend((message.len() as u32).to_be_bytes());
    data.extend_from_slice(message);
    h2_connection(&[h2_frame(1, 0x4, 1, &headers), h2_frame(0, 0x1, 1, &data)])
}

/// A WebSocket upgrade followed by one masked text frame carrying `text`.
fn ws_session(text: &str) -> Vec<u8> {
    let mut bytes = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ws::PATH
    )
    .into_bytes();
    let mask = [0x12, 0x34, 0x56, 0x78];
    bytes.push(0x81);
    if text.len() < 126 {
        bytes.push(0x80 | text.len() as u8);
    } else {
        bytes.push(0x80 | 126);
        bytes.extend((text.len() as u16).to_be_bytes());
    }
    bytes.extend(mask);
    bytes.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    bytes
}

/// Valid calls on `name`'s port, one every 50 ms, until `done` (or two minutes): how many
/// finished, and what failed.
async fn keep_calling(name: &'static str, addr: SocketAddr, done: CancellationToken) -> (usize, Vec<String>) {
    let (mut calls, mut failures) = (0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done.is_cancelled() && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), get_user_1(name, addr)).await {
            Ok(Ok(_)) => calls += 1,
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push("no answer within 5 s".into()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (calls, failures)
}
