//! The harness's byte counts equal the kernel's own (TCP_INFO), to the byte, for every
//! protocol and operation; and so do the layers the dissector attributed them to: framing +
//! envelope + data, with nothing left pending or unparsed.

use wirebench::serve::{ServeArgs, Started, start};
use wirebench_engine::catalog::{OpParams, Operation};
use wirebench_engine::clients::{PROTOCOLS, stand_ins};
use wirebench_wire::{Dial, Dir, Framing, tls::ClientTls};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_byte_is_attributed_and_the_layers_equal_the_kernels_count() {
    let args = ServeArgs::ephemeral("small", 42);
    let started = start(&args).await.unwrap();
    let checked = every_protocol_and_operation(&started, None, "plain").await;
    assert!(checked.len() >= 40, "{checked:?}");
    started.stop().await.expect("the servers stop cleanly");
}

/// Over TLS, the kernel still sees exactly the bytes counted, and they are every layer of
/// the same protocol plus TLS's own: the handshake and the record framing. A resumed
/// handshake says so and sends no certificate.
#[tokio::test]
async fn over_tls_the_kernel_agrees_and_tls_framing_is_its_own_layer() {
    let args = ServeArgs { tls: true, ..ServeArgs::ephemeral("small", 42) };
    let started = start(&args).await.unwrap();
    let cert = started.tls_cert.clone().expect("serving TLS");
    let tls = ClientTls::new(cert.clone(), false).unwrap();
    let checked = every_protocol_and_operation(&started, Some(tls), "tls").await;
    assert!(checked.len() >= 40, "{checked:?}");
    // Full, then resumed handshakes of the same protocol, from a new session cache.
    let mut params = OpParams::new(2, 5, vec![3]);
    let stand_ins = stand_ins(PROTOCOLS, &started.store, &params, &|_| None).await.unwrap();
    params.stand_ins = std::sync::Arc::new(stand_ins);
    let mut full = Vec::new();
    for protocol in PROTOCOLS {
        let tls = ClientTls::new(cert.clone(), true).unwrap();
        let dial = Dial::to(started.addr(protocol.server()).unwrap()).secured(Some(tls));
        let (mut setups, mut fulls) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let mut conn = protocol.connect(dial.clone(), Operation::GetUser).await.unwrap();
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
    started.stop().await.expect("the servers stop cleanly");
}

/// Runs every protocol and operation three times on one connection each and checks the
/// counts against the kernel and the layers against the counts; returns what it checked.
async fn every_protocol_and_operation(started: &Started, tls: Option<ClientTls>, how: &str) -> Vec<String> {
    let shapes = stand_ins(PROTOCOLS, &started.store, &OpParams::new(2, 5, vec![3, 5, 8]), &|_| None).await;
    let shapes = std::sync::Arc::new(shapes.unwrap());
    let secured = tls.is_some();
    let mut checked = Vec::new();
    for protocol in PROTOCOLS {
        let dial = Dial::to(started.addr(protocol.server()).unwrap()).secured(tls.clone());
        for op in Operation::ALL {
            if protocol.unsupported(op).is_some() {
                continue;
            }
            let mut conn = protocol.connect(dial.clone(), op).await.unwrap();
            let what = format!("{} {op} ({how})", protocol.name());
            for i in 0..3 {
                let mut params = OpParams::new(2, 5, vec![3, 5, 8]);
                params.stand_ins = shapes.clone();
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
                    assert_eq!(n > 0, secured, "{what} {dir:?}: {n} bytes of {}", kind.name());
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

/// Every compressing variant sends and receives compressed bodies: one answer of 20 users'
/// or orders' records takes well under the bytes of the same answer from the variant it
/// otherwise equals (JSON under half, protobuf under 80 %) (and a write, less than it would), and its answers decode to the same
/// records (the equivalence test checks every operation). gRPC's list-orders is a stream of
/// one message per order, each compressed on its own, so gRPC is checked on users-orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressing_variants_put_fewer_bytes_on_the_wire_than_their_twins() {
    let started = start(&ServeArgs::ephemeral("small", 42)).await.unwrap();
    let mut params = OpParams::new(2, 20, vec![3]);
    let mut compressing = 0;
    for protocol in PROTOCOLS {
        let Some((codec, twin)) = protocol.compression() else { continue };
        compressing += 1;
        let one = if twin == "grpc" { Operation::UsersOrders } else { Operation::ListOrders };
        let mut bytes = Vec::new();
        for (i, p) in [*protocol, wirebench_engine::clients::protocol(twin).unwrap()].into_iter().enumerate()
        {
            let mut conn = p.connect(started.addr(p.server()).unwrap().into(), one).await.unwrap();
            let before = conn.counters().snapshot();
            conn.call(one, &params).await.unwrap();
            let page = conn.counters().snapshot().since(&before).bytes[1];
            let before = conn.counters().snapshot();
            params.idempotency_key = Some(format!("compressed-{}-{i}", protocol.name()));
            conn.call(Operation::CreateOrder, &params).await.unwrap();
            bytes.push((page, conn.counters().snapshot().since(&before).bytes[0]));
        }
        let [(page, write), (twin_page, twin_write)] = bytes[..] else { unreachable!() };
        let what = format!("{} ({codec}) against {twin}", protocol.name());
        // JSON's repeated keys compress well; protobuf, already dense, less.
        let at_most = if protocol.encoding() == "json" { 0.5 } else { 0.8 };
        assert!(
            (page as f64) < at_most * twin_page as f64,
            "{what}: {page} against {twin_page} bytes received"
        );
        // A small protobuf write does not shrink (gzip's header and the encoding headers
        // cost more than it saves): it only differs.
        if protocol.encoding() == "json" {
            assert!(write < twin_write, "{what}: {write} against {twin_write} bytes sent");
        } else {
            assert_ne!(write, twin_write, "{what}: the write is compressed");
        }
    }
    assert!(
        compressing >= 7,
        "rest-gzip, rest-br, rest-zstd, graphql-gzip, grpc-gzip, grpc-zstd, ws-deflate"
    );
    started.stop().await.expect("the servers stop cleanly");
}
