//! The harness's byte counts equal the kernel's own (TCP_INFO), to the byte, for every
//! protocol and operation; and so do the layers the dissector attributed them to: framing +
//! envelope + data, with nothing left pending or unparsed.

use wirebench::catalog::{OpParams, Operation};
use wirebench::clients::PROTOCOLS;
use wirebench::clients::grpc::message_shapes;
use wirebench::serve::{ServeArgs, Started, start};
use wirebench::wire::{self, Dir, Framing, tls::ClientTls};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_byte_is_attributed_and_the_layers_equal_the_kernels_count() {
    let args = ServeArgs::ephemeral("small", 42);
    let started = start(&args).await.unwrap();
    let checked = every_protocol_and_operation(&started, "plain").await;
    assert!(checked.len() >= 40, "{checked:?}");
    started.stop().await.expect("the servers stop cleanly");
}

/// Over TLS, the kernel still sees exactly the bytes counted, and they are every layer of
/// the same protocol plus TLS's own: the handshake and the record framing. A resumed
/// handshake says so and sends no certificate.
// One thread: the TLS settings are the thread's, as on the load engine's threads.
#[tokio::test]
async fn over_tls_the_kernel_agrees_and_tls_framing_is_its_own_layer() {
    let args = ServeArgs { tls: true, ..ServeArgs::ephemeral("small", 42) };
    let started = start(&args).await.unwrap();
    let cert = started.tls_cert.clone().expect("serving TLS");
    wire::tls::set_current(Some(ClientTls::new(cert.clone(), false).unwrap()));
    let checked = every_protocol_and_operation(&started, "tls").await;
    assert!(checked.len() >= 40, "{checked:?}");
    // Full, then resumed handshakes of the same protocol, from a new session cache.
    let mut params = OpParams::new(2, 5, vec![3]);
    params.echo = std::sync::Arc::new(message_shapes(&started.store, &params).await.unwrap());
    let mut full = Vec::new();
    for protocol in PROTOCOLS {
        wire::tls::set_current(Some(ClientTls::new(cert.clone(), true).unwrap()));
        let addr = started.addr(protocol.server()).unwrap();
        let (mut setups, mut fulls) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let mut conn = protocol.connect(addr, Operation::GetUser).await.unwrap();
            let setup = conn.counters().snapshot();
            conn.call(Operation::GetUser, &params).await.unwrap();
            setups.push((conn.counters().tls_resumed(), setup.framing[1][Framing::TlsHandshake as usize]));
            fulls.push(conn.counters().tls_handshake().unwrap());
        }
        let what = protocol.name();
        full.push((what, fulls[0]));
        assert_eq!((setups[0].0, setups[1].0), (Some(false), Some(true)), "{what}: full, then resumed");
        // The server's certificate (over 300 bytes) is not sent again.
        assert!(setups[1].1 + 300 < setups[0].1, "{what}: {setups:?}");
    }
    // The handshake ends with its own last record: the same bytes for every protocol that
    // offers the same ALPN, whether or not session tickets arrive in the same read (received:
    // within 2 bytes, the length of the server's DER-encoded ECDSA signature varies).
    let of = |name: &str| full.iter().find(|(p, _)| *p == name).unwrap().1;
    for (a, b) in [("rest", "ws"), ("rest", "graphql"), ("rest-h2", "grpc")] {
        let ([sa, ra], [sb, rb]) = (of(a), of(b));
        assert!(sa == sb && ra.abs_diff(rb) <= 2, "{a} and {b}: {full:?}");
    }
    wire::tls::set_current(None);
    started.stop().await.expect("the servers stop cleanly");
}

/// Runs every protocol and operation three times on one connection each and checks the
/// counts against the kernel and the layers against the counts; returns what it checked.
async fn every_protocol_and_operation(started: &Started, how: &str) -> Vec<String> {
    let shapes = message_shapes(&started.store, &OpParams::new(2, 5, vec![3, 5, 8])).await.unwrap();
    let shapes = std::sync::Arc::new(shapes);
    let tls = how != "plain";
    let mut checked = Vec::new();
    for protocol in PROTOCOLS {
        let addr = started.addr(protocol.server()).unwrap();
        for op in Operation::ALL {
            if protocol.unsupported(op).is_some() {
                continue;
            }
            let mut conn = protocol.connect(addr, op).await.unwrap();
            let what = format!("{} {op} ({how})", protocol.name());
            for i in 0..3 {
                let mut params = OpParams::new(2, 5, vec![3, 5, 8]);
                params.echo = shapes.clone();
                params.idempotency_key =
                    op.writes().then(|| format!("wire-{how}-{}-{op}-{i}", protocol.name()));
                conn.call(op, &params).await.unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            if let Err(why) = common::kernel_agrees(conn.counters()).await {
                panic!("{what}: {why}");
            }
            let t = conn.counters().snapshot();
            assert_eq!(conn.counters().dissect_error(), None, "{what}");
            for dir in Dir::BOTH {
                let d = dir.index();
                assert_eq!(t.pending(dir), 0, "{what} {dir:?}: bytes left unattributed");
                assert_eq!(t.framing[d][Framing::Unparsed as usize], 0, "{what} {dir:?}");
                assert_eq!(t.framing_total(dir) + t.envelope[d] + t.data[d], t.bytes[d], "{what} {dir:?}");
                for kind in [Framing::TlsHandshake, Framing::TlsRecords] {
                    let n = t.framing[d][kind as usize];
                    assert_eq!(n > 0, tls, "{what} {dir:?}: {n} bytes of {}", kind.name());
                }
            }
            assert!(t.data[1] > 0, "{what}: answers carry records");
            let kernel = conn.counters().kernel().unwrap();
            assert!(kernel.segs_out > 0 && kernel.header_bytes_estimate() > 0);
            assert!(t.turns >= 6, "{what}: three exchanges");
            checked.push(what);
        }
    }
    checked
}
