//! The accept loop every server shares, and the limits it applies to connections.
//!
//! - Every accepted socket gets `TCP_NODELAY`: small request/reply exchanges must not wait
//!   for Nagle's algorithm.
//! - At most [`ServerConfig::max_connections`] connections are served at once. One over the
//!   cap is handed to the protocol's `refuse` instead, which answers in the protocol's own
//!   terms and closes; at most [`MAX_REFUSING`] refusals run at once, each for at most
//!   [`REFUSAL_TIME`], and a connection beyond those is closed unanswered.
//! - An accept error about one connection (aborted or reset before we took it) is skipped;
//!   any other (out of descriptors, say) pauses the loop for [`ACCEPT_BACKOFF`] instead of
//!   spinning.
//! - On shutdown it stops accepting at once; every connection task holds the same token and
//!   closes its socket its own way (the floor after the frame in hand, WebSocket with a
//!   Close frame, HTTP with hyper's graceful shutdown). The loop waits up to
//!   [`ServerConfig::grace`] for them, then cuts off the rest.
//!
//! - With TLS configured ([`crate::tls`]), a connection whose first byte opens a TLS
//!   handshake is served through rustls, any other in plaintext; the wait for that byte and
//!   the handshake count against the header read timeout (or the idle limit, if shorter),
//!   inside the connection's slot. Handlers get a [`Conn`] either way.
//!
//! Idle and header time limits belong to each protocol (they know what "between requests"
//! means); see [`ServerConfig`].

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ServerConfig;

/// Connections every server of this process has accepted (see [`accepted`]).
static ACCEPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Connections every server of this process has accepted so far: through a gateway, the
/// gateway's upstream connections (does its keep-alive hold?).
pub fn accepted() -> u64 {
    ACCEPTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Pause after an accept error that is not about one connection.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Refusals (connections over the cap being answered) running at once.
pub const MAX_REFUSING: usize = 64;
/// Time one refusal may take, handshake and answer included.
pub const REFUSAL_TIME: Duration = Duration::from_secs(2);
/// Time a closing socket reads and discards what its peer still sends (see [`linger`]).
pub const LINGER: Duration = Duration::from_secs(1);

/// Serves `listener` until `shutdown`, running `handle(socket, shutdown)` in a task for
/// each connection under the cap and `refuse(socket)` for each over it; then drains for up
/// to the grace period (see the module docs).
pub async fn serve<F, Fut, R, RFut>(
    listener: TcpListener,
    shutdown: CancellationToken,
    config: &ServerConfig,
    handle: F,
    refuse: R,
) -> io::Result<()>
where
    F: Fn(Conn, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    R: Fn(Conn) -> RFut + Send + Sync + 'static,
    RFut: Future<Output = ()> + Send + 'static,
{
    let acceptor = config.tls.as_ref().map(|tls| tokio_rustls::TlsAcceptor::from(tls.config.clone()));
    let opening = config.header_read_timeout.min(config.idle_timeout);
    let handle = Arc::new(handle);
    let refuse = Arc::new(refuse);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut connections = JoinSet::new();
    let mut refusals = JoinSet::new();
    let mut cancelled = pin!(shutdown.cancelled());
    loop {
        tokio::select! {
            biased;
            () = &mut cancelled => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            Some(_) = refusals.join_next(), if !refusals.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Ignoring a failure is right: the socket works without it, only small
                    // writes may be delayed (and the harness would see that in latency).
                    let _ = tcp.set_nodelay(true);
                    match slots.clone().try_acquire_owned() {
                        Ok(slot) => {
                            let (handle, stop, acceptor) = (handle.clone(), shutdown.clone(), acceptor.clone());
                            connections.spawn(async move {
                                if let Some(conn) = open(tcp, acceptor.as_ref(), opening).await {
                                    handle(conn, stop).await;
                                }
                                drop(slot);
                            });
                        }
                        Err(_) if refusals.len() < MAX_REFUSING => {
                            let (refuse, acceptor) = (refuse.clone(), acceptor.clone());
                            refusals.spawn(async move {
                                let _ = tokio::time::timeout(REFUSAL_TIME, async move {
                                    if let Some(conn) = open(tcp, acceptor.as_ref(), REFUSAL_TIME).await {
                                        refuse(conn).await;
                                    }
                                })
                                .await;
                            });
                        }
                        // Too many refusals at once: closing unanswered is all that is left.
                        Err(_) => drop(tcp),
                    }
                }
                // The peer gave up before it was accepted: nothing to serve, nothing wrong here.
                Err(e) if is_per_connection(&e) => {}
                // Out of descriptors or memory: said, then retried once some are freed.
                Err(e) => {
                    eprintln!("accept on {}: {e}; retrying", listener.local_addr().map_or_else(|_| "?".into(), |a| a.to_string()));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    refusals.shutdown().await;
    let drained =
        tokio::time::timeout(config.grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        connections.shutdown().await;
    }
    Ok(())
}

/// An accept error that concerns one connection only: the listener itself is fine.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
    )
}

/// A served connection: plaintext (`Left`) or TLS over TCP (`Right`), read and written
/// through tokio-util's `Either`.
pub type Conn = tokio_util::either::Either<TcpStream, Box<tokio_rustls::server::TlsStream<TcpStream>>>;

/// The connection `tcp` becomes: TLS when `tls` is set and the first byte opens a TLS
/// handshake, else plaintext. `None` when the peer closed, failed its handshake or took
/// longer than `within`.
async fn open(tcp: TcpStream, tls: Option<&tokio_rustls::TlsAcceptor>, within: Duration) -> Option<Conn> {
    let Some(acceptor) = tls else { return Some(Conn::Left(tcp)) };
    tokio::time::timeout(within, async move {
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(1) if first[0] == crate::tls::HANDSHAKE_RECORD => {
                acceptor.accept(tcp).await.ok().map(|tls| Conn::Right(Box::new(tls)))
            }
            Ok(1) => Some(Conn::Left(tcp)),
            _ => None,
        }
    })
    .await
    .ok()
    .flatten()
}

/// Closes a socket whose peer may still be sending (the rest of an oversized frame, say):
/// half-closes, then reads and discards until the peer closes too, for at most [`LINGER`].
/// Closing with unread data would make the kernel reset the connection, and the peer could
/// lose the last answer written.
pub async fn linger(mut tcp: impl AsyncRead + AsyncWrite + Unpin) {
    let _ = tokio::time::timeout(LINGER, async {
        // Best effort by design: the peer may have closed first; the socket is dropped after.
        let _ = tcp.shutdown().await;
        let mut discard = vec![0; 16 * 1024];
        while let Ok(1..) = tcp.read(&mut discard).await {}
    })
    .await;
}
