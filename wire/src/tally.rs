//! What the counting layer knows about one connection, as plain numbers that a snapshot can
//! copy: bytes per direction and layer, framing by kind, header bytes by name, turns, and
//! request waves. Two snapshots subtract to what happened in between.
//!
//! Every byte that crosses the socket is counted in `bytes` when it passes, and attributed
//! to exactly one layer (a [`Framing`] kind, envelope or data) once the dissector has parsed
//! the unit it belongs to. Until then it is *pending*: `bytes = framing + envelope + data +
//! pending` holds at every moment, by construction.

use std::sync::Mutex;

/// A direction on the client's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Written by the client.
    Sent,
    /// Read by the client.
    Received,
}

impl Dir {
    pub const BOTH: [Dir; 2] = [Dir::Sent, Dir::Received];

    pub fn index(self) -> usize {
        match self {
            Dir::Sent => 0,
            Dir::Received => 1,
        }
    }
}

/// A kind of framing byte: what a transport adds around the documents it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Framing {
    /// HTTP/1.1 request and status lines, less the request target (which is envelope).
    StartLine,
    /// HTTP/1.1 header lines and the blank line that ends them.
    Headers,
    /// HTTP/1.1 chunk-size lines and chunk terminators.
    Chunking,
    /// HTTP/2's 9-byte frame headers.
    H2FrameHeaders,
    /// HTTP/2 header blocks (HPACK), less the `:path` field (envelope).
    Hpack,
    /// HTTP/2 control frames' payloads (SETTINGS, WINDOW_UPDATE, PING, RST_STREAM, GOAWAY,
    /// PRIORITY) and the connection preface.
    H2Control,
    /// Padding (HTTP/2 pad lengths and pad bytes).
    Padding,
    /// WebSocket frame headers (opcode, flags, payload length).
    WsFrameHeaders,
    /// WebSocket masking keys (4 bytes per client frame).
    WsMasks,
    /// WebSocket control frames' payloads (ping, pong, close).
    WsControl,
    /// Length prefixes and type tags of message protocols (gRPC's 5 bytes, the floor's 4 + 1).
    MessagePrefixes,
    /// TLS record headers, and per application-data record its inner content type and AEAD
    /// tag.
    TlsRecords,
    /// The TLS handshake (every byte until it is done, record headers included) and TLS
    /// messages after it that carry no application data (session tickets, alerts).
    TlsHandshake,
    /// Bytes the dissector could not parse (a broken or unknown stream). Never expected: a
    /// test and the equivalence gate check it stays zero.
    Unparsed,
}

impl Framing {
    pub const ALL: [Framing; 14] = [
        Framing::StartLine,
        Framing::Headers,
        Framing::Chunking,
        Framing::H2FrameHeaders,
        Framing::Hpack,
        Framing::H2Control,
        Framing::Padding,
        Framing::WsFrameHeaders,
        Framing::WsMasks,
        Framing::WsControl,
        Framing::MessagePrefixes,
        Framing::TlsRecords,
        Framing::TlsHandshake,
        Framing::Unparsed,
    ];

    /// The name results.json and the report use.
    pub fn name(self) -> &'static str {
        match self {
            Framing::StartLine => "http1_start_lines",
            Framing::Headers => "http1_headers",
            Framing::Chunking => "http1_chunking",
            Framing::H2FrameHeaders => "h2_frame_headers",
            Framing::Hpack => "h2_hpack",
            Framing::H2Control => "h2_control",
            Framing::Padding => "padding",
            Framing::WsFrameHeaders => "ws_frame_headers",
            Framing::WsMasks => "ws_masks",
            Framing::WsControl => "ws_control",
            Framing::MessagePrefixes => "message_prefixes",
            Framing::TlsRecords => "tls_records",
            Framing::TlsHandshake => "tls_handshake",
            Framing::Unparsed => "unparsed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Control kinds: bytes that are neither a request nor an answer.
    pub fn is_control(self) -> bool {
        matches!(self, Framing::H2Control | Framing::WsControl | Framing::TlsHandshake)
    }
}

/// Which layer a byte belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Framing(Framing),
    /// The protocol's own wrapper around the data.
    Envelope,
    /// The domain records themselves.
    Data,
}

/// Header names tracked by name, process-wide; past this, names share the "(other)" slot.
pub const HEADER_SLOTS: usize = 64;

/// The numbers of one connection (or their difference between two snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Every byte through the socket, per direction.
    pub bytes: [u64; 2],
    /// Framing bytes per direction and kind ([`Framing::ALL`] order).
    pub framing: [[u64; Framing::ALL.len()]; 2],
    pub envelope: [u64; 2],
    pub data: [u64; 2],
    /// Header bytes (HTTP/1.1 lines, HPACK field representations) per name slot and
    /// direction; names in [`header_name`].
    pub headers: [[u64; 2]; HEADER_SLOTS],
    /// The header fields HPACK carried, per direction, as HTTP/1.1 writes fields out
    /// (`name: value` and a line end, pseudo-headers included): what HPACK's bytes stand for.
    pub hpack_written_out: [u64; 2],
    /// Direction changes, counting the first run.
    pub turns: u64,
    /// Request waves (see [`Tally::request`]).
    pub waves: u64,
    /// Requests the client sent and answers that began to arrive.
    pub requests: u64,
    pub answers: u64,
    /// Received bytes attributed to answers (every layer but control frames): when this
    /// grows, an answer progressed — the counting layer's clock for "last byte of the answer".
    pub answer_bytes: u64,
    /// Wave state: an answer began to arrive since the current wave started (or none
    /// started yet).
    answered: bool,
    /// The direction of the last bytes, for turns.
    last_dir: Option<Dir>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            bytes: [0; 2],
            framing: [[0; Framing::ALL.len()]; 2],
            envelope: [0; 2],
            data: [0; 2],
            headers: [[0; 2]; HEADER_SLOTS],
            hpack_written_out: [0; 2],
            turns: 0,
            waves: 0,
            requests: 0,
            answers: 0,
            answer_bytes: 0,
            answered: true,
            last_dir: None,
        }
    }
}

impl Tally {
    /// `n` bytes crossed the socket in `dir` (not yet attributed).
    pub fn seen(&mut self, dir: Dir, n: usize) {
        if n == 0 {
            return;
        }
        self.bytes[dir.index()] += n as u64;
        if self.last_dir != Some(dir) {
            self.turns += 1;
            self.last_dir = Some(dir);
        }
    }

    /// Attributes `n` bytes in `dir` to `layer`.
    pub fn attribute(&mut self, dir: Dir, layer: Layer, n: usize) {
        let control = matches!(layer, Layer::Framing(kind) if kind.is_control());
        if dir == Dir::Received && !control {
            self.answer_bytes += n as u64;
        }
        self.put(dir, layer, n);
    }

    /// Attributes `n` bytes of a control frame's header (HTTP/2 SETTINGS, PING, WebSocket
    /// ping...) to `kind`: like [`Tally::attribute`], but they are no progress of an answer.
    pub fn attribute_control(&mut self, dir: Dir, kind: Framing, n: usize) {
        self.put(dir, Layer::Framing(kind), n);
    }

    fn put(&mut self, dir: Dir, layer: Layer, n: usize) {
        let n = n as u64;
        let d = dir.index();
        match layer {
            Layer::Framing(kind) => self.framing[d][kind.index()] += n,
            Layer::Envelope => self.envelope[d] += n,
            Layer::Data => self.data[d] += n,
        }
    }

    /// Counts `n` header bytes under the name in `slot` (see [`HeaderSlots`]); their layer
    /// is attributed apart.
    pub fn header(&mut self, dir: Dir, slot: usize, n: usize) {
        self.headers[slot][dir.index()] += n as u64;
    }

    /// A request left. It starts a new wave when an answer began to arrive since the
    /// current wave started: a wave is the requests that left before any answer to them.
    pub fn request(&mut self) {
        self.requests += 1;
        if self.answered {
            self.waves += 1;
            self.answered = false;
        }
    }

    /// An answer began to arrive (control frames are neither requests nor answers).
    pub fn answer(&mut self) {
        self.answers += 1;
        self.answered = true;
    }

    /// Framing bytes in `dir`, every kind.
    pub fn framing_total(&self, dir: Dir) -> u64 {
        self.framing[dir.index()].iter().sum()
    }

    /// Bytes seen in `dir` that are not attributed yet.
    ///
    /// Never negative: under TLS, plaintext is dissected when the client writes it, and the
    /// records that carry it may reach the socket a moment later.
    pub fn pending(&self, dir: Dir) -> u64 {
        let d = dir.index();
        self.bytes[d].saturating_sub(self.framing_total(dir) + self.envelope[d] + self.data[d])
    }

    /// What happened between `earlier` and `self` (counters only; state is dropped).
    pub fn since(&self, earlier: &Tally) -> Tally {
        let mut d = Tally { answered: false, last_dir: None, ..*self };
        for i in 0..2 {
            d.bytes[i] -= earlier.bytes[i];
            d.envelope[i] -= earlier.envelope[i];
            d.data[i] -= earlier.data[i];
            d.hpack_written_out[i] -= earlier.hpack_written_out[i];
            for k in 0..Framing::ALL.len() {
                d.framing[i][k] -= earlier.framing[i][k];
            }
        }
        for (h, e) in d.headers.iter_mut().zip(&earlier.headers) {
            h[0] -= e[0];
            h[1] -= e[1];
        }
        d.turns -= earlier.turns;
        d.waves -= earlier.waves;
        d.requests -= earlier.requests;
        d.answers -= earlier.answers;
        d.answer_bytes -= earlier.answer_bytes;
        d
    }

    /// Adds the counters of `other` (for summing operations or connections).
    pub fn add(&mut self, other: &Tally) {
        for i in 0..2 {
            self.bytes[i] += other.bytes[i];
            self.envelope[i] += other.envelope[i];
            self.data[i] += other.data[i];
            self.hpack_written_out[i] += other.hpack_written_out[i];
            for k in 0..Framing::ALL.len() {
                self.framing[i][k] += other.framing[i][k];
            }
        }
        for (h, o) in self.headers.iter_mut().zip(&other.headers) {
            h[0] += o[0];
            h[1] += o[1];
        }
        self.turns += other.turns;
        self.waves += other.waves;
        self.requests += other.requests;
        self.answers += other.answers;
        self.answer_bytes += other.answer_bytes;
    }
}

/// Slot 0 collects the names that found no slot of their own.
const OTHER: &str = "(other)";

/// The process-wide table of header names (lower case) by slot.
static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The slot of a header name, assigned on first sight (names compare without case).
pub(crate) fn header_slot(name: &[u8]) -> usize {
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if names.is_empty() {
        names.push(OTHER.to_owned());
    }
    if let Some(i) = names.iter().position(|n| n.as_bytes().eq_ignore_ascii_case(name)) {
        return i;
    }
    if names.len() == HEADER_SLOTS {
        return 0;
    }
    names.push(String::from_utf8_lossy(name).to_ascii_lowercase());
    names.len() - 1
}

/// A connection's own memory of header name → slot, so the process-wide table (behind a
/// lock shared by every client thread) is consulted once per name and connection.
#[derive(Debug, Default)]
pub struct HeaderSlots {
    known: Vec<(Box<[u8]>, usize)>,
}

impl HeaderSlots {
    pub fn slot(&mut self, name: &[u8]) -> usize {
        // Exact matches first: a server spells a header the same way every time.
        if let Some((_, slot)) = self.known.iter().find(|(n, _)| **n == *name) {
            return *slot;
        }
        if let Some((_, slot)) = self.known.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return *slot;
        }
        let slot = header_slot(name);
        self.known.push((name.into(), slot));
        slot
    }
}

/// The name of a header slot, if it has one.
pub fn header_name(slot: usize) -> Option<String> {
    NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(slot).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_and_pending_add_up_and_snapshots_subtract() {
        let mut t = Tally::default();
        t.seen(Dir::Sent, 10);
        t.attribute(Dir::Sent, Layer::Framing(Framing::Headers), 4);
        t.attribute(Dir::Sent, Layer::Envelope, 3);
        assert_eq!(t.pending(Dir::Sent), 3);
        let before = t;
        t.attribute(Dir::Sent, Layer::Data, 3);
        t.seen(Dir::Received, 5);
        t.attribute(Dir::Received, Layer::Data, 5);
        let d = t.since(&before);
        assert_eq!((d.bytes, d.data, d.turns), ([0, 5], [3, 5], 1));
        assert_eq!(t.pending(Dir::Sent) + t.pending(Dir::Received), 0);
    }

    #[test]
    fn waves_are_requests_sent_before_any_answer() {
        let mut t = Tally::default();
        // Two requests before any answer: one wave; a request after an answer: a second.
        t.request();
        t.request();
        t.answer();
        t.answer();
        t.request();
        t.answer();
        assert_eq!((t.requests, t.answers, t.waves), (3, 3, 2));
    }

    #[test]
    fn header_names_share_slots_without_case() {
        let a = header_slot(b"X-Test-Header");
        assert_eq!(header_slot(b"x-test-header"), a);
        assert_eq!(header_name(a).as_deref(), Some("x-test-header"));
        assert_ne!(header_slot(b"x-other-test-header"), a);
    }
}
