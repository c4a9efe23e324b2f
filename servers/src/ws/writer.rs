//! The writer: the one place that writes to a socket. The read loop and the requests it
//! runs hand it frames through a channel, so replies, stream items and pushes interleave
//! safely and leave in batches.

use futures::SinkExt;
use futures::stream::SplitSink;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::messages::ServerMessage;
use super::protobuf::{Frames, encode_binary};
use super::{Socket, WRITE_BATCH};

/// What the read loop and running requests hand to the writer.
#[derive(Debug)]
pub(super) enum Outgoing {
    Frame(Message),
    /// Write out anything pending, e.g. the pong tungstenite queued for a ping.
    Flush,
}

/// Where the read loop and running requests queue what the writer sends, and how this
/// socket encodes messages.
#[derive(Debug, Clone)]
pub(super) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    frames: Frames,
}

impl Outbox {
    pub(super) fn new(tx: mpsc::Sender<Outgoing>, frames: Frames) -> Outbox {
        Outbox { tx, frames }
    }

    /// How this socket's messages are encoded.
    pub(super) fn frames(&self) -> Frames {
        self.frames
    }

    /// `message` serialized straight to a frame: JSON text, or protobuf binary.
    pub(super) fn frame(&self, message: ServerMessage) -> Outgoing {
        Outgoing::Frame(match self.frames {
            Frames::Json => {
                let text = serde_json::to_string(&message).expect("server messages serialize");
                Message::Text(text.into())
            }
            Frames::Protobuf => Message::Binary(encode_binary(message).into()),
        })
    }

    /// Queues `message`. False when the writer is gone.
    pub(super) async fn send(&self, message: ServerMessage) -> bool {
        self.queue(self.frame(message)).await
    }

    /// Queues a frame or a flush. False when the writer is gone.
    pub(super) async fn queue(&self, outgoing: Outgoing) -> bool {
        self.tx.send(outgoing).await.is_ok()
    }
}

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
