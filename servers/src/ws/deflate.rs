//! permessage-deflate (RFC 7692) for tungstenite, which has no extensions: a layer between
//! the socket and the library that rewrites frames, so the library reads and writes plain
//! messages while compressed ones cross the wire.
//!
//! The layer watches the opening handshake pass through it. When the server's `101` answer
//! accepts `permessage-deflate`, every data message it sends afterwards is compressed (raw
//! DEFLATE with a sync flush, the four trailing bytes `00 00 ff ff` removed, RSV1 set on its
//! first frame), and every message it receives with RSV1 set is reassembled from its
//! fragments and inflated (under a size limit) into one plain frame for the library.
//! Control frames and messages without RSV1 pass as they are. Both sides keep their LZ77
//! window between messages (context takeover) unless the handshake says otherwise. No
//! answer accepting the extension, or an answer other than `101`: every byte passes
//! untouched.
//!
//! The server side agrees in [`negotiate`]: it takes the first `permessage-deflate` offer
//! whose parameters it can honour. Window sizes below 15 bits are declined (the DEFLATE
//! backend has one window size), so such an offer gets an uncompressed connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The extension's token in `Sec-WebSocket-Extensions`.
pub const EXTENSION: &str = "permessage-deflate";
/// DEFLATE level of compressed messages (zlib's default, as `gzip -6`).
pub const LEVEL: u32 = 6;
/// The marker a sync flush ends with, which the extension leaves off the wire.
const SYNC_TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// Largest HTTP head the layer watches for; a longer one turns the layer off.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes waiting to reach the socket beyond which writes wait for the socket.
const HIGH_WATER: usize = 256 * 1024;

/// What the two sides agreed, read from the server's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Agreed {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
}

impl Agreed {
    /// The header value that accepts this agreement.
    pub fn header(self) -> String {
        let mut value = EXTENSION.to_string();
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        value
    }

    /// The agreement a server's `Sec-WebSocket-Extensions` value states, if it accepts the
    /// extension.
    pub fn from_answer(value: &str) -> Option<Agreed> {
        offers(value).find(|(name, _)| name.eq_ignore_ascii_case(EXTENSION)).map(|(_, params)| Agreed {
            server_no_context_takeover: params.iter().any(|(k, _)| k == "server_no_context_takeover"),
            client_no_context_takeover: params.iter().any(|(k, _)| k == "client_no_context_takeover"),
        })
    }
}

/// The server's choice among a client's `Sec-WebSocket-Extensions` values: the first
/// `permessage-deflate` offer it can honour, or none.
pub fn negotiate<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Agreed> {
    values.into_iter().flat_map(offers).find_map(|(name, params)| {
        if !name.eq_ignore_ascii_case(EXTENSION) {
            return None;
        }
        let mut agreed = Agreed::default();
        for (key, value) in &params {
            match (key.as_str(), value.as_deref()) {
                ("server_no_context_takeover", None) => agreed.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => agreed.client_no_context_takeover = true,
                // The client may use any window it likes up to 15 bits: ours inflates all.
                ("client_max_window_bits", _) => {}
                ("server_max_window_bits", Some("15")) => {}
                _ => return None,
            }
        }
        Some(agreed)
    })
}

/// The extensions of one header value: each name with its parameters (unquoted).
fn offers(value: &str) -> impl Iterator<Item = (String, Vec<(String, Option<String>)>)> + '_ {
    value.split(',').filter(|o| !o.trim().is_empty()).map(|offer| {
        let mut parts = offer.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default().to_string();
        let params = parts
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().trim_matches('"').to_string())),
                None => (p.to_ascii_lowercase(), None),
            })
            .collect();
        (name, params)
    })
}

/// Which end of the connection the layer sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// Where time spent inflating is counted (a client counts it as decoding).
pub trait Clock {
    fn time<T>(&self, work: impl FnOnce() -> T) -> T;
}

impl Clock for () {
    fn time<T>(&self, work: impl FnOnce() -> T) -> T {
        work()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The opening handshake is passing through.
    Handshake,
    /// No extension: bytes pass untouched.
    Plain,
    Deflate,
}

/// One direction's bytes: what came in and is not processed yet, and what is processed and
/// not taken yet.
#[derive(Debug, Default)]
struct Way {
    raw: BytesMut,
    done: BytesMut,
    /// The HTTP head in this direction has passed.
    head_passed: bool,
}

/// The compression state of a connection that agreed on the extension.
struct Codec {
    compress: Compress,
    decompress: Decompress,
    /// Reset the compressor after every message.
    reset_own: bool,
    /// A compressed message being received: its opcode and payload so far.
    receiving: Option<(u8, Vec<u8>)>,
    /// The library is sending a fragmented message, which goes uncompressed.
    sending_fragments: bool,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec").field("reset_own", &self.reset_own).finish_non_exhaustive()
    }
}

/// A socket with permessage-deflate for tungstenite (see the module's documentation).
#[derive(Debug)]
pub struct Deflating<S, K = ()> {
    inner: S,
    role: Role,
    clock: K,
    /// Largest message inflated.
    limit: usize,
    mode: Mode,
    codec: Option<Box<Codec>>,
    /// Bytes from the socket, toward the library.
    inbound: Way,
    /// Bytes from the library, toward the socket.
    outbound: Way,
}

impl<S> Deflating<S, ()> {
    /// A server's socket whose inflated messages may reach `limit` bytes.
    pub fn server(inner: S, limit: usize) -> Self {
        Deflating::new(inner, Role::Server, (), limit)
    }
}

impl<S, K: Clock> Deflating<S, K> {
    pub fn new(inner: S, role: Role, clock: K, limit: usize) -> Self {
        Deflating {
            inner,
            role,
            clock,
            limit,
            mode: Mode::Handshake,
            codec: None,
            inbound: Way::default(),
            outbound: Way::default(),
        }
    }

    /// The agreement, once the handshake has passed (`None`: no compression).
    pub fn agreed(&self) -> Option<bool> {
        match self.mode {
            Mode::Handshake => None,
            Mode::Plain => Some(false),
            Mode::Deflate => Some(true),
        }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Processes what `way` holds: the HTTP head while the handshake passes, then frames.
    fn process(&mut self, outbound: bool) -> io::Result<()> {
        let answer_way = outbound == (self.role == Role::Server);
        let way = if outbound { &mut self.outbound } else { &mut self.inbound };
        if !way.head_passed {
            let Some(end) = way.raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
                if way.raw.len() > MAX_HEAD {
                    self.mode = Mode::Plain;
                }
                return self.pass_through(outbound);
            };
            let head = way.raw.split_to(end);
            way.head_passed = true;
            if answer_way {
                self.decide(&head);
            }
            let way = if outbound { &mut self.outbound } else { &mut self.inbound };
            way.done.extend_from_slice(&head);
        }
        match self.mode {
            // Frames wait until the answer has decided.
            Mode::Handshake => Ok(()),
            Mode::Plain => self.pass_through(outbound),
            Mode::Deflate => self.frames(outbound),
        }
    }

    fn pass_through(&mut self, outbound: bool) -> io::Result<()> {
        if self.mode == Mode::Plain {
            let way = if outbound { &mut self.outbound } else { &mut self.inbound };
            let raw = way.raw.split();
            way.done.unsplit(raw);
        }
        Ok(())
    }

    /// Reads the server's answer head: `101` that accepts the extension turns it on.
    fn decide(&mut self, head: &[u8]) {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let switching = lines.next().is_some_and(|status| status.split(' ').nth(1) == Some("101"));
        let agreed = lines
            .filter_map(|l| l.split_once(':'))
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
            .find_map(|(_, value)| Agreed::from_answer(value));
        match agreed.filter(|_| switching) {
            Some(agreed) => {
                let reset_own = match self.role {
                    Role::Server => agreed.server_no_context_takeover,
                    Role::Client => agreed.client_no_context_takeover,
                };
                self.codec = Some(Box::new(Codec {
                    compress: Compress::new(Compression::new(LEVEL), false),
                    decompress: Decompress::new(false),
                    reset_own,
                    receiving: None,
                    sending_fragments: false,
                }));
                self.mode = Mode::Deflate;
            }
            None => self.mode = Mode::Plain,
        }
    }

    /// Rewrites every whole frame of one direction.
    fn frames(&mut self, outbound: bool) -> io::Result<()> {
        let codec = self.codec.as_deref_mut().expect("deflate mode has a codec");
        let way = if outbound { &mut self.outbound } else { &mut self.inbound };
        while let Some(frame) = Frame::parse(&way.raw)? {
            let bytes = way.raw.split_to(frame.size);
            if outbound {
                codec.send(&frame, &bytes, &mut way.done)?;
            } else {
                let (limit, clock) = (self.limit, &self.clock);
                codec.receive(&frame, &bytes, &mut way.done, limit, clock)?;
            }
        }
        Ok(())
    }

    /// Writes what is processed to the socket until all of it is out or the socket waits.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        while !self.outbound.done.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.outbound.done))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.outbound.done.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

/// One frame's header, read from the start of a buffer.
#[derive(Debug)]
struct Frame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// Where the payload starts, and the whole frame's size.
    payload_at: usize,
    size: usize,
}

impl Frame {
    /// The frame at the start of `buf`, once all of it is there.
    fn parse(buf: &[u8]) -> io::Result<Option<Frame>> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        let (mut at, len) = match b1 & 0x7f {
            126 => match buf.get(2..4) {
                Some(b) => (4, u64::from(u16::from_be_bytes([b[0], b[1]]))),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => (10, u64::from_be_bytes(b.try_into().expect("eight bytes"))),
                None => return Ok(None),
            },
            n => (2, u64::from(n)),
        };
        let mask = if b1 & 0x80 != 0 {
            let Some(key) = buf.get(at..at + 4) else { return Ok(None) };
            at += 4;
            Some(key.try_into().expect("four bytes"))
        } else {
            None
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= 1 << 40)
            .ok_or_else(|| invalid("a frame longer than any message"))?;
        if buf.len() < at + len {
            return Ok(None);
        }
        let (fin, rsv1, opcode) = (b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0f);
        Ok(Some(Frame { fin, rsv1, opcode, mask, payload_at: at, size: at + len }))
    }

    /// The payload of `bytes` (this frame), unmasked.
    fn payload(&self, bytes: &[u8]) -> Vec<u8> {
        let mut payload = bytes[self.payload_at..self.size].to_vec();
        if let Some(key) = self.mask {
            unmask(&mut payload, key);
        }
        payload
    }
}

fn unmask(payload: &mut [u8], key: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("permessage-deflate: {what}"))
}

/// Appends a frame: `first` is its first byte (FIN, RSV bits, opcode).
fn put_frame(out: &mut BytesMut, first: u8, mask: Option<[u8; 4]>, payload: &[u8]) {
    put_header(out, first, mask, payload.len());
    match mask {
        Some(key) => {
            let start = out.len();
            out.extend_from_slice(payload);
            unmask(&mut out[start..], key);
        }
        None => out.extend_from_slice(payload),
    }
}

/// Appends a frame's header, its mask included, for a payload of `len` bytes.
fn put_header(out: &mut BytesMut, first: u8, mask: Option<[u8; 4]>, len: usize) {
    out.extend_from_slice(&[first]);
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match len {
        n @ 0..=125 => out.extend_from_slice(&[masked | n as u8]),
        n @ 126..=0xffff => {
            out.extend_from_slice(&[masked | 126]);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.extend_from_slice(&[masked | 127]);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

impl Codec {
    /// One frame from the library toward the socket.
    fn send(&mut self, frame: &Frame, bytes: &[u8], out: &mut BytesMut) -> io::Result<()> {
        let starts_whole_message = frame.opcode != 0 && frame.opcode < 8 && frame.fin && !frame.rsv1;
        if frame.opcode >= 8 || self.sending_fragments || !starts_whole_message {
            // Control frames, and messages the library fragments, go uncompressed.
            if frame.opcode < 8 {
                self.sending_fragments = !frame.fin;
            }
            out.extend_from_slice(bytes);
            return Ok(());
        }
        let compressed = deflate(&mut self.compress, &frame.payload(bytes))?;
        if self.reset_own {
            self.compress.reset();
        }
        put_frame(out, 0x80 | 0x40 | frame.opcode, frame.mask, &compressed);
        Ok(())
    }

    /// One frame from the socket toward the library.
    fn receive(
        &mut self,
        frame: &Frame,
        bytes: &[u8],
        out: &mut BytesMut,
        limit: usize,
        clock: &impl Clock,
    ) -> io::Result<()> {
        let continuing = frame.opcode == 0;
        if frame.opcode >= 8 || (!frame.rsv1 && (!continuing || self.receiving.is_none())) {
            if frame.rsv1 {
                return Err(invalid("RSV1 on a control frame"));
            }
            out.extend_from_slice(bytes);
            return Ok(());
        }
        match (&mut self.receiving, continuing) {
            (None, false) => self.receiving = Some((frame.opcode, frame.payload(bytes))),
            (Some((_, payload)), true) if !frame.rsv1 => payload.extend_from_slice(&frame.payload(bytes)),
            _ => return Err(invalid("RSV1 on a continuation, or a new message inside another")),
        }
        // A client's frames are masked; a zero key leaves the payload as it is.
        let mask = frame.mask.map(|_| [0; 4]);
        let over = self.receiving.as_ref().is_some_and(|(_, p)| p.len() > limit);
        if !frame.fin && !over {
            return Ok(());
        }
        let (opcode, mut payload) = self.receiving.take().expect("set above");
        payload.extend_from_slice(&SYNC_TAIL);
        let inflated =
            if over { None } else { clock.time(|| inflate(&mut self.decompress, &payload, limit))? };
        match inflated {
            Some(message) => put_frame(out, 0x80 | opcode, mask, &message),
            // Over the limit: the library gets a frame announcing more than it accepts and
            // refuses it as it refuses any frame that size (a server closes with 1009).
            None => put_header(out, 0x80 | opcode, mask, limit.saturating_add(1)),
        }
        Ok(())
    }
}

/// `input` compressed with a sync flush, without the flush's trailing marker.
fn deflate(compress: &mut Compress, input: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let mut taken = 0;
    loop {
        let before = compress.total_in();
        compress.compress_vec(&input[taken..], &mut out, FlushCompress::Sync).map_err(io::Error::other)?;
        taken += usize::try_from(compress.total_in() - before).expect("fits");
        if taken == input.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if out.ends_with(&SYNC_TAIL) {
        out.truncate(out.len() - SYNC_TAIL.len());
    }
    Ok(out)
}

/// `input` (a message with the marker put back) inflated; `None` when it inflates to more
/// than `limit` bytes.
fn inflate(decompress: &mut Decompress, input: &[u8], limit: usize) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity((input.len() * 4).min(limit.saturating_add(1)));
    let mut taken = 0;
    loop {
        let (before, made) = (decompress.total_in(), out.len());
        let status = decompress
            .decompress_vec(&input[taken..], &mut out, FlushDecompress::Sync)
            .map_err(|e| invalid(&e.to_string()))?;
        taken += usize::try_from(decompress.total_in() - before).expect("fits");
        if out.len() > limit {
            return Ok(None);
        }
        if status == flate2::Status::StreamEnd {
            // The peer ended its stream (BFINAL): its next message starts a new one.
            decompress.reset(false);
            return Ok(Some(out));
        }
        if taken == input.len() && out.len() < out.capacity() {
            return Ok(Some(out));
        }
        if out.len() == out.capacity() {
            let room = limit.saturating_add(1).saturating_sub(out.len()).max(1);
            out.reserve(out.capacity().max(64).min(room));
        } else if before == decompress.total_in() && made == out.len() {
            return Err(invalid("a message that does not inflate"));
        }
    }
}

impl<S: AsyncRead + Unpin, K: Clock + Unpin> AsyncRead for Deflating<S, K> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.inbound.done.is_empty() {
                let n = this.inbound.done.len().min(buf.remaining());
                buf.put_slice(&this.inbound.done[..n]);
                this.inbound.done.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.mode == Mode::Plain && this.inbound.raw.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            // Frames held while the handshake decided may be ready now.
            this.process(false)?;
            if !this.inbound.done.is_empty() {
                continue;
            }
            this.inbound.raw.reserve(16 * 1024);
            let n =
                ready!(tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.inbound.raw))?;
            if n == 0 {
                // The end: a partial frame left over is the peer's loss, as on any socket.
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin, K: Clock + Unpin> AsyncWrite for Deflating<S, K> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.mode == Mode::Plain && this.outbound.raw.is_empty() && this.outbound.done.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if this.outbound.done.len() > HIGH_WATER {
            ready!(this.poll_drain(cx))?;
        }
        this.outbound.raw.extend_from_slice(buf);
        this.process(true)?;
        // Start writing now; what the socket does not take goes on the next write or flush.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.process(true)?;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

    const SWITCHING: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

    #[test]
    fn offers_the_server_can_honour_are_accepted_and_others_declined() {
        // What browsers and Python's websockets offer.
        let browser = "permessage-deflate; client_max_window_bits";
        assert_eq!(negotiate([browser]), Some(Agreed::default()));
        assert_eq!(Agreed::default().header(), "permessage-deflate");
        // A smaller server window is declined; a later offer in the list can still win.
        let offers =
            "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover";
        let agreed = negotiate([offers]).expect("the second offer");
        assert!(agreed.client_no_context_takeover && !agreed.server_no_context_takeover);
        assert_eq!(
            negotiate(["x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=9"]),
            None
        );
        assert_eq!(negotiate(["permessage-deflate; mystery"]), None);
        let answer = "permessage-deflate; server_no_context_takeover";
        assert_eq!(Agreed::from_answer(answer).map(|a| a.server_no_context_takeover), Some(true));
        assert_eq!(Agreed::from_answer("x-other"), None);
    }

    /// RFC 7692 §7.2.3.1–2: "Hello" twice from a server that keeps its window, the second
    /// time as a back-reference into the first; and a message split over two frames.
    #[tokio::test]
    async fn the_rfcs_examples_inflate_into_plain_frames() {
        let (near, mut far) = tokio::io::duplex(4096);
        let mut layer = Deflating::new(near, Role::Client, (), 1 << 20);
        far.write_all(SWITCHING).await.unwrap();
        far.write_all(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]).await.unwrap();
        far.write_all(&[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]).await.unwrap();
        far.write_all(&[0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]).await.unwrap();
        drop(far);
        let mut got = Vec::new();
        layer.read_to_end(&mut got).await.unwrap();
        let mut expected = SWITCHING.to_vec();
        for _ in 0..3 {
            expected.extend([0x81, 5]);
            expected.extend(b"Hello");
        }
        assert_eq!(got, expected);
        assert_eq!(layer.agreed(), Some(true));
    }

    #[tokio::test]
    async fn an_answer_without_the_extension_passes_every_byte_untouched() {
        let (near, mut far) = tokio::io::duplex(4096);
        let mut layer = Deflating::new(near, Role::Client, (), 1 << 20);
        let mut bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        // RSV1 set without the extension is the library's to refuse, not ours to inflate.
        bytes.extend([0xc1, 0x02, 0xf2, 0x48]);
        far.write_all(&bytes).await.unwrap();
        drop(far);
        let mut got = Vec::new();
        layer.read_to_end(&mut got).await.unwrap();
        assert_eq!((got, layer.agreed()), (bytes, Some(false)));
    }

    /// Two tungstenite ends over the layer: text of every size comes out as sent, both ways,
    /// and control frames pass.
    #[tokio::test]
    async fn tungstenite_ends_over_the_layer_exchange_messages_compressed() {
        let (client_end, server_end) = tokio::io::duplex(1 << 20);
        let (mut client_raw, server_raw) =
            (Deflating::new(client_end, Role::Client, (), 1 << 24), server_end);
        // The handshake, written through the client's layer by hand, then the server's answer.
        client_raw
            .write_all(b"GET /ws HTTP/1.1\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
            .await
            .unwrap();
        let mut server_raw = Deflating::server(server_raw, 1 << 24);
        let mut head = vec![0; 66];
        server_raw.read_exact(&mut head).await.unwrap();
        server_raw.write_all(SWITCHING).await.unwrap();
        server_raw.flush().await.unwrap();
        let mut answer = vec![0; SWITCHING.len()];
        client_raw.read_exact(&mut answer).await.unwrap();
        assert_eq!((client_raw.agreed(), server_raw.agreed()), (Some(true), Some(true)));
        let mut client =
            tokio_tungstenite::WebSocketStream::from_raw_socket(client_raw, WsRole::Client, None).await;
        let mut server =
            tokio_tungstenite::WebSocketStream::from_raw_socket(server_raw, WsRole::Server, None).await;
        let long = "order ".repeat(20_000);
        for text in ["", "Hello", long.as_str(), "Hello"] {
            client.send(Message::text(text)).await.unwrap();
            assert_eq!(server.next().await.unwrap().unwrap(), Message::text(text));
            server.send(Message::text(text)).await.unwrap();
            assert_eq!(client.next().await.unwrap().unwrap(), Message::text(text));
        }
        let sent = client.get_ref().outbound.done.len();
        assert_eq!(sent, 0, "everything flushed");
        server.send(Message::Ping(vec![1, 2].into())).await.unwrap();
        assert!(matches!(client.next().await.unwrap().unwrap(), Message::Ping(_)));
    }

    #[test]
    fn a_message_that_inflates_past_the_limit_is_refused() {
        let mut compress = Compress::new(Compression::new(LEVEL), false);
        let mut payload = deflate(&mut compress, &[b'a'; 100_000]).unwrap();
        assert!(payload.len() < 1_000, "{}", payload.len());
        payload.extend_from_slice(&SYNC_TAIL);
        assert_eq!(inflate(&mut Decompress::new(false), &payload, 10_000).unwrap(), None);
        let whole = inflate(&mut Decompress::new(false), &payload, 100_000).unwrap();
        assert_eq!(whole.map(|m| m.len()), Some(100_000));
    }
}
