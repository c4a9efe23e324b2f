//! The link in front of a client socket: the client reads and writes an in-memory pipe; two
//! tasks (one per direction) carry its bytes to and from the real socket, each releasing a
//! segment when its [`Shaper`] says it arrives. Bytes a server writes are taken off the
//! socket as soon as they come (so a segment's clock starts when the server sent it), and
//! held until they arrive; the counting layer, on the client's side of the pipe, therefore
//! stamps an answer's last byte when it reaches the client through the link.
//!
//! Timing uses one `timerfd` per direction ([`crate::kernel::monotonic_timer`]): tokio's
//! timer rounds to whole milliseconds, a 2.5 % error on a 40 ms round trip.

use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, DuplexStream, ReadBuf};
use tokio::net::TcpStream;

use super::Network;
use super::shaper::Shaper;

/// The pipe between a client and its link: what the client may write ahead of the link (a
/// socket's send buffer).
const PIPE: usize = 256 * 1024;
/// Most bytes a direction holds in flight before it stops reading (a receive window).
const IN_FLIGHT: usize = 4 * 1024 * 1024;

/// A client's end of a connection: the socket itself, or the pipe to its link.
#[derive(Debug)]
pub enum Wire {
    Direct(TcpStream),
    Linked(DuplexStream),
}

/// Opens a TCP connection to `addr` with Nagle's algorithm off, through `network`'s link
/// unless it is loopback; returns the client's end and the socket's descriptor. Through a
/// link, the connection is ready one round trip after the SYN left (SYN, SYN-ACK): the real
/// handshake on loopback happens inside that round trip, as it would on the path.
pub async fn connect(addr: std::net::SocketAddr, network: Option<&Network>) -> io::Result<(Wire, i32)> {
    use std::os::fd::AsRawFd as _;
    let syn = Instant::now();
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let fd = tcp.as_raw_fd();
    let Some(network) = network.filter(|n| !n.is_loopback()) else {
        return Ok((Wire::Direct(tcp), fd));
    };
    let mut alarm = Alarm::new()?;
    alarm.until(syn + network.rtt()).await?;
    Ok((Wire::Linked(attach(tcp, network)?), fd))
}

/// Puts `network`'s link in front of `stream`: returns the client's end of the pipe; two
/// tasks on the current runtime carry the bytes until either side closes.
pub fn attach<S>(stream: S, network: &Network) -> io::Result<DuplexStream>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (client, link) = tokio::io::duplex(PIPE);
    let (from_client, to_client) = tokio::io::split(link);
    let (from_server, to_server) = tokio::io::split(stream);
    let seed = rand::random::<u64>();
    let up = Shaper::new(network.up, network.rtt(), network.loss, seed);
    let down = Shaper::new(network.down, network.rtt(), network.loss, seed.rotate_left(17));
    let (alarm_up, alarm_down) = (Alarm::new()?, Alarm::new()?);
    tokio::spawn(carry(from_client, to_server, up, alarm_up));
    tokio::spawn(carry(from_server, to_client, down, alarm_down));
    Ok(client)
}

/// Moves one direction's bytes from `from` to `to`, each segment at its arrival time; ends
/// when `from` closes (after delivering what it holds, then closing `to`) or `to` fails.
async fn carry<R, W>(mut from: R, mut to: W, mut shaper: Shaper, mut alarm: Alarm)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut held = BytesMut::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut open = true;
    loop {
        let ready = shaper.arrived(Instant::now());
        if ready > 0 {
            let out = held.split_to(ready);
            if to.write_all(&out).await.is_err() || to.flush().await.is_err() {
                return;
            }
            continue;
        }
        let next = shaper.next_arrival();
        if !open && next.is_none() {
            let _ = to.shutdown().await;
            return;
        }
        tokio::select! {
            read = from.read(&mut buf), if open && held.len() < IN_FLIGHT => match read {
                Ok(0) | Err(_) => open = false,
                Ok(n) => {
                    held.extend_from_slice(&buf[..n]);
                    shaper.send(Instant::now(), n);
                }
            },
            woke = alarm.until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                if woke.is_err() {
                    // A timer that fails: deliver late rather than never.
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}

/// A one-shot alarm on a [`crate::kernel::monotonic_timer`].
#[derive(Debug)]
pub struct Alarm {
    fd: AsyncFd<OwnedFd>,
}

impl Alarm {
    pub fn new() -> io::Result<Alarm> {
        Ok(Alarm { fd: crate::kernel::monotonic_timer()? })
    }

    /// Resolves at `at` (at once when it has passed).
    pub async fn until(&mut self, at: Instant) -> io::Result<()> {
        while Instant::now() < at {
            crate::kernel::arm_timer(self.fd.get_ref(), at)?;
            let mut guard = self.fd.readable().await?;
            let mut count = [0u8; 8];
            match rustix::io::read(self.fd.get_ref(), &mut count) {
                Ok(_) => {}
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl AsyncRead for Wire {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Direct(s) => Pin::new(s).poll_read(cx, buf),
            Wire::Linked(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Wire::Direct(s) => Pin::new(s).poll_write(cx, buf),
            Wire::Linked(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Wire::Direct(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Wire::Linked(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Wire::Direct(s) => s.is_write_vectored(),
            Wire::Linked(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Direct(s) => Pin::new(s).poll_flush(cx),
            Wire::Linked(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Direct(s) => Pin::new(s).poll_shutdown(cx),
            Wire::Linked(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
