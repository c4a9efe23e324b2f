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
//! Idle and header time limits belong to each protocol (they know what "between requests"
//! means); see [`ServerConfig`].

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ServerConfig;

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
    mut handle: F,
    refuse: R,
) -> io::Result<()>
where
    F: FnMut(TcpStream, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
    R: Fn(TcpStream) -> RFut,
    RFut: Future<Output = ()> + Send + 'static,
{
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
                    // Ignoring a failure is right: the socket works without it, only small
                    // writes may be delayed (and the harness would see that in latency).
                    let _ = tcp.set_nodelay(true);
                    match slots.clone().try_acquire_owned() {
                        Ok(slot) => {
                            let served = handle(tcp, shutdown.clone());
                            connections.spawn(async move {
                                served.await;
                                drop(slot);
                            });
                        }
                        Err(_) if refusals.len() < MAX_REFUSING => {
                            let refused = refuse(tcp);
                            refusals.spawn(async move {
                                let _ = tokio::time::timeout(REFUSAL_TIME, refused).await;
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

/// Closes a socket whose peer may still be sending (the rest of an oversized frame, say):
/// half-closes, then reads and discards until the peer closes too, for at most [`LINGER`].
/// Closing with unread data would make the kernel reset the connection, and the peer could
/// lose the last answer written.
pub async fn linger(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(LINGER, async {
        // Best effort by design: the peer may have closed first; the socket is dropped after.
        let _ = tcp.shutdown().await;
        let mut discard = vec![0; 16 * 1024];
        while let Ok(1..) = tcp.read(&mut discard).await {}
    })
    .await;
}
