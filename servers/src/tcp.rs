//! The accept loop of the servers that own their TCP connections (WebSocket and the floor;
//! the HTTP servers use hyper's, through [`crate::serve_axum`]).
//!
//! - Every accepted socket gets `TCP_NODELAY`: small request/reply exchanges must not wait
//!   for Nagle's algorithm.
//! - An accept error about one connection (aborted or reset before we took it) is skipped;
//!   any other (out of descriptors, say) pauses the loop for [`ACCEPT_BACKOFF`] instead of
//!   spinning.
//! - On shutdown it stops accepting at once; every connection task holds the same token and
//!   closes its socket its own way (the floor after the frame in hand, WebSocket with a
//!   Close frame). The loop waits up to a grace period for them, then cuts off the rest.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Pause after an accept error that is not about one connection.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `listener` until `shutdown`, running `handle(socket, shutdown)` in a task per
/// connection; then drains for up to `grace` (see the module docs).
pub async fn serve<F, Fut>(
    listener: TcpListener,
    shutdown: CancellationToken,
    grace: Duration,
    mut handle: F,
) -> io::Result<()>
where
    F: FnMut(TcpStream, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    let mut cancelled = pin!(shutdown.cancelled());
    loop {
        tokio::select! {
            biased;
            () = &mut cancelled => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    // Ignoring a failure is right: the socket works without it, only small
                    // writes may be delayed (and the harness would see that in latency).
                    let _ = tcp.set_nodelay(true);
                    connections.spawn(handle(tcp, shutdown.clone()));
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
    let drained =
        tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }).await;
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
