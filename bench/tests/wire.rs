//! The harness's byte counts equal the kernel's own (TCP_INFO), to the byte, for every
//! protocol, and the turn counter sees one request/response as two turns.

use std::time::Duration;

use wirebench::catalog::{OpParams, Operation};
use wirebench::clients::PROTOCOLS;
use wirebench::serve::{ServeArgs, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counted_bytes_equal_the_kernels_for_every_protocol() {
    let args = ServeArgs::ephemeral("small", 42);
    let started = start(&args).await.unwrap();
    let params = OpParams::new(2, 10, vec![3, 5, 8]);
    let mut checked = Vec::new();
    for protocol in PROTOCOLS {
        let addr = started.addr(protocol.server()).unwrap();
        for op in [Operation::GetUser, Operation::ListOrders, Operation::TrackOrders] {
            if protocol.unsupported(op).is_some() {
                continue;
            }
            let mut conn = protocol.connect(addr, op).await.unwrap();
            for _ in 0..3 {
                conn.call(op, &params).await.unwrap();
            }
            // Acknowledgements and trailing frames may still be in flight: wait (bounded)
            // until the kernel has caught up, then the counts must be equal.
            let mut last = None;
            for _ in 0..200 {
                let ours = conn.counters().snapshot();
                let kernel = conn.counters().kernel().expect("TCP_INFO readable");
                if kernel.bytes_acked == ours.sent && kernel.bytes_received == ours.received {
                    last = None;
                    break;
                }
                last = Some((ours, kernel));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(last.is_none(), "{} {op}: ours vs kernel {last:?}", protocol.name());
            let kernel = conn.counters().kernel().unwrap();
            assert!(kernel.segs_out > 0 && kernel.header_bytes_estimate() > 0);
            assert!(conn.counters().snapshot().turns >= 6, "{} {op}: three exchanges", protocol.name());
            checked.push(format!("{} {op}", protocol.name()));
        }
    }
    assert!(checked.len() >= 6, "{checked:?}");
    started.stop().await;
}
