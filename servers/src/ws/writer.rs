//! The writer: the one place that writes to a socket. The read loop and the requests it
//! runs hand it frames through a channel, so replies, stream items and pushes interleave
//! safely and leave in batches.

use futures::SinkExt;
use futures::stream::SplitSink;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::messages::ServerMessage;
use super::{Socket, WRITE_BATCH};

/// What the read loop and running requests hand to the writer.
#[derive(Debug)]
pub(super) enum Outgoing {
    Frame(Message),
    /// Write out anything pending, e.g. the pong tungstenite queued for a ping.
    Flush,
}

pub(super) type Outbox = mpsc::Sender<Outgoing>;

/// Writes queued messages, flushing when the queue runs dry (or every [`WRITE_BATCH`]), so a
/// burst of stream items leaves in few syscalls. Ends after a Close frame or a failed write.
pub(super) async fn write_loop(sink: &mut SplitSink<Socket, Message>, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut batched = 0;
        while let Some(outgoing) = next.take() {
            match outgoing {
                // The last frame: out at once (`SplitSink` holds a fed item until flushed).
                Outgoing::Frame(close @ Message::Close(_)) => {
                    // The last frame: a peer already gone cannot receive it, and nothing follows.
                    let _ = sink.send(close).await;
                    return;
                }
                Outgoing::Frame(message) => {
                    if sink.feed(message).await.is_err() {
                        return;
                    }
                }
                Outgoing::Flush => {}
            }
            batched += 1;
            if batched < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// `message` serialized straight to a text frame.
pub(super) fn text_frame(message: &ServerMessage) -> Outgoing {
    let text = serde_json::to_string(message).expect("server messages serialize");
    Outgoing::Frame(Message::Text(text.into()))
}

/// Queues `message`. False when the writer is gone.
pub(super) async fn send(tx: &Outbox, message: &ServerMessage) -> bool {
    tx.send(text_frame(message)).await.is_ok()
}
