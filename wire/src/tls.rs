//! TLS on a client connection (rustls), with its bytes accounted exactly.
//!
//! [`Secured`] drives a `rustls::ClientConnection` over the socket itself (rather than
//! through tokio-rustls), because only here does each step say both what crossed the
//! socket and what plaintext it carried:
//!
//! - ciphertext is counted as it crosses the socket ([`WireCounters::cipher`]): every byte
//!   the kernel counts, with record headers found as they pass;
//! - plaintext is dissected as the protocol's own stream ([`WireCounters::plain`]), so its
//!   layers are those of the same protocol without TLS;
//! - after each step (records read and opened, or written), what the step's complete
//!   records held beyond their plaintext is TLS framing ([`WireCounters::settle`]): the
//!   5-byte record headers and, per application-data record, the inner content type and the
//!   16-byte AEAD tag are [`Framing::TlsRecords`]; everything of the handshake, and messages
//!   after it that carry no application data (session tickets, alerts), is
//!   [`Framing::TlsHandshake`].
//!
//! A cell's TLS settings are part of its dial (`crate::Dial`), as its network is;
//! [`crate::connect`] then wraps every new connection, and no client file knows about TLS.

use std::io::{self, Read as _, Write as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Dir, Framing, Layer, Socket, Tally, WireCounters};

/// The TLS settings of a cell's connections: whom to trust, and whether sessions resume.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// One config per ALPN offer (none, `http/1.1`, `h2`), sharing one session cache.
    configs: [Arc<rustls::ClientConfig>; 3],
    /// Whether a new connection resumes an earlier session (TLS 1.3 tickets) when it can.
    pub resume: bool,
}

impl ClientTls {
    /// Clients that trust `cert` only; with `resume`, connections resume sessions from a
    /// cache shared by these settings (a new `ClientTls` starts with an empty cache).
    pub fn new(cert: CertificateDer<'static>, resume: bool) -> Result<ClientTls, rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut base = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        base.resumption = if resume {
            let cache = Arc::new(rustls::client::ClientSessionMemoryCache::new(256));
            rustls::client::Resumption::store(cache)
        } else {
            rustls::client::Resumption::disabled()
        };
        let with = |alpn: &[&[u8]]| {
            let mut c = base.clone();
            c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(c)
        };
        Ok(ClientTls { configs: [with(&[]), with(&[b"http/1.1"]), with(&[b"h2"])], resume })
    }

    fn config(&self, alpn: Option<&[u8]>) -> Arc<rustls::ClientConfig> {
        match alpn {
            Some(b"h2") => self.configs[2].clone(),
            Some(_) => self.configs[1].clone(),
            None => self.configs[0].clone(),
        }
    }
}

/// Bytes of a TLS record header; of an application-data record's inner content type and
/// AEAD tag (TLS 1.3 with an AEAD of 16-byte tags, no padding: what rustls sends).
const HEADER: usize = 5;
const SEALING: u64 = 17;
/// The outer content type of application data (in TLS 1.3, every encrypted record).
const APPLICATION_DATA: u8 = 23;

/// A client connection through TLS, counted by its connection's [`WireCounters`].
#[derive(Debug)]
pub struct Secured {
    io: Socket,
    conn: rustls::ClientConnection,
    counters: Arc<WireCounters>,
    /// Opened plaintext not yet read by the client, from `plain_at`.
    plain: Vec<u8>,
    plain_at: usize,
    /// Ciphertext not yet written to the socket, from `out_at`, and the plaintext it seals.
    out: Vec<u8>,
    out_at: usize,
    sealed_plain: usize,
    /// Scratch for socket reads.
    scratch: Box<[u8]>,
    /// Where the record being received ends (see [`RecordEnds`]).
    ends: RecordEnds,
    eof: bool,
}

/// Finds where received records end, so each is opened (and settled) on its own: the record
/// that ends the handshake is then known exactly, even when session tickets follow it in the
/// same read.
#[derive(Debug, Default)]
struct RecordEnds {
    head: [u8; HEADER],
    have: usize,
    left: usize,
}

impl RecordEnds {
    /// How many of `bytes` to take so as to end at the current record's end (all of them if
    /// it ends beyond), and whether a record ends there.
    fn next(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut used = 0;
        while used < bytes.len() {
            if self.have < HEADER {
                let take = (HEADER - self.have).min(bytes.len() - used);
                self.head[self.have..self.have + take].copy_from_slice(&bytes[used..used + take]);
                (self.have, used) = (self.have + take, used + take);
                if self.have == HEADER {
                    self.left = usize::from(u16::from_be_bytes([self.head[3], self.head[4]]));
                    if self.left == 0 {
                        self.have = 0;
                        return (used, true);
                    }
                }
                continue;
            }
            let take = self.left.min(bytes.len() - used);
            (self.left, used) = (self.left - take, used + take);
            if self.left == 0 {
                self.have = 0;
                return (used, true);
            }
        }
        (used, false)
    }
}

impl Secured {
    /// Runs the handshake over `io` for `addr`, offering `alpn`.
    pub async fn connect(
        io: Socket,
        addr: std::net::SocketAddr,
        tls: &ClientTls,
        alpn: Option<&[u8]>,
        counters: Arc<WireCounters>,
    ) -> io::Result<Secured> {
        let name = ServerName::IpAddress(addr.ip().into());
        let conn = rustls::ClientConnection::new(tls.config(alpn), name).map_err(io::Error::other)?;
        counters.tls_begin();
        let mut s = Secured {
            io,
            conn,
            counters,
            plain: Vec::new(),
            plain_at: 0,
            out: Vec::new(),
            out_at: 0,
            sealed_plain: 0,
            scratch: vec![0; 32 * 1024].into_boxed_slice(),
            ends: RecordEnds::default(),
            eof: false,
        };
        std::future::poll_fn(|cx| s.poll_handshake(cx)).await?;
        s.counters.tls_established(s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed));
        Ok(s)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            self.seal()?;
            ready!(self.poll_send(cx))?;
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_receive(cx))?;
            if self.eof {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Moves what rustls has to send into `out`.
    fn seal(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.out)?;
        }
        Ok(())
    }

    /// Writes `out` to the socket; once all of it is out, settles what it sealed.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_at < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.counters.cipher(Dir::Sent, &self.out[self.out_at..self.out_at + n]);
            self.out_at += n;
        }
        if !self.out.is_empty() {
            self.out.clear();
            self.out_at = 0;
            self.counters.settle(Dir::Sent, std::mem::take(&mut self.sealed_plain));
        }
        Poll::Ready(Ok(()))
    }

    /// Reads from the socket once and opens every complete record, one at a time; the
    /// plaintext goes to `plain` (and is dissected), what each record held beyond it is
    /// settled.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut buf = ReadBuf::new(&mut self.scratch);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        if n == 0 {
            self.eof = true;
            return Poll::Ready(Ok(()));
        }
        let mut at = 0;
        while at < n {
            let (take, ended) = self.ends.next(&self.scratch[at..n]);
            let record = &self.scratch[at..at + take];
            at += take;
            self.counters.cipher(Dir::Received, record);
            let handshaking = self.conn.is_handshaking();
            let before = self.plain.len();
            let mut rest = record;
            while !rest.is_empty() {
                self.conn.read_tls(&mut rest)?;
            }
            let state = self.conn.process_new_packets().map_err(io::Error::other);
            take_plaintext(&mut self.conn, &mut self.plain)?;
            if state?.peer_has_closed() {
                self.eof = true;
            }
            if ended {
                self.counters.settle(Dir::Received, self.plain.len() - before);
                if handshaking && !self.conn.is_handshaking() {
                    self.counters.tls_received_handshake();
                }
            }
            self.counters.plain(Dir::Received, &self.plain[before..]);
        }
        // What rustls answers by itself (a key update, an alert) leaves with the next send.
        self.seal()?;
        Poll::Ready(Ok(()))
    }
}

/// Moves the plaintext rustls has opened to the end of `plain`.
fn take_plaintext(conn: &mut rustls::ClientConnection, plain: &mut Vec<u8>) -> io::Result<()> {
    loop {
        let at = plain.len();
        plain.resize(at + 16 * 1024, 0);
        match conn.reader().read(&mut plain[at..]) {
            Ok(0) => {
                plain.truncate(at);
                return Ok(());
            }
            Ok(n) => plain.truncate(at + n),
            Err(e) => {
                plain.truncate(at);
                return if e.kind() == io::ErrorKind::WouldBlock { Ok(()) } else { Err(e) };
            }
        }
    }
}

impl AsyncRead for Secured {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Ciphertext still waiting (rustls's own answers) goes first; reading goes on anyway.
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        while this.plain_at == this.plain.len() && !this.eof {
            this.plain.clear();
            this.plain_at = 0;
            ready!(this.poll_receive(cx))?;
        }
        let n = buf.remaining().min(this.plain.len() - this.plain_at);
        buf.put_slice(&this.plain[this.plain_at..this.plain_at + n]);
        this.plain_at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Secured {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // One write's records at a time: what was sealed before leaves first.
        ready!(this.poll_send(cx))?;
        let n = this.conn.writer().write(data)?;
        this.counters.plain(Dir::Sent, &data[..n]);
        this.sealed_plain += n;
        this.seal()?;
        // Pending is fine: the records are ours now and leave on the next poll.
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.out.is_empty() && !this.eof {
            this.conn.send_close_notify();
            this.seal()?;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// The TLS side of a connection's tally: record boundaries per direction, and the complete
/// records whose plaintext is not settled yet.
#[derive(Debug, Default)]
pub(super) struct TlsTally {
    /// Until the handshake is done, every byte is the handshake's: received, until the
    /// record that completes it; sent, until the client's Finished is out.
    handshaking: [bool; 2],
    ways: [Way; 2],
    pub(super) resumed: Option<bool>,
    /// The handshake's bytes each way, once it is done (messages after it not included).
    pub(super) handshake: Option<[u64; 2]>,
    handshake_received: u64,
}

#[derive(Debug, Default)]
struct Way {
    /// Header bytes of the record being read, and how many are in.
    head: [u8; HEADER],
    have: usize,
    /// Body bytes of the current record still to come, its type and its length.
    left: usize,
    kind: u8,
    len: usize,
    /// Complete sealed records since the last settle, and their bodies' bytes.
    records: u64,
    sealed: u64,
}

impl TlsTally {
    pub(super) fn begin() -> TlsTally {
        TlsTally { handshaking: [true; 2], ..TlsTally::default() }
    }

    /// The received record that completed the handshake is settled.
    pub(super) fn received_handshake(&mut self, t: &Tally) {
        self.handshaking[Dir::Received.index()] = false;
        self.handshake_received = t.framing[Dir::Received.index()][Framing::TlsHandshake as usize];
    }

    /// The client's side of the handshake is out too: the connection is established.
    pub(super) fn established(&mut self, resumed: bool, t: &Tally) {
        self.handshaking = [false; 2];
        self.resumed = Some(resumed);
        let sent = t.framing[Dir::Sent.index()][Framing::TlsHandshake as usize];
        self.handshake = Some([sent, self.handshake_received]);
    }

    /// Ciphertext crossing the socket: record headers are attributed as they complete,
    /// bodies of records in the clear (the handshake's first messages) as they pass; sealed
    /// bodies wait for [`TlsTally::settle`].
    pub(super) fn cipher(&mut self, dir: Dir, mut bytes: &[u8], t: &mut Tally) {
        let handshaking = self.handshaking[dir.index()];
        let w = &mut self.ways[dir.index()];
        while !bytes.is_empty() {
            if w.left == 0 {
                let take = (HEADER - w.have).min(bytes.len());
                w.head[w.have..w.have + take].copy_from_slice(&bytes[..take]);
                (w.have, bytes) = (w.have + take, &bytes[take..]);
                if w.have == HEADER {
                    w.have = 0;
                    w.kind = w.head[0];
                    w.len = usize::from(u16::from_be_bytes([w.head[3], w.head[4]]));
                    w.left = w.len;
                    let kind = if handshaking { Framing::TlsHandshake } else { Framing::TlsRecords };
                    t.attribute(dir, Layer::Framing(kind), HEADER);
                    w.complete_empty();
                }
                continue;
            }
            let take = w.left.min(bytes.len());
            (w.left, bytes) = (w.left - take, &bytes[take..]);
            if w.kind != APPLICATION_DATA {
                t.attribute(dir, Layer::Framing(Framing::TlsHandshake), take);
            } else if w.left == 0 {
                w.records += 1;
                w.sealed += w.len as u64;
            }
        }
    }

    /// The sealed records complete so far carried `plain` bytes of plaintext: the rest of
    /// their bodies is TLS framing.
    pub(super) fn settle(&mut self, dir: Dir, plain: usize, t: &mut Tally) {
        let w = &mut self.ways[dir.index()];
        let beyond = w.sealed.saturating_sub(plain as u64);
        let records = if self.handshaking[dir.index()] { 0 } else { (w.records * SEALING).min(beyond) };
        t.attribute(dir, Layer::Framing(Framing::TlsRecords), records as usize);
        t.attribute(dir, Layer::Framing(Framing::TlsHandshake), (beyond - records) as usize);
        (w.records, w.sealed) = (0, 0);
    }
}

impl Way {
    /// A sealed record of no body is complete with its header.
    fn complete_empty(&mut self) {
        if self.left == 0 && self.kind == APPLICATION_DATA {
            self.records += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_end_where_their_headers_say_across_reads() {
        let mut ends = RecordEnds::default();
        // Two records (3 and 0 bytes of body), then the start of a third, in one read.
        let read = [23, 3, 3, 0, 3, 1, 2, 3, 23, 3, 3, 0, 0, 22, 3];
        assert_eq!(ends.next(&read), (8, true));
        assert_eq!(ends.next(&read[8..]), (5, true));
        assert_eq!(ends.next(&read[13..]), (2, false));
        // The rest of the third in the next read: its header, then 2 bytes of body.
        assert_eq!(ends.next(&[1, 0, 2, 9]), (4, false));
        assert_eq!(ends.next(&[9, 7]), (1, true));
    }
}
