//! Wire accounting: a wrapper around a client's TCP stream that counts every byte its socket
//! writes and reads, and the *turns* of the conversation (a turn is a maximal run of bytes
//! in one direction, so one request and its response are two turns).
//!
//! Counters belong to one connection and are only touched by the task driving it; they are
//! atomics only because hyper and tonic move the stream into their own connection task.
//! Relaxed, uncontended atomics cost about what plain integers do.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

// Direction 0 means "no traffic yet".
const WRITING: u8 = 1;
const READING: u8 = 2;

/// Byte and turn counters of one connection.
#[derive(Debug, Default)]
pub struct WireCounters {
    sent: AtomicU64,
    received: AtomicU64,
    turns: AtomicU64,
    direction: AtomicU8,
    /// The socket's descriptor, for reading the kernel's own counts; -1 when unknown.
    fd: AtomicI32,
}

/// A reading of [`WireCounters`]; subtract two to get what happened in between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WireSnapshot {
    /// Bytes the client wrote to the socket.
    pub sent: u64,
    /// Bytes the client read from the socket.
    pub received: u64,
    /// Direction changes, counting the first run (see the module docs).
    pub turns: u64,
}

impl WireSnapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: WireSnapshot) -> WireSnapshot {
        WireSnapshot {
            sent: self.sent - earlier.sent,
            received: self.received - earlier.received,
            turns: self.turns - earlier.turns,
        }
    }

    /// Adds another snapshot (for connections that use two sockets).
    pub fn plus(self, other: WireSnapshot) -> WireSnapshot {
        WireSnapshot {
            sent: self.sent + other.sent,
            received: self.received + other.received,
            turns: self.turns + other.turns,
        }
    }
}

impl WireCounters {
    /// The kernel's counts for this connection's socket, while it is open.
    pub fn kernel(&self) -> Option<crate::kernel::KernelCounts> {
        match self.fd.load(Relaxed) {
            -1 | 0 => None,
            fd => crate::kernel::tcp_info(fd),
        }
    }

    pub fn snapshot(&self) -> WireSnapshot {
        WireSnapshot {
            sent: self.sent.load(Relaxed),
            received: self.received.load(Relaxed),
            turns: self.turns.load(Relaxed),
        }
    }

    fn note(&self, direction: u8, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let counter = if direction == WRITING { &self.sent } else { &self.received };
        counter.fetch_add(bytes as u64, Relaxed);
        if self.direction.swap(direction, Relaxed) != direction {
            self.turns.fetch_add(1, Relaxed);
        }
    }
}

/// A stream that counts what passes through it.
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
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            self.counters.note(READING, buf.filled().len() - before);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters.note(WRITING, n);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters.note(WRITING, n);
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

/// Opens a counted TCP connection with Nagle's algorithm off.
pub async fn connect(
    addr: std::net::SocketAddr,
) -> io::Result<(Counted<tokio::net::TcpStream>, Arc<WireCounters>)> {
    let counters = Arc::new(WireCounters::default());
    Ok((connect_with(addr, counters.clone()).await?, counters))
}

/// Opens a TCP connection counted by `counters` (which then also know its socket).
pub async fn connect_with(
    addr: std::net::SocketAddr,
    counters: Arc<WireCounters>,
) -> io::Result<Counted<tokio::net::TcpStream>> {
    use std::os::fd::AsRawFd as _;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    counters.fd.store(tcp.as_raw_fd(), Relaxed);
    Ok(Counted::new(tcp, counters))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

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
        assert_eq!(counters.snapshot(), WireSnapshot { sent: 7, received: 5, turns: 3 });
    }
}
