//! HTTP/2, both directions: 9-byte frame headers, header blocks (HPACK, one field
//! representation at a time so each header's bytes are known by name; `:path` is the
//! request target, envelope), control frames and padding are framing; DATA payloads are
//! handed to the protocol's [`H2Bodies`] per stream.
//!
//! Waves: a request is the opening HEADERS of a client stream (or, for message protocols
//! over HTTP/2, each message the client sends, as [`H2Bodies`] says); an answer is the
//! first HEADERS the server sends on a stream (and whatever [`H2Bodies`] adds).

use std::collections::HashMap;

use super::dissect::{Dissect, DocRules, WireError, attribute_doc};
use super::docs::Doc;
use super::tally::{Dir, Framing, Layer, Tally};

/// The client connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Largest frame payload accepted (HTTP/2 allows up to 2^24 - 1).
const MAX_FRAME: usize = 1 << 24;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// What a stream carries, as its headers said.
#[derive(Debug, Default, Clone)]
pub struct StreamInfo {
    /// `:method :path` of the request.
    pub route: String,
    /// The response's `:status` (0 until it arrives).
    pub status: u16,
    /// A body in this direction is compressed (`content-encoding`).
    pub encoded: [bool; 2],
}

/// What a protocol does with the DATA of its streams.
pub trait H2Bodies: Send {
    /// True when each request stream's opening HEADERS is a request of the wave count
    /// (REST); false when the bodies count requests themselves (gRPC messages).
    fn request_at_headers(&self) -> bool;

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
    open: HashMap<(u32, usize), Vec<u8>>,
}

impl<R: DocRules> DocBodies<R> {
    pub fn new(rules: R) -> Self {
        DocBodies { rules, open: HashMap::new() }
    }
}

impl<R: DocRules> H2Bodies for DocBodies<R> {
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
        let body = self.open.entry((id, dir.index())).or_default();
        body.extend_from_slice(bytes);
        if !end {
            return Ok(());
        }
        let body = self.open.remove(&(id, dir.index())).unwrap_or_default();
        let doc = if dir == Dir::Received && stream.status >= 300 {
            Doc::OpaqueEnvelope
        } else if stream.encoded[dir.index()] {
            Doc::OpaqueData
        } else {
            self.rules.doc(dir, &stream.route, &body)
        };
        attribute_doc(t, dir, doc, &body)
    }
}

/// One direction's frame parser and header decoder.
struct Side {
    buf: Vec<u8>,
    /// Client preface bytes still expected (sent direction only).
    preface: usize,
    hpack: fluke_hpack::Decoder<'static>,
    /// A header block being assembled across CONTINUATION frames: stream, END_STREAM, bytes.
    block: Option<(u32, bool, Vec<u8>)>,
}

/// HTTP/2 with a protocol's body handling.
pub struct Http2<B> {
    bodies: B,
    sides: [Side; 2],
    streams: HashMap<u32, StreamInfo>,
}

impl<B> std::fmt::Debug for Http2<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2").field("streams", &self.streams.len()).finish()
    }
}

impl<B: H2Bodies> Http2<B> {
    pub fn new(bodies: B) -> Self {
        let side =
            |preface| Side { buf: Vec::new(), preface, hpack: fluke_hpack::Decoder::new(), block: None };
        Http2 { bodies, sides: [side(PREFACE.len()), side(0)], streams: HashMap::new() }
    }

    /// Parses the next whole unit of `dir`; false when more bytes are needed.
    fn step(&mut self, dir: Dir, t: &mut Tally) -> Result<bool, WireError> {
        let side = &mut self.sides[dir.index()];
        if side.preface > 0 {
            let n = side.preface.min(side.buf.len());
            if n == 0 {
                return Ok(false);
            }
            let offset = PREFACE.len() - side.preface;
            if side.buf[..n] != PREFACE[offset..offset + n] {
                return Err(WireError("HTTP/2: not the client preface".into()));
            }
            side.buf.drain(..n);
            side.preface -= n;
            t.attribute(dir, Layer::Framing(Framing::H2Control), n);
            return Ok(true);
        }
        if side.buf.len() < 9 {
            return Ok(false);
        }
        let len = usize::from(side.buf[0]) << 16 | usize::from(side.buf[1]) << 8 | usize::from(side.buf[2]);
        if len > MAX_FRAME {
            return Err(WireError(format!("HTTP/2: a frame of {len} bytes")));
        }
        if side.buf.len() < 9 + len {
            return Ok(false);
        }
        let (kind, flags) = (side.buf[3], side.buf[4]);
        let id = u32::from_be_bytes([side.buf[5], side.buf[6], side.buf[7], side.buf[8]]) & 0x7fff_ffff;
        let frame: Vec<u8> = side.buf.drain(..9 + len).collect();
        t.attribute(dir, Layer::Framing(Framing::H2FrameHeaders), 9);
        self.frame(dir, kind, flags, id, &frame[9..], t)?;
        Ok(true)
    }

    fn frame(
        &mut self,
        dir: Dir,
        kind: u8,
        flags: u8,
        id: u32,
        payload: &[u8],
        t: &mut Tally,
    ) -> Result<(), WireError> {
        match kind {
            DATA => {
                let body = unpad(dir, flags, payload, 0, t)?;
                let stream = self.streams.entry(id).or_default().clone();
                self.bodies.data(dir, &stream, id, body, flags & END_STREAM != 0, t)
            }
            HEADERS => {
                let fragment = unpad(dir, flags, payload, if flags & PRIORITY != 0 { 5 } else { 0 }, t)?;
                let side = &mut self.sides[dir.index()];
                if side.block.is_some() {
                    return Err(WireError("HTTP/2: HEADERS inside a header block".into()));
                }
                side.block = Some((id, flags & END_STREAM != 0, fragment.to_vec()));
                self.end_block(dir, flags, t)
            }
            CONTINUATION => {
                let side = &mut self.sides[dir.index()];
                let Some((_, _, block)) = side.block.as_mut() else {
                    return Err(WireError("HTTP/2: CONTINUATION without HEADERS".into()));
                };
                block.extend_from_slice(payload);
                self.end_block(dir, flags, t)
            }
            _ => {
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
        let fields = hpack_fields(&mut side.hpack, &block)?;
        let opening = !self.streams.contains_key(&id) || self.streams[&id].route.is_empty();
        let stream = self.streams.entry(id).or_default();
        let mut first_answer = false;
        for (name, value, n) in fields {
            t.header(dir, &name, n);
            let layer = if name == b":path" { Layer::Envelope } else { Layer::Framing(Framing::Hpack) };
            t.attribute(dir, layer, n);
            match &name[..] {
                b":method" | b":path" if dir == Dir::Sent => {
                    if !stream.route.is_empty() {
                        stream.route.push(' ');
                    }
                    stream.route.push_str(&String::from_utf8_lossy(&value));
                }
                b":status" => {
                    first_answer = stream.status == 0;
                    stream.status =
                        std::str::from_utf8(&value).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
                }
                b"content-encoding" | b"grpc-encoding" => stream.encoded[dir.index()] = value != b"identity",
                _ => {}
            }
        }
        match dir {
            Dir::Sent if opening && self.bodies.request_at_headers() => t.request(),
            Dir::Received if first_answer => t.answer(),
            _ => {}
        }
        if end_stream {
            // A stream that ends with its headers still ends its (empty) body.
            let stream = stream.clone();
            self.bodies.data(dir, &stream, id, &[], true, t)?;
        }
        Ok(())
    }
}

impl<B: H2Bodies> Dissect for Http2<B> {
    fn feed(&mut self, dir: Dir, bytes: &[u8], t: &mut Tally) -> Result<(), WireError> {
        self.sides[dir.index()].buf.extend_from_slice(bytes);
        while self.step(dir, t)? {}
        Ok(())
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

/// A header field as decoded, with the bytes its representation took: name, value, length.
type Field = (Vec<u8>, Vec<u8>, usize);

/// Every field representation of a header block. A dynamic table size update counts with the
/// field after it.
fn hpack_fields(decoder: &mut fluke_hpack::Decoder<'static>, block: &[u8]) -> Result<Vec<Field>, WireError> {
    let bad = || WireError("HTTP/2: an HPACK block that does not parse".into());
    let mut fields = Vec::new();
    let (mut start, mut pos) = (0, 0);
    while pos < block.len() {
        let b = block[pos];
        let (size_update, len) = if b & 0x80 != 0 {
            (false, integer(&block[pos..], 7).ok_or_else(bad)?.1)
        } else if b & 0xe0 == 0x20 {
            (true, integer(&block[pos..], 5).ok_or_else(bad)?.1)
        } else {
            let prefix = if b & 0xc0 == 0x40 { 6 } else { 4 };
            let (index, mut len) = integer(&block[pos..], prefix).ok_or_else(bad)?;
            if index == 0 {
                len += string_len(block.get(pos + len..).ok_or_else(bad)?).ok_or_else(bad)?;
            }
            (false, len + string_len(block.get(pos + len..).ok_or_else(bad)?).ok_or_else(bad)?)
        };
        pos += len;
        if pos > block.len() {
            return Err(bad());
        }
        if size_update {
            continue;
        }
        let mut field = None;
        decoder
            .decode_with_cb(&block[start..pos], |name, value| {
                field = Some((name.into_owned(), value.into_owned()))
            })
            .map_err(|e| WireError(format!("HTTP/2: HPACK: {e:?}")))?;
        let (name, value) = field.ok_or_else(bad)?;
        fields.push((name, value, pos - start));
        start = pos;
    }
    if start != block.len() {
        return Err(bad());
    }
    Ok(fields)
}

/// An HPACK integer with an `n`-bit prefix: value and encoded length.
fn integer(buf: &[u8], n: u8) -> Option<(usize, usize)> {
    let mask = (1usize << n) - 1;
    let first = usize::from(*buf.first()?) & mask;
    if first < mask {
        return Some((first, 1));
    }
    let (mut value, mut shift) = (mask, 0);
    for (i, b) in buf.iter().enumerate().skip(1).take(5) {
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The encoded length of an HPACK string literal.
fn string_len(buf: &[u8]) -> Option<usize> {
    let (len, n) = integer(buf, 7)?;
    Some(n + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::dissect::replay;

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
        assert_eq!(t.headers[crate::wire::tally::header_slot(b":path")][0], 18);
    }

    #[test]
    fn hpack_integers_and_bad_blocks() {
        assert_eq!(integer(&[0x0a], 5), Some((10, 1)));
        assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 5), Some((1337, 3)));
        assert_eq!(integer(&[0x1f, 0x9a], 5), None);
        let mut d = fluke_hpack::Decoder::new();
        assert!(hpack_fields(&mut d, &[0x00, 0x05, b'a']).is_err());
    }
}
