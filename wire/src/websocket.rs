//! WebSocket (RFC 6455): the HTTP/1.1 upgrade, then frames. Frame headers and masking keys
//! are framing, control frames (ping, pong, close) are framing, and each data message
//! (text or binary, reassembled from its fragments and unmasked) is a document the
//! protocol's [`DocRules`] classify. A data message the client sends is a request of the
//! wave count, one the server sends an answer, unless the rules call it control. A message
//! compressed by permessage-deflate (RSV1 on its first frame) is counted whole as data, as
//! a compressed HTTP body is: its envelope cannot be told apart on the wire.

use super::dissect::{Dissect, DocRules, WireError, attribute_doc, parse_buffered};
use super::docs::Doc;
use super::http1::Http1;
use super::tally::{Dir, Framing, Layer, Tally};

/// Largest message accepted.
const MAX_MESSAGE: usize = 1 << 28;

/// The upgrade request and its answer carry no documents.
#[derive(Debug)]
struct Handshake;

impl DocRules for Handshake {
    fn doc(&mut self, _: Dir, _: &str, _: &[u8]) -> Doc {
        Doc::OpaqueEnvelope
    }
}

#[derive(Debug, Default)]
struct Side {
    buf: Vec<u8>,
    /// The data message being reassembled.
    message: Vec<u8>,
    /// It is compressed (permessage-deflate).
    compressed: bool,
}

/// WebSocket with a protocol's document rules.
#[derive(Debug)]
pub struct WebSocket<R> {
    rules: R,
    handshake: Http1<Handshake>,
    upgraded: bool,
    sides: [Side; 2],
}

impl<R: DocRules> WebSocket<R> {
    pub fn new(rules: R) -> Self {
        WebSocket { rules, handshake: Http1::new(Handshake), upgraded: false, sides: Default::default() }
    }

    /// Parses every whole frame at the start of `buf`; returns the bytes consumed.
    fn frames(&mut self, dir: Dir, buf: &[u8], t: &mut Tally) -> Result<usize, WireError> {
        let mut pos = 0;
        while let Some((header, masked, len)) = frame_header(&buf[pos..]) {
            let mask_len = if masked { 4 } else { 0 };
            if len > MAX_MESSAGE {
                return Err(WireError(format!("WebSocket: a frame of {len} bytes")));
            }
            let size = header + mask_len + len;
            if buf.len() - pos < size {
                break;
            }
            self.frame(dir, &buf[pos..pos + size], header, masked, t)?;
            pos += size;
        }
        Ok(pos)
    }

    /// Attributes one whole frame (`header` bytes of header, a mask when `masked`).
    fn frame(
        &mut self,
        dir: Dir,
        frame: &[u8],
        header: usize,
        masked: bool,
        t: &mut Tally,
    ) -> Result<(), WireError> {
        let mask_len = if masked { 4 } else { 0 };
        let (fin, opcode) = (frame[0] & 0x80 != 0, frame[0] & 0x0f);
        let payload = &frame[header + mask_len..];
        if opcode >= 0x8 {
            t.attribute_control(dir, Framing::WsFrameHeaders, header);
            t.attribute_control(dir, Framing::WsMasks, mask_len);
            t.attribute(dir, Layer::Framing(Framing::WsControl), payload.len());
            return Ok(());
        }
        t.attribute(dir, Layer::Framing(Framing::WsFrameHeaders), header);
        t.attribute(dir, Layer::Framing(Framing::WsMasks), mask_len);
        let side = &mut self.sides[dir.index()];
        if opcode != 0 {
            side.compressed = frame[0] & 0x40 != 0;
        }
        let compressed = side.compressed;
        let message = &mut side.message;
        let start = message.len();
        message.extend_from_slice(payload);
        if masked {
            let key = &frame[header..header + 4];
            for (i, b) in message[start..].iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        if message.len() > MAX_MESSAGE {
            return Err(WireError("WebSocket: a message over the limit".into()));
        }
        if !fin {
            return Ok(());
        }
        let message = std::mem::take(message);
        if compressed {
            match dir {
                Dir::Sent => t.request(),
                Dir::Received => t.answer(),
            }
            attribute_doc(t, dir, Doc::OpaqueData, &message)?;
        } else if self.rules.control(&message) {
            t.attribute(dir, Layer::Envelope, message.len());
        } else {
            match dir {
                Dir::Sent => t.request(),
                Dir::Received => t.answer(),
            }
            let doc = self.rules.doc(dir, "", &message);
            attribute_doc(t, dir, doc, &message)?;
        }
        // Keep the allocation for the next message.
        let mut message = message;
        message.clear();
        self.sides[dir.index()].message = message;
        Ok(())
    }
}

impl<R: DocRules> Dissect for WebSocket<R> {
    fn alpn(&self) -> Option<&'static [u8]> {
        Some(b"http/1.1")
    }

    fn feed(&mut self, dir: Dir, bytes: &[u8], t: &mut Tally) -> Result<(), WireError> {
        if self.upgraded {
            let mut buf = std::mem::take(&mut self.sides[dir.index()].buf);
            let parsed = parse_buffered(&mut buf, bytes, |b| self.frames(dir, b, t));
            self.sides[dir.index()].buf = buf;
            return parsed;
        }
        self.handshake.feed(dir, bytes, t)?;
        if !self.handshake.upgraded() {
            return Ok(());
        }
        self.upgraded = true;
        for d in Dir::BOTH {
            let leftover = self.handshake.take_leftover(d);
            let used = self.frames(d, &leftover, t)?;
            self.sides[d.index()].buf.extend_from_slice(&leftover[used..]);
        }
        Ok(())
    }
}

/// A frame header's length, whether a mask follows, and the payload length; `None` until
/// the whole header is there.
fn frame_header(buf: &[u8]) -> Option<(usize, bool, usize)> {
    let (b1, masked) = (*buf.get(1)?, buf[1] & 0x80 != 0);
    match b1 & 0x7f {
        126 => Some((4, masked, usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])))),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            Some((10, masked, usize::try_from(u64::from_be_bytes(bytes)).unwrap_or(usize::MAX)))
        }
        n => Some((2, masked, usize::from(n))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::replay;

    struct Replies;
    impl DocRules for Replies {
        fn doc(&mut self, _: Dir, _: &str, _: &[u8]) -> Doc {
            Doc::Json(&["$.data"])
        }
        fn control(&self, doc: &[u8]) -> bool {
            doc == br#"{"type":"ping"}"#
        }
    }

    fn masked(payload: &[u8]) -> Vec<u8> {
        let key = [1, 2, 3, 4];
        let mut f = vec![0x81, 0x80 | payload.len() as u8];
        f.extend(key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    }

    #[test]
    fn an_upgrade_then_a_request_and_a_fragmented_reply_split_by_hand() {
        let upgrade = b"GET /ws HTTP/1.1\r\nupgrade: websocket\r\n\r\n";
        let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n".to_vec();
        // The reply in two fragments, with a ping between them.
        answer.extend([0x01, 10]);
        answer.extend(br#"{"data":{""#);
        answer.extend([0x89, 1, b'x']);
        answer.extend([0x00, 10]);
        answer.extend(br#"a":1},"i":"#);
        answer.extend([0x80, 2]);
        answer.extend(b"2}");
        let request = masked(br#"{"op":"get"}"#);
        let ping = masked(br#"{"type":"ping"}"#);
        let exchange: [(Dir, &[u8]); 5] = [
            (Dir::Sent, upgrade),
            (Dir::Received, &answer[..60]),
            (Dir::Sent, &request),
            (Dir::Received, &answer[60..]),
            (Dir::Sent, &ping),
        ];
        let (t, err) = replay(WebSocket::new(Replies), &exchange);
        assert_eq!(err, None);
        let f = |d: usize, k: Framing| t.framing[d][k as usize];
        // Sent: two frame headers of 2 bytes and two masks; the upgrade's target "/ws" (3
        // bytes), the request (12 bytes, no record) and the control ping (15 bytes): envelope.
        assert_eq!((f(0, Framing::WsFrameHeaders), f(0, Framing::WsMasks)), (4, 8));
        assert_eq!((t.data[0], t.envelope[0]), (0, 3 + 12 + 15));
        // Received: the reply {"data":{"a":1},"i":2} (22 bytes) whose record {"a":1} is 7
        // bytes; four frame headers, one byte of ping payload.
        assert_eq!((f(1, Framing::WsFrameHeaders), f(1, Framing::WsControl)), (8, 1));
        assert_eq!((t.data[1], t.envelope[1]), (7, 15));
        assert_eq!((t.pending(Dir::Sent), t.pending(Dir::Received)), (0, 0));
        // Upgrade + request: two waves (the handshake is one, before the op).
        assert_eq!((t.requests, t.answers, t.waves), (2, 2, 2));
    }
}
