//! The harness's byte counts equal the kernel's own (TCP_INFO), to the byte, for every
//! protocol and operation; and so do the layers the dissector attributed them to: framing +
//! envelope + data, with nothing left pending or unparsed.

use wirebench::catalog::{OpParams, Operation};
use wirebench::clients::PROTOCOLS;
use wirebench::clients::grpc::message_shapes;
use wirebench::serve::{ServeArgs, start};
use wirebench::wire::{Dir, Framing};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_byte_is_attributed_and_the_layers_equal_the_kernels_count() {
    let args = ServeArgs::ephemeral("small", 42);
    let started = start(&args).await.unwrap();
    let shapes = message_shapes(&started.store, &OpParams::new(2, 5, vec![3, 5, 8])).await.unwrap();
    let shapes = std::sync::Arc::new(shapes);
    let mut checked = Vec::new();
    for protocol in PROTOCOLS {
        let addr = started.addr(protocol.server()).unwrap();
        for op in Operation::ALL {
            if protocol.unsupported(op).is_some() {
                continue;
            }
            let mut conn = protocol.connect(addr, op).await.unwrap();
            let what = format!("{} {op}", protocol.name());
            for i in 0..3 {
                let mut params = OpParams::new(2, 5, vec![3, 5, 8]);
                params.echo = shapes.clone();
                params.idempotency_key = op.writes().then(|| format!("wire-{}-{op}-{i}", protocol.name()));
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
            }
            assert!(t.data[1] > 0, "{what}: answers carry records");
            let kernel = conn.counters().kernel().unwrap();
            assert!(kernel.segs_out > 0 && kernel.header_bytes_estimate() > 0);
            assert!(t.turns >= 6, "{what}: three exchanges");
            checked.push(what);
        }
    }
    assert!(checked.len() >= 40, "{checked:?}");
    started.stop().await.expect("the servers stop cleanly");
}
