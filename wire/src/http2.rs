//! HTTP/2, both directions: 9-byte frame headers, header blocks (HPACK, one field
//! representation at a time so each header's bytes are known by name; `:path` is the
//! request target, envelope), control frames and padding are framing; DATA payloads are
//! handed to the protocol's [`H2Bodies`] per stream.
//!
//! Waves: a request is the opening HEADERS of a client stream (or, for message protocols
//! over HTTP/2, each message the client sends, as [`H2Bodies`] says); an answer is the
//! first HEADERS the server sends on a stream (and whatever [`H2Bodies`] adds).

use super::dissect::{Dissect, DocRules, Streams, WireError, attribute_doc, parse_buffered};
use super::docs::Doc;
use super::tally::{Dir, Framing, HeaderSlots, Layer, Tally};

/// The client connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Largest frame payload accepted (HTTP/2 allows up to 2^24 - 1).
const MAX_FRAME: usize = 1 << 24;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// What a stream carries, as its headers said.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// What the stream's documents are, sent and received, from its `:method :path`.
    pub docs: [Doc; 2],
    /// The response's `:status` (0 until it arrives).
    pub status: u16,
    /// A body in this direction is compressed (`content-encoding`).
    pub encoded: [bool; 2],
}

impl Default for StreamInfo {
    fn default() -> Self {
        StreamInfo { docs: [Doc::OpaqueEnvelope; 2], status: 0, encoded: [false; 2] }
    }
}

/// What a protocol does with the DATA of its streams.
pub trait H2Bodies: Send {
    /// What a stream's documents are, sent and received, given its `:method :path`.
    fn docs(&mut self, route: &str) -> [Doc; 2];

    /// True when each request stream's opening HEADERS is a request of the wave count
    /// (REST); false when the bodies count requests themselves (gRPC messages).
    fn request_at_headers(&self) -> bool;

    /// A header beside `content-encoding` that names a body's coding, when the protocol has
    /// its own (none by default).
    fn coding_header(&self) -> Option<&'static [u8]> {
        None
    }

    /// DATA payload bytes of `stream` in `dir`; `end` when the stream ends in that direction.
    fn data(
        &mut self,
        dir: Dir,
        stream: &StreamInfo,
        id: u32,
        bytes: &[u8],
        end: bool,
        t: &mut Tally,
    ) -> Result<(), WireError>;
}

/// Bodies that are one document per stream and direction (REST and GraphQL over HTTP/2).
#[derive(Debug)]
pub struct DocBodies<R> {
    rules: R,
    open: Streams<(u32, usize), Vec<u8>>,
}

impl<R: DocRules> DocBodies<R> {
    pub fn new(rules: R) -> Self {
        DocBodies { rules, open: Streams::default() }
    }
}

impl<R: DocRules> H2Bodies for DocBodies<R> {
    fn docs(&mut self, route: &str) -> [Doc; 2] {
        [self.rules.doc(Dir::Sent, route, &[]), self.rules.doc(Dir::Received, route, &[])]
    }

    fn request_at_headers(&self) -> bool {
        true
    }

    fn data(
        &mut self,
        dir: Dir,
        stream: &StreamInfo,
        id: u32,
        bytes: &[u8],
        end: bool,
        t: &mut Tally,
    ) -> Result<(), WireError> {
        let key = (id, dir.index());
        if !end {
            self.open.get_or_default(key).extend_from_slice(bytes);
            return Ok(());
        }
        let buffered = self.open.remove(key);
        let body = match &buffered {
            // The whole body in one frame: classified where it lies.
            None => bytes,
            Some(_) => {
                let mut whole = buffered.unwrap_or_default();
                whole.extend_from_slice(bytes);
                return self.finish(dir, stream, &whole, t);
            }
        };
        self.finish(dir, stream, body, t)
    }
}

impl<R: DocRules> DocBodies<R> {
    fn finish(&mut self, dir: Dir, stream: &StreamInfo, body: &[u8], t: &mut Tally) -> Result<(), WireError> {
        let doc = if dir == Dir::Received && stream.status >= 300 {
            Doc::OpaqueEnvelope
        } else if stream.encoded[dir.index()] {
            Doc::OpaqueData
        } else {
            stream.docs[dir.index()]
        };
        attribute_doc(t, dir, doc, body)
    }
}

/// One direction's frame parser and header decoder.
struct Side {
    buf: Vec<u8>,
    /// Client preface bytes still expected (sent direction only).
    preface: usize,
    hpack: super::hpack::Decoder,
    /// A header block being assembled across CONTINUATION frames: stream, END_STREAM, bytes.
    block: Option<(u32, bool, Vec<u8>)>,
}

/// HTTP/2 with a protocol's body handling.
pub struct Http2<B> {
    bodies: B,
    sides: [Side; 2],
    /// Streams in progress (dropped once the answer ends or the stream is reset).
    streams: Streams<u32, StreamInfo>,
    /// `:method :path` of the request headers in hand (a buffer kept between requests).
    route: String,
    slots: HeaderSlots,
}

impl<B> std::fmt::Debug for Http2<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2").field("streams", &self.streams.len()).finish()
    }
}

/// A frame's header fields.
#[derive(Debug, Clone, Copy)]
struct FrameHead {
    kind: u8,
    flags: u8,
    id: u32,
}

impl<B: H2Bodies> Http2<B> {
    pub fn new(bodies: B) -> Self {
        let side =
            |preface| Side { buf: Vec::new(), preface, hpack: super::hpack::Decoder::default(), block: None };
        Http2 {
            bodies,
            sides: [side(PREFACE.len()), side(0)],
            streams: Streams::default(),
            route: String::new(),
            slots: HeaderSlots::default(),
        }
    }

    /// Parses every whole unit of `buf` from its start; returns how many bytes it consumed.
    fn units(&mut self, dir: Dir, buf: &[u8], t: &mut Tally) -> Result<usize, WireError> {
        let mut pos = 0;
        let preface = &mut self.sides[dir.index()].preface;
        if *preface > 0 {
            let n = (*preface).min(buf.len());
            let offset = PREFACE.len() - *preface;
            if buf[..n] != PREFACE[offset..offset + n] {
                return Err(WireError("HTTP/2: not the client preface".into()));
            }
            *preface -= n;
            t.attribute(dir, Layer::Framing(Framing::H2Control), n);
            pos = n;
        }
        while buf.len() - pos >= 9 {
            let h = &buf[pos..pos + 9];
            let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            if len > MAX_FRAME {
                return Err(WireError(format!("HTTP/2: a frame of {len} bytes")));
            }
            if buf.len() - pos < 9 + len {
                break;
            }
            let head = FrameHead {
                kind: h[3],
                flags: h[4],
                id: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
            };
            if matches!(head.kind, DATA | HEADERS | CONTINUATION) {
                t.attribute(dir, Layer::Framing(Framing::H2FrameHeaders), 9);
            } else {
                t.attribute_control(dir, Framing::H2FrameHeaders, 9);
            }
            self.frame(dir, head, &buf[pos + 9..pos + 9 + len], t)?;
            pos += 9 + len;
        }
        Ok(pos)
    }

    fn frame(&mut self, dir: Dir, h: FrameHead, payload: &[u8], t: &mut Tally) -> Result<(), WireError> {
        match h.kind {
            DATA => {
                let body = unpad(dir, h.flags, payload, 0, t)?;
                let end = h.flags & END_STREAM != 0;
                let stream = self.streams.get_or_default(h.id);
                self.bodies.data(dir, stream, h.id, body, end, t)?;
                if end && dir == Dir::Received {
                    self.streams.remove(h.id);
                }
                Ok(())
            }
            HEADERS => {
                let fragment = unpad(dir, h.flags, payload, if h.flags & PRIORITY != 0 { 5 } else { 0 }, t)?;
                let side = &mut self.sides[dir.index()];
                if side.block.is_some() {
                    return Err(WireError("HTTP/2: HEADERS inside a header block".into()));
                }
                side.block = Some((h.id, h.flags & END_STREAM != 0, fragment.to_vec()));
                self.end_block(dir, h.flags, t)
            }
            CONTINUATION => {
                let Some((_, _, block)) = self.sides[dir.index()].block.as_mut() else {
                    return Err(WireError("HTTP/2: CONTINUATION without HEADERS".into()));
                };
                block.extend_from_slice(payload);
                self.end_block(dir, h.flags, t)
            }
            _ => {
                if h.kind == RST_STREAM {
                    self.streams.remove(h.id);
                }
                t.attribute(dir, Layer::Framing(Framing::H2Control), payload.len());
                Ok(())
            }
        }
    }

    /// At END_HEADERS, attributes the header block field by field and updates the stream.
    fn end_block(&mut self, dir: Dir, flags: u8, t: &mut Tally) -> Result<(), WireError> {
        if flags & END_HEADERS == 0 {
            return Ok(());
        }
        let side = &mut self.sides[dir.index()];
        let (id, end_stream, block) = side.block.take().expect("a block is open");
        let opening = dir == Dir::Sent && !self.streams.contains(id);
        let stream = self.streams.get_or_default(id);
        let first_answer = dir == Dir::Received && stream.status == 0;
        let coding = self.bodies.coding_header();
        let slots = &mut self.slots;
        let route = &mut self.route;
        route.clear();
        side.hpack.fields(&block, |name, value, n| {
            t.header(dir, slots.slot(name), n);
            t.hpack_written_out[dir.index()] += (name.len() + ": ".len() + value.len() + "\r\n".len()) as u64;
            let layer = if name == b":path" { Layer::Envelope } else { Layer::Framing(Framing::Hpack) };
            t.attribute(dir, layer, n);
            match name {
                b":method" | b":path" if dir == Dir::Sent => {
                    if !route.is_empty() {
                        route.push(' ');
                    }
                    route.push_str(&String::from_utf8_lossy(value));
                }
                b":status" => {
                    stream.status = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
                }
                _ if name == b"content-encoding" || Some(name) == coding => {
                    stream.encoded[dir.index()] = value != b"identity";
                }
                _ => {}
            }
        })?;
        if opening {
            stream.docs = self.bodies.docs(&self.route);
        }
        match dir {
            Dir::Sent if opening && self.bodies.request_at_headers() => t.request(),
            Dir::Received if first_answer => t.answer(),
            _ => {}
        }
        if end_stream {
            // A stream that ends with its headers still ends its (empty) body.
            self.bodies.data(dir, stream, id, &[], true, t)?;
            if dir == Dir::Received {
                self.streams.remove(id);
            }
        }
        Ok(())
    }
}

impl<B: H2Bodies> Dissect for Http2<B> {
    fn alpn(&self) -> Option<&'static [u8]> {
        Some(b"h2")
    }

    fn feed(&mut self, dir: Dir, bytes: &[u8], t: &mut Tally) -> Result<(), WireError> {
        let mut buf = std::mem::take(&mut self.sides[dir.index()].buf);
        let parsed = parse_buffered(&mut buf, bytes, |b| self.units(dir, b, t));
        self.sides[dir.index()].buf = buf;
        parsed
    }
}

/// Strips padding (and `skip` priority bytes) off a frame payload, attributing them.
fn unpad<'a>(
    dir: Dir,
    flags: u8,
    payload: &'a [u8],
    skip: usize,
    t: &mut Tally,
) -> Result<&'a [u8], WireError> {
    let short = || WireError("HTTP/2: a frame shorter than its padding".into());
    let mut body = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = usize::from(*body.first().ok_or_else(short)?);
        body = &body[1..];
        t.attribute(dir, Layer::Framing(Framing::Padding), 1);
    }
    if body.len() < skip + pad {
        return Err(short());
    }
    t.attribute(dir, Layer::Framing(Framing::H2Control), skip);
    t.attribute(dir, Layer::Framing(Framing::Padding), pad);
    Ok(&body[skip..body.len() - pad])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::replay;

    struct Records;
    impl DocRules for Records {
        fn doc(&mut self, _: Dir, _: &str, _: &[u8]) -> Doc {
            Doc::Json(&["$"])
        }
    }

    fn frame(kind: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(id.to_be_bytes());
        f.extend(payload);
        f
    }

    /// HPACK literals without indexing, plain (no Huffman): `0x00 len name len value`.
    fn literal(name: &str, value: &str) -> Vec<u8> {
        let mut f = vec![0, name.len() as u8];
        f.extend(name.as_bytes());
        f.push(value.len() as u8);
        f.extend(value.as_bytes());
        f
    }

    #[test]
    fn a_get_and_its_answer_split_by_hand() {
        let mut sent = PREFACE.to_vec();
        sent.extend(frame(0x4, 0, 0, &[])); // SETTINGS, empty
        // :method GET is static index 2 (1 byte); :path as a literal (2 + 5 + 1 + 10 = 18).
        let mut block = vec![0x82];
        block.extend(literal(":path", "/v1/user/1"));
        sent.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
        // :status 200 is static index 8 (1 byte); a 10-byte body {"id":123} in two DATA frames.
        let mut received = frame(HEADERS, END_HEADERS, 1, &[0x88]);
        received.extend(frame(DATA, PADDED, 1, &[2, b'{', b'"', b'i', b'd', b'"', 0, 0]));
        received.extend(frame(DATA, END_STREAM, 1, b":123}"));
        let exchange: Vec<(Dir, &[u8])> = sent
            .chunks(7)
            .map(|c| (Dir::Sent, c))
            .chain(received.chunks(3).map(|c| (Dir::Received, c)))
            .collect();
        let (t, err) = replay(Http2::new(DocBodies::new(Records)), &exchange);
        assert_eq!(err, None);
        let f = |d: usize, k: Framing| t.framing[d][k as usize];
        // Sent: preface 24 + SETTINGS headers 9, HEADERS 9; the :method field 1 byte of HPACK;
        // the :path field 18 bytes of envelope.
        assert_eq!((f(0, Framing::H2Control), f(0, Framing::H2FrameHeaders)), (24, 18));
        assert_eq!((f(0, Framing::Hpack), t.envelope[0]), (1, 18));
        // Received: three frame headers, :status 1 byte, pad length 1 + 2 pad bytes, and the
        // 10-byte record.
        assert_eq!((f(1, Framing::H2FrameHeaders), f(1, Framing::Hpack), f(1, Framing::Padding)), (27, 1, 3));
        assert_eq!((t.data[1], t.envelope[1]), (10, 0));
        assert_eq!((t.pending(Dir::Sent), t.pending(Dir::Received)), (0, 0));
        assert_eq!((t.requests, t.answers, t.waves), (1, 1, 1));
        assert_eq!(t.headers[crate::tally::header_slot(b":path")][0], 18);
        // Written out: ":method: GET\r\n" (14) and ":path: /v1/user/1\r\n" (19) for 19 bytes
        // of HPACK; ":status: 200\r\n" (14) for 1.
        assert_eq!(t.hpack_written_out, [14 + 19, 14]);
    }
}
