//! # wirebench-wire: what passes on a client's socket
//!
//! Owns the byte stream under every client: counting and dissecting what each socket
//! carries (this page), TLS around it ([`tls`]), the emulated network link ([`net`]) and
//! what the kernel itself counted ([`kernel`]). A protocol's client wraps its socket here
//! and declares its documents' rules ([`dissect::DocRules`]); nothing here knows which
//! protocol it carries.
//!
//! It may not touch: the clients, the load engine, the report. It uses
//! `wirebench-results` only for the network profiles it emulates.
//!
//! ## Wire accounting
//!
//! Wire accounting: a wrapper around a client's TCP stream that counts every byte its socket
//! writes and reads, and dissects what passes: every byte is attributed to one layer
//! (framing by kind, envelope, data), header bytes are kept by name, and request waves and
//! turns are counted (see [`tally`]).
//!
//! - [`dissect`]: the per-connection dissector and the [`dissect::DocRules`] protocols give;
//! - [`http1`], [`http2`], [`websocket`]: the transports; [`docs`]: JSON and protobuf
//!   documents, where the records are.
//!
//! The counters live behind one uncontended mutex because hyper and tonic move the stream
//! into their own connection task, while the client reads the counts from its own.
//!
//! Two clocks live here too, because this is where the client's bytes and its answers meet:
//! when the last byte of an answer was read off the socket (where latency ends), and how long
//! the client spent decoding answers into domain types (reported apart from latency).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub mod dissect;
pub mod docs;
mod hpack;
pub mod http1;
pub mod http2;
pub mod kernel;
pub mod net;
pub mod tally;
pub mod tls;
pub mod websocket;

pub use self::dissect::Dissector;
pub use self::tally::{Dir, Framing, Layer, Tally};

/// Where and how a client opens its connections: one cell's settings, carried as a value
/// from the plan to every connection the cell opens (nothing ambient, nothing per thread).
#[derive(Debug, Clone)]
pub struct Dial {
    /// The server.
    pub addr: std::net::SocketAddr,
    /// The emulated link every connection goes through (none: the socket as it is).
    pub network: Option<net::Network>,
    /// TLS around every connection (none: plaintext).
    pub tls: Option<tls::ClientTls>,
    /// Whether what a connection carries is dissected into layers (off only to measure what
    /// dissection costs: layers then stay pending, and no request waves are counted).
    pub dissect: bool,
}

impl Dial {
    /// Plaintext TCP to `addr`, no emulated link, dissected.
    pub fn to(addr: std::net::SocketAddr) -> Dial {
        Dial { addr, network: None, tls: None, dissect: true }
    }

    /// Through `network` (loopback, or none, is the socket as it is).
    pub fn through(self, network: Option<net::Network>) -> Dial {
        Dial { network: network.filter(|n| !n.is_loopback()), ..self }
    }

    /// With TLS (none: plaintext).
    pub fn secured(self, tls: Option<tls::ClientTls>) -> Dial {
        Dial { tls, ..self }
    }

    /// Dissected or not.
    pub fn dissected(self, dissect: bool) -> Dial {
        Dial { dissect, ..self }
    }
}

impl From<std::net::SocketAddr> for Dial {
    fn from(addr: std::net::SocketAddr) -> Dial {
        Dial::to(addr)
    }
}

/// What one connection counted, and its dissector.
#[derive(Debug, Default)]
pub struct WireCounters {
    inner: Mutex<Inner>,
    /// The socket's descriptor, for reading the kernel's own counts; -1 when unknown.
    fd: AtomicI32,
    /// A fault the link injects into this connection's next call (see [`LinkFault`]).
    fault: std::sync::atomic::AtomicU8,
}

/// A fault of the link between client and server, injected into one call of a plaintext
/// connection ([`WireCounters::inject`]): what a network does to a call, not what a server
/// answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFault {
    /// The answer is lost: its first bytes are dropped as they arrive (so the server has done
    /// the work) and the connection fails with `ECONNRESET`.
    LoseAnswer,
    /// The connection is reset in the middle of the request: half of the next write leaves,
    /// then it fails with `ECONNRESET` (the server sees a partial request, then the close).
    Reset,
}

const FAULT_NONE: u8 = 0;
const FAULT_LOSE: u8 = 1;
const FAULT_RESET: u8 = 2;
/// The fault has struck: every read and write fails.
const FAULT_CUT: u8 = 3;

fn cut() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection cut by an injected link fault")
}

#[derive(Debug, Default)]
struct Inner {
    tally: Tally,
    dissector: Dissector,
    /// When the last read that carried answer bytes returned.
    last_answer: Option<Instant>,
    /// Record boundaries and unsettled records, when the connection runs TLS (and is
    /// dissected).
    tls: Option<tls::TlsTally>,
}

impl WireCounters {
    /// Counters of a connection whose bytes `dissector` parses.
    pub fn new(dissector: Dissector) -> Self {
        WireCounters {
            inner: Mutex::new(Inner { dissector, ..Inner::default() }),
            fd: AtomicI32::new(-1),
            fault: std::sync::atomic::AtomicU8::new(FAULT_NONE),
        }
    }

    /// Arms `fault` for this connection's next call (plaintext connections only: under TLS
    /// the records are counted above this layer, and the fault never strikes).
    pub fn inject(&self, fault: LinkFault) {
        let f = match fault {
            LinkFault::LoseAnswer => FAULT_LOSE,
            LinkFault::Reset => FAULT_RESET,
        };
        self.fault.store(f, Relaxed);
    }

    /// Whether an injected fault has struck (the connection is then dead).
    pub fn cut(&self) -> bool {
        self.fault.load(Relaxed) == FAULT_CUT
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while parsing leaves the numbers as they were; keep counting.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The kernel's counts for this connection's socket, while it is open.
    pub fn kernel(&self) -> Option<crate::kernel::KernelCounts> {
        match self.fd.load(Relaxed) {
            -1 | 0 => None,
            fd => crate::kernel::tcp_info(fd),
        }
    }

    /// Everything counted so far.
    pub fn snapshot(&self) -> Tally {
        self.lock().tally
    }

    /// Why the dissector could not parse this connection's stream, if it could not.
    pub fn dissect_error(&self) -> Option<String> {
        self.lock().dissector.error().map(ToString::to_string)
    }

    /// When the last read carrying answer bytes returned: the end of an answer's latency.
    /// Reads of control frames alone (HTTP/2 SETTINGS or PING, WebSocket pings) do not
    /// count; without dissection every read does.
    pub fn last_answer(&self) -> Option<Instant> {
        self.lock().last_answer
    }

    /// Whether the connection's TLS session was resumed (`None`: no TLS, or not dissected).
    pub fn tls_resumed(&self) -> Option<bool> {
        self.lock().tls.as_ref().and_then(|t| t.resumed)
    }

    fn tls_begin(&self) {
        let inner = &mut *self.lock();
        if inner.dissector.is_on() {
            inner.tls = Some(tls::TlsTally::begin());
        }
    }

    /// The TLS handshake's bytes each way (`None`: no TLS, or not dissected).
    pub fn tls_handshake(&self) -> Option<[u64; 2]> {
        self.lock().tls.as_ref().and_then(|t| t.handshake)
    }

    fn tls_received_handshake(&self) {
        let inner = &mut *self.lock();
        if let Some(t) = inner.tls.as_mut() {
            t.received_handshake(&inner.tally);
        }
    }

    fn tls_established(&self, resumed: bool) {
        let inner = &mut *self.lock();
        if let Some(t) = inner.tls.as_mut() {
            t.established(resumed, &inner.tally);
        }
    }

    /// TLS ciphertext crossed the socket in `dir`.
    fn cipher(&self, dir: Dir, bytes: &[u8]) {
        let inner = &mut *self.lock();
        inner.tally.seen(dir, bytes.len());
        if let Some(t) = inner.tls.as_mut() {
            t.cipher(dir, bytes, &mut inner.tally);
        }
    }

    /// The complete TLS records so far in `dir` carried `plain` bytes of plaintext.
    fn settle(&self, dir: Dir, plain: usize) {
        let inner = &mut *self.lock();
        if let Some(t) = inner.tls.as_mut() {
            t.settle(dir, plain, &mut inner.tally);
        }
    }

    /// TLS plaintext in `dir`: the protocol's own stream, dissected as without TLS.
    fn plain(&self, dir: Dir, bytes: &[u8]) {
        self.dissect(dir, bytes, false);
    }

    /// Bytes that crossed the socket in `dir`: counted, then dissected.
    fn note(&self, dir: Dir, bytes: &[u8]) {
        self.dissect(dir, bytes, true);
    }

    /// Dissects `bytes` (counting them as seen on the socket when `seen`) and, for answer
    /// bytes, stamps when they arrived.
    fn dissect(&self, dir: Dir, bytes: &[u8], seen: bool) {
        if bytes.is_empty() {
            return;
        }
        // Taken before dissecting: the time the read returned, not the parser's.
        let at = (dir == Dir::Received).then(Instant::now);
        let inner = &mut *self.lock();
        let before = inner.tally.answer_bytes;
        if seen {
            inner.dissector.feed(dir, bytes, &mut inner.tally);
        } else {
            inner.dissector.feed_inner(dir, bytes, &mut inner.tally);
        }
        if let Some(at) = at
            && (inner.tally.answer_bytes > before || !inner.dissector.is_on())
        {
            inner.last_answer = Some(at);
        }
    }
}

/// A stream that counts and dissects what passes through it.
#[derive(Debug)]
pub struct Counted<S> {
    inner: S,
    counters: Arc<WireCounters>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, counters: Arc<WireCounters>) -> Self {
        Counted { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        // Armed before the call, so one read of it per poll is enough.
        let fault = self.counters.fault.load(Relaxed);
        if fault == FAULT_CUT {
            return Poll::Ready(Err(cut()));
        }
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            if buf.filled().len() > before && fault == FAULT_LOSE {
                // The answer's first bytes: dropped, uncounted, and the connection with them.
                buf.set_filled(before);
                self.counters.fault.store(FAULT_CUT, Relaxed);
                return Poll::Ready(Err(cut()));
            }
            self.counters.note(Dir::Received, &buf.filled()[before..]);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let buf = match self.counters.fault.load(Relaxed) {
            FAULT_CUT => return Poll::Ready(Err(cut())),
            FAULT_RESET if buf.len() > 1 => {
                self.counters.fault.store(FAULT_CUT, Relaxed);
                &buf[..buf.len() / 2]
            }
            FAULT_RESET => {
                self.counters.fault.store(FAULT_CUT, Relaxed);
                return Poll::Ready(Err(cut()));
            }
            _ => buf,
        };
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters.note(Dir::Sent, &buf[..n]);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !matches!(self.counters.fault.load(Relaxed), FAULT_NONE | FAULT_LOSE) {
            // A reset (or a cut) goes through the one-buffer path.
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            return self.poll_write(cx, first);
        }
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = poll {
            for b in bufs {
                let take = n.min(b.len());
                self.counters.note(Dir::Sent, &b[..take]);
                n -= take;
                if n == 0 {
                    break;
                }
            }
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Opens a counted TCP connection as `dial` says (its link, its TLS, with the dissector's
/// ALPN), dissected by `dissector` unless the dial turns dissection off, with Nagle's
/// algorithm off.
pub async fn connect(dial: &Dial, dissector: Dissector) -> io::Result<(Stream, Arc<WireCounters>)> {
    let alpn = dissector.alpn();
    let dissector = if dial.dissect { dissector } else { Dissector::default() };
    let counters = Arc::new(WireCounters::new(dissector));
    let Some(tls) = &dial.tls else {
        return Ok((Stream::Left(connect_with(dial, counters.clone()).await?), counters));
    };
    let wire = socket(dial, &counters).await?;
    let secured = tls::Secured::connect(wire, dial.addr, tls, alpn, counters.clone()).await?;
    Ok((Stream::Right(Box::new(secured)), counters))
}

/// A client's connection: counted plaintext (`Left`), or TLS counted on both sides of the
/// records (`Right`), read and written through tokio-util's `Either`.
pub type Stream = tokio_util::either::Either<Counted<Socket>, Box<tls::Secured>>;

/// What a client's counted stream wraps: the socket, or the pipe to its emulated link.
pub type Socket = crate::net::Wire;

/// Opens a TCP connection counted by `counters` (which then also know its socket), through
/// the dial's link (TLS aside). Counting sits on the client's side of the link: the same
/// bytes as the socket's, stamped when they reach the client.
pub async fn connect_with(dial: &Dial, counters: Arc<WireCounters>) -> io::Result<Counted<Socket>> {
    Ok(Counted::new(socket(dial, &counters).await?, counters))
}

/// The dial's socket (or the pipe to its link), made known to `counters`.
async fn socket(dial: &Dial, counters: &WireCounters) -> io::Result<Socket> {
    let (wire, fd) = crate::net::connect(dial.addr, dial.network.as_ref()).await?;
    counters.fd.store(fd, Relaxed);
    Ok(wire)
}

tokio::task_local! {
    /// Nanoseconds spent in [`decoding`] by the call being timed ([`timing_decode`]).
    static DECODE_NS: std::cell::Cell<u64>;
}

/// Runs `decode` (an answer's bytes to domain types) and adds its time to the decode clock of
/// the call around it ([`timing_decode`]); outside one it only runs `decode`.
///
/// The clock belongs to the call, not to the connection: calls sharing a connection (HTTP/2
/// streams, a gRPC channel, a WebSocket) each count their own decoding, since a decode runs
/// inside the poll of the call whose answer it is.
pub fn decoding<T>(decode: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = decode();
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    // Outside a timed call (a check, a test) there is no clock to add to.
    let _ = DECODE_NS.try_with(|clock| clock.set(clock.get().saturating_add(ns)));
    value
}

/// Runs `call` and returns its output with the time it spent in [`decoding`].
pub async fn timing_decode<F: std::future::Future>(call: F) -> (F::Output, std::time::Duration) {
    DECODE_NS
        .scope(std::cell::Cell::new(0), async move {
            let out = call.await;
            (out, std::time::Duration::from_nanos(DECODE_NS.with(std::cell::Cell::get)))
        })
        .await
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_lost_answer_is_dropped_uncounted_and_a_reset_sends_half_a_request() {
        let (a, mut b) = tokio::io::duplex(64);
        let counters = Arc::new(WireCounters::default());
        let mut a = Counted::new(a, counters.clone());
        counters.inject(LinkFault::LoseAnswer);
        a.write_all(b"ask").await.unwrap();
        let mut buf = [0u8; 3];
        b.read_exact(&mut buf).await.unwrap();
        b.write_all(b"answer").await.unwrap();
        let mut got = [0u8; 6];
        let e = a.read_exact(&mut got).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert!(counters.cut());
        assert_eq!(counters.snapshot().bytes, [3, 0], "the lost answer is not counted");
        assert!(a.write_all(b"more").await.is_err(), "the connection is dead");

        let (c, mut d) = tokio::io::duplex(64);
        let counters = Arc::new(WireCounters::default());
        let mut c = Counted::new(c, counters.clone());
        counters.inject(LinkFault::Reset);
        assert!(c.write_all(b"request!").await.is_err());
        drop(c);
        let mut sent = Vec::new();
        d.read_to_end(&mut sent).await.unwrap();
        assert_eq!(sent, b"requ", "half the request left, then the close");
    }

    #[tokio::test]
    async fn counts_bytes_and_turns_per_direction() {
        let (a, mut b) = tokio::io::duplex(64);
        let counters = Arc::new(WireCounters::default());
        let mut a = Counted::new(a, counters.clone());
        a.write_all(b"hello").await.unwrap();
        a.write_all(b"!").await.unwrap();
        let mut buf = [0u8; 6];
        b.read_exact(&mut buf).await.unwrap();
        b.write_all(b"world").await.unwrap();
        let mut got = [0u8; 5];
        a.read_exact(&mut got).await.unwrap();
        a.write_all(b"x").await.unwrap();
        let t = counters.snapshot();
        assert_eq!((t.bytes, t.turns), ([7, 5], 3));
        // Without a dissector nothing is attributed: every byte is pending.
        assert_eq!((t.pending(Dir::Sent), t.pending(Dir::Received)), (7, 5));
    }
}

#[cfg(test)]
mod decode_clock_tests {
    use super::{decoding, timing_decode};
    use std::time::{Duration, Instant};

    /// Two calls on one thread, as lanes of one connection run: the first decodes while the
    /// second is between polls. Each call's clock holds its own decoding only.
    #[tokio::test(flavor = "current_thread")]
    async fn a_calls_decode_time_is_its_own_when_calls_interleave() {
        let spin = Duration::from_millis(2);
        let decoder = async {
            for _ in 0..3 {
                decoding(|| {
                    let start = Instant::now();
                    while start.elapsed() < spin {}
                });
                tokio::task::yield_now().await;
            }
        };
        let idle = async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            decoding(|| ())
        };
        let ((_, decoded), (_, idled)) = tokio::join!(timing_decode(decoder), timing_decode(idle));
        assert!(decoded >= spin * 3, "{decoded:?}");
        // A clock per connection, read around each call, gave the idle call the other's 6 ms.
        assert!(idled < Duration::from_millis(1), "{idled:?}");
    }

    #[test]
    fn decoding_outside_a_timed_call_only_decodes() {
        assert_eq!(decoding(|| 7), 7);
    }
}
