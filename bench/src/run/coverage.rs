//! What a run left out, each with the command that covers it: the report says it under
//! "Not in this run", so that the breadth the quick profile skips stays one flag away.

use wirebench_domain::Profiles;

use super::plan::Plan;
use super::profiles::Security;
use wirebench_engine::clients::{PROTOCOLS, Protocol, Role};
use wirebench_results::NotCovered;

/// The variants and dimensions `plan` did not run, each with the flags that add it.
pub fn not_covered(plan: &Plan) -> Vec<NotCovered> {
    let mut out = variants(plan);
    out.extend(dimensions(plan));
    out
}

/// The variants the plan left out: compression, the encoding × transport matrix, the others.
fn variants(plan: &Plan) -> Vec<NotCovered> {
    let mut out = Vec::new();
    let ran = |p: &&dyn Protocol| plan.protocols.iter().any(|q| q.name() == p.name());
    let names = |ps: &[&&dyn Protocol]| ps.iter().map(|p| p.name()).collect::<Vec<_>>().join(",");
    let compressing: Vec<&&dyn Protocol> = PROTOCOLS.iter().filter(|p| p.compression().is_some()).collect();
    if compressing.iter().any(|p| !ran(p)) {
        let mut with: Vec<&&dyn Protocol> = PROTOCOLS
            .iter()
            .filter(|p| p.role() == Role::Main && compressing.iter().any(|c| c.family() == p.family()))
            .collect();
        with.extend(compressing.iter().copied());
        out.push(NotCovered {
            what: "compression: each compressing variant beside the one it compresses".into(),
            command: format!("--protocols {} --operations get-user,list-orders,create-order", names(&with)),
        });
    }
    let matrix: Vec<&&dyn Protocol> = PROTOCOLS
        .iter()
        .filter(|p| p.compression().is_none() && p.carries_records() && p.role() != Role::Reference)
        .collect();
    // A variant that differs from its family's main variant in encoding or transport.
    let elsewhere = |p: &dyn Protocol| {
        p.role() == Role::Variant
            && PROTOCOLS.iter().any(|m| {
                m.role() == Role::Main
                    && m.family() == p.family()
                    && (m.encoding() != p.encoding() || m.transport() != p.transport())
            })
    };
    if matrix.iter().any(|p| elsewhere(**p) && !ran(p)) {
        out.push(NotCovered {
            what: "encoding × transport: the same records in the other encoding, over the other transports"
                .into(),
            command: format!("--protocols {}", names(&matrix)),
        });
    }
    let others: Vec<&&dyn Protocol> = PROTOCOLS
        .iter()
        .filter(|p| p.role() == Role::Variant && p.compression().is_none() && !elsewhere(**p) && !ran(p))
        .collect();
    if !others.is_empty() {
        out.push(NotCovered {
            what: "other ways of doing the same (fewer requests, no DataLoader, server-sent events, the floor's bare transport)".into(),
            command: format!("--protocols {}", names(&others)),
        });
    }
    out
}

/// The dimensions the plan left out: sizes, streams, TLS modes, the open loop, cold cells,
/// networks, payloads, store latency, and the full profile.
fn dimensions(plan: &Plan) -> Vec<NotCovered> {
    let mut out = Vec::new();
    if plan.sizes.is_empty() {
        out.push(NotCovered {
            what: "payload sizes: 1 to 1,000 orders per answer".into(),
            command: "--sizes 1,10,100,1000 --operations list-orders,stream-orders".into(),
        });
    }
    if plan.streams.is_empty() {
        out.push(NotCovered {
            what: "multiplexing: 16 calls in flight on one HTTP/2 connection or WebSocket".into(),
            command: "--streams 16 --operations get-user".into(),
        });
    }
    if !plan.tls.contains(&Security::TlsResumed) {
        out.push(NotCovered {
            what: "TLS on every operation, and session resumption".into(),
            command: "--tls tls,tls-resumed".into(),
        });
    }
    if plan.rate.is_none() {
        out.push(NotCovered {
            what: "open loop at a fixed rate (latency corrected for coordinated omission)".into(),
            command: "--rate 1000".into(),
        });
    }
    if !plan.fresh {
        out.push(NotCovered {
            what: "a new connection per call (cold), beside the warm cells".into(),
            command: "--fresh-connections".into(),
        });
    }
    if let Ok(known) = wirebench_wire::net::Networks::load(plan.setup.networks_file.as_deref()) {
        let missing: Vec<&str> =
            known.names().filter(|n| !plan.networks.iter().any(|m| m.name == *n)).collect();
        if !missing.is_empty() {
            out.push(NotCovered {
                what: format!("other networks: {}", missing.join(", ")),
                command: format!("--network loopback,{}", missing.join(",")),
            });
        }
    }
    let profiles = Profiles::builtin();
    let payloads: Vec<&str> = profiles.names().filter(|p| !plan.payloads.iter().any(|q| q == p)).collect();
    if !payloads.is_empty() {
        out.push(NotCovered {
            what: format!("other payloads: {}", payloads.join(", ")),
            command: format!("--payloads {}", payloads.join(",")),
        });
    }
    if plan.vias.is_empty() {
        out.push(NotCovered {
            what: "a real gateway in the path (nginx, HAProxy): what the hop costs each protocol".into(),
            command: "--via direct,nginx,haproxy --operations get-user,list-orders".into(),
        });
    }
    if plan.setup.store_latency_us == 0 {
        out.push(NotCovered {
            what: "a database behind the store (GraphQL's N+1 and the DataLoader in time)".into(),
            command: "--store-latency-us 300 --operations users-orders".into(),
        });
    }
    if plan.setup.profile != super::RunProfile::Full {
        let estimate = plan
            .full_estimate
            .map(|e| format!(" (estimated {} here)", super::progress::duration(e)))
            .unwrap_or_default();
        out.push(NotCovered {
            what: format!("all of it at once{estimate}"),
            command: "--profile full".into(),
        });
    }
    out
}
