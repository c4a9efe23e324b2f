//! What a cell's sockets carried, per operation and per connection, as results.json has it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::load::CellStats;
use crate::wire::{Dir, Framing, Tally};

/// Bytes in one direction, per operation, by layer. `total = framing + envelope + data +
/// pending`, exactly.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Layers {
    /// Every byte the socket carried.
    pub total_bytes: f64,
    /// What the transports add: start lines and headers, HTTP/2 frames and HPACK, WebSocket
    /// frame headers and masks, chunk lines, message prefixes (by kind in `framing_by_kind`).
    pub framing_bytes: f64,
    /// The protocol's wrapper around the data: request targets, GraphQL query text and
    /// `{"data":…}`, WebSocket message keys, protobuf tags of wrapper fields, cursors.
    pub envelope_bytes: f64,
    /// The domain records themselves, in the protocol's encoding.
    pub data_bytes: f64,
    /// Bytes counted but not attributed (dissection off, or a unit still incomplete when
    /// an operation ended). 0 in a normal run.
    pub pending_bytes: f64,
    /// Framing bytes by kind (kinds with bytes only).
    pub framing_by_kind: BTreeMap<String, f64>,
}

impl Layers {
    fn of(t: &Tally, dir: Dir, ops: f64) -> Layers {
        let d = dir.index();
        let per = |v: u64| v as f64 / ops;
        Layers {
            total_bytes: per(t.bytes[d]),
            framing_bytes: per(t.framing_total(dir)),
            envelope_bytes: per(t.envelope[d]),
            data_bytes: per(t.data[d]),
            pending_bytes: per(t.pending(dir)),
            framing_by_kind: Framing::ALL
                .iter()
                .zip(t.framing[d])
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.name().to_owned(), per(n)))
                .collect(),
        }
    }
}

/// Header bytes of one name per operation, each way.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct HeaderBytes {
    pub sent: f64,
    pub received: f64,
}

/// Bytes of a cell.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Bytes {
    pub sent_per_op: Layers,
    pub received_per_op: Layers,
    /// Connection set-up (handshakes until ready: HTTP/2 preface and SETTINGS, WebSocket
    /// upgrade), per connection; reported apart and not included in the per-op figures.
    pub setup_sent_per_connection: f64,
    pub setup_received_per_connection: f64,
    /// Of those, the TLS handshake's bytes each way (tickets after it count in operations).
    #[serde(default)]
    pub setup_tls_sent_per_connection: f64,
    #[serde(default)]
    pub setup_tls_received_per_connection: f64,
    /// Round trips of the set-up: the times a new connection's client waited for the server
    /// before it was ready (TCP's own handshake not included).
    #[serde(default)]
    pub setup_round_trips_per_connection: f64,
    pub connections: u64,
    /// TLS connections whose session was resumed (of `connections`).
    #[serde(default)]
    pub connections_resumed: u64,
    /// TCP/IP header bytes per operation, estimated from the kernel's segment counts
    /// (both directions, 52 bytes a segment).
    pub tcp_ip_headers_per_op_estimate: f64,
    /// Header bytes per operation by header name (HTTP/1.1 header lines; HTTP/2 HPACK field
    /// representations, pseudo-headers included), as they crossed the wire.
    pub headers_per_op: BTreeMap<String, HeaderBytes>,
    /// HTTP/2 only: the header fields HPACK carried per operation, written out as HTTP/1.1
    /// writes them (`name: value` and a line end): beside the header block bytes on the wire
    /// (`h2_hpack` in `framing_by_kind` plus `:path` in the envelope), HPACK's saving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpack_written_out_per_op: Option<HeaderBytes>,
}

impl Bytes {
    pub(super) fn of(stats: &CellStats) -> Bytes {
        let ops = stats.ops.max(1) as f64;
        let conns = stats.connections.max(1) as f64;
        let mut headers = BTreeMap::new();
        for (slot, [sent, received]) in stats.wire.headers.iter().enumerate() {
            if sent + received > 0 {
                let name = crate::wire::tally::header_name(slot).unwrap_or_else(|| format!("slot {slot}"));
                headers
                    .insert(name, HeaderBytes { sent: *sent as f64 / ops, received: *received as f64 / ops });
            }
        }
        Bytes {
            sent_per_op: Layers::of(&stats.wire, Dir::Sent, ops),
            received_per_op: Layers::of(&stats.wire, Dir::Received, ops),
            setup_sent_per_connection: stats.setup.bytes[0] as f64 / conns,
            setup_received_per_connection: stats.setup.bytes[1] as f64 / conns,
            setup_tls_sent_per_connection: stats.tls_handshake[0] as f64 / conns,
            setup_tls_received_per_connection: stats.tls_handshake[1] as f64 / conns,
            setup_round_trips_per_connection: stats.setup_round_trips as f64 / conns,
            connections: stats.connections,
            connections_resumed: stats.resumed,
            tcp_ip_headers_per_op_estimate: stats.segments as f64
                * crate::kernel::HEADER_BYTES_PER_SEGMENT as f64
                / ops,
            headers_per_op: headers,
            hpack_written_out_per_op: (stats.wire.hpack_written_out.iter().sum::<u64>() > 0).then(|| {
                let [sent, received] = stats.wire.hpack_written_out;
                HeaderBytes { sent: sent as f64 / ops, received: received as f64 / ops }
            }),
        }
    }
}
