//! What a cell's sockets carried, per operation and per connection, as results.json has it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
