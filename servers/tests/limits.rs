//! The limits every server applies to its connections, over real sockets: partial headers
//! are closed at the header timeout, idle connections close on every protocol, the
//! connection cap refuses in each protocol's own terms, and shutdown lets in-flight requests
//! finish.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wirebench_proto::v1 as pb;
use wirebench_proto::v1::shop_client::ShopClient;
use wirebench_servers::{ProtocolServer, ServerConfig, ServerContext, floor, graphql, rest, ws};

mod common;
use common::{TestServer, WAIT, ctx, get_user_1};

/// The `small` shop with `config`'s limits and `latency` per store call.
fn limited(config: ServerConfig, latency: Duration) -> ServerContext {
    ServerContext { config, ..ctx(latency, 64 * 1024) }
}

/// Short limits, so a test sees them act.
fn short() -> ServerConfig {
    ServerConfig {
        header_read_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(600),
        ..ServerConfig::default()
    }
}

/// Reads until the server closes (or resets) the connection; what it sent and when it closed.
async fn until_closed(tcp: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(WAIT, async {
        while let Ok(n @ 1..) = tcp.read(&mut buf).await {
            got.extend_from_slice(&buf[..n]);
        }
    });
    if read.await.is_err() {
        panic!("{}: still open after {WAIT:?}", tcp.peer_addr().unwrap());
    }
    (got, Instant::now())
}

/// A request line and some headers, never finished.
const PARTIAL: &[u8] = b"GET /v1/users/1 HTTP/1.1\r\nHost: x\r\nAccept: appl";

#[tokio::test]
async fn partial_headers_are_closed_at_the_header_timeout() {
    let config = ServerConfig { idle_timeout: Duration::from_secs(30), ..short() };
    for server in [&rest::Rest as &'static dyn ProtocolServer, &graphql::Graphql] {
        let server = TestServer::start(server, limited(config.clone(), Duration::ZERO)).await;
        let start = Instant::now();
        let mut slow = Vec::new();
        for _ in 0..50 {
            let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
            tcp.write_all(PARTIAL).await.unwrap();
            slow.push(tcp);
        }
        for tcp in &mut slow {
            let (_, closed) = until_closed(tcp).await;
            let after = closed - start;
            assert!(after >= Duration::from_millis(350), "closed after {after:?}, before the timeout");
            assert!(after < Duration::from_secs(5), "closed after {after:?}");
        }
        server.stop().await;
    }
}

/// Opens a connection to `server` and makes one real request on it.
async fn warm(name: &str, server: &TestServer) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let (request, answer): (Vec<u8>, usize) = match name {
        "rest" => (b"GET /v1/users/1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 1),
        "graphql" => (b"GET /graphql HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 1),
        "jsonrpc" => (
            b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 61\r\n\r\n\
              {\"jsonrpc\":\"2.0\",\"method\":\"getUser\",\"params\":{\"id\":1},\"id\":1}"
                .to_vec(),
            1,
        ),
        "floor" => {
            let mut frame = Vec::new();
            floor::write_frame(&mut frame, floor::op::ECHO, b"hi").await.unwrap();
            (frame, 1)
        }
        // gRPC and WebSocket: the bytes that open the protocol (the h2 preface and an empty
        // SETTINGS frame; the upgrade request).
        "grpc" => (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0".to_vec(), 1),
        "ws" => (
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .to_vec(),
            1,
        ),
        other => panic!("no request for {other}"),
    };
    tcp.write_all(&request).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf)).await.unwrap().unwrap();
    assert!(n >= answer, "{name} answered");
    tcp
}

#[tokio::test]
async fn idle_connections_close_on_every_protocol() {
    // The header timeout is longer than the idle limit: what closes is the idle limit (on
    // HTTP/1.1 both count from the last request, so either would do).
    let config = ServerConfig { header_read_timeout: Duration::from_secs(30), ..short() };
    for server in wirebench_servers::SERVERS {
        let name = server.name();
        let running = TestServer::start(*server, limited(config.clone(), Duration::ZERO)).await;
        // One connection that made a request, one that never sent a byte.
        let mut used = warm(name, &running).await;
        let mut silent = TcpStream::connect(running.addr()).await.unwrap();
        let start = Instant::now();
        for (tcp, which) in [(&mut used, "used"), (&mut silent, "silent")] {
            println!("{name}: {which} connection");
            let (_, closed) = until_closed(tcp).await;
            let after = closed - start;
            assert!(after >= Duration::from_millis(300), "{name}: closed after {after:?}");
            assert!(after < Duration::from_secs(5), "{name}: still open after {after:?}");
        }
        running.stop().await;
    }
}

#[tokio::test]
async fn the_connection_cap_refuses_in_each_protocols_terms() {
    let config = ServerConfig { max_connections: 2, ..ServerConfig::default() };
    for server in wirebench_servers::SERVERS {
        let name = server.name();
        let running = TestServer::start(*server, limited(config.clone(), Duration::ZERO)).await;
        let held = [warm(name, &running).await, warm(name, &running).await];
        refused(name, &running).await;
        // A slot frees when a connection closes, and the next one is served.
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(warm(name, &running).await);
        running.stop().await;
    }
}

/// Checks that a connection to `server`, over its cap, is refused the protocol's way.
async fn refused(name: &str, server: &TestServer) {
    match name {
        "rest" | "graphql" | "jsonrpc" => {
            let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
            tcp.write_all(b"GET /v1/users/1 HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let (got, _) = until_closed(&mut tcp).await;
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 503"), "{name}: {text}");
            assert!(text.contains(r#""error":"overloaded""#) && text.contains("retry-after: 1"), "{text}");
        }
        "grpc" => {
            let mut client = ShopClient::connect(format!("http://{}", server.addr())).await.unwrap();
            let status = client.get_user(pb::GetUserRequest { id: 1 }).await.unwrap_err();
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
            assert!(status.message().contains("at most 2 connections"), "{status:?}");
        }
        "ws" => {
            let url = format!("ws://{}{}", server.addr(), ws::PATH);
            let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            match tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
                Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Again),
                other => panic!("ws: expected close 1013, got {other:?}"),
            }
        }
        "floor" => {
            let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
            let (got, _) = until_closed(&mut tcp).await;
            assert_eq!(got[4], floor::kind::ERROR);
            assert!(String::from_utf8_lossy(&got[5..]).starts_with("overloaded: "), "{got:?}");
        }
        other => panic!("no refusal check for {other}"),
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_on_every_protocol() {
    // Each store call takes 400 ms: the request is still running when shutdown begins.
    let latency = Duration::from_millis(400);
    for server in wirebench_servers::SERVERS {
        let name = server.name();
        let running = TestServer::start(*server, limited(ServerConfig::default(), latency)).await;
        let addr = running.addr();
        let call = tokio::spawn(async move { get_user_1(name, addr).await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let stopped = Instant::now();
        let shutdown = running.shutdown.clone();
        shutdown.cancel();
        let answer = tokio::time::timeout(WAIT, call).await.expect("answered in time").unwrap();
        let answer = answer.unwrap_or_else(|e| panic!("{name}: the request in flight failed: {e}"));
        assert!(stopped.elapsed() >= Duration::from_millis(200), "{name} answered before the store did");
        let id_1 = [r#""id":1,"#, r#""id":"1""#].iter().any(|id| answer.contains(id)) || answer == "1";
        assert!(id_1, "{name}: {answer}");
        running.stop().await;
        assert!(stopped.elapsed() < ServerConfig::default().grace, "{name} stopped within its grace");
        // And nothing is served any more.
        assert!(TcpStream::connect(addr).await.is_err(), "{name} still accepts");
    }
}
