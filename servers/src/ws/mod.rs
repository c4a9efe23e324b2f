//! WebSockets: one socket per client at `/ws`, JSON text frames, replies matched to requests
//! by a client-chosen correlation id, and server push.
//!
//! Every client message is a [`ClientMessage`], tagged by `"op"` and carrying an `"id"` that
//! the answer echoes. Every server message is a [`ServerMessage`], tagged by `"type"`:
//! `reply` (one answer), `item` + `end` (a stream), `event` (a subscription push) or `error`.
//! A client may pipeline many requests; they run concurrently (up to [`MAX_IN_FLIGHT`] per
//! socket), so replies can arrive out of order and the id is what matches them up.
//!
//! ```text
//! → {"op":"get_user","id":1,"user_id":7}
//! ← {"type":"reply","id":1,"data":{"id":7,"name":"…",…}}
//! → {"op":"stream_orders","id":2,"limit":2}
//! ← {"type":"item","id":2,"seq":0,"data":{…order 1…}}
//! ← {"type":"item","id":2,"seq":1,"data":{…order 2…}}
//! ← {"type":"end","id":2,"count":2}
//! → {"op":"get_user","id":3,"user_id":999999}
//! ← {"type":"error","id":3,"code":"not_found","message":"user 999999 not found"}
//! ```
//!
//! A client that asks for the subprotocol [`SUBPROTOCOL`] in its upgrade gets the same
//! messages in protobuf (`proto/wirebench/v1/ws.proto`), one per binary frame, both ways:
//! see [`protobuf`].
//!
//! Errors are messages, never a dropped socket: domain errors carry the domain's codes;
//! unreadable messages are `malformed_message`, messages over `max_body_bytes` are
//! `too_large`, and frames of the other kind than the socket agreed on are `unsupported`. Only frames far beyond the limit (more than
//! [`LIBRARY_LIMIT_FACTOR`] times it) reach the library's own limit, which closes with 1009.
//!
//! Each connection is one task: a read loop (requests, subscriptions, keep-alive) and one
//! writer fed by a channel, so replies, stream items and pushes interleave safely and are
//! flushed in batches. The server pings every [`PING_INTERVAL`] (or a third of the idle
//! limit, if shorter) and closes with 1000 a socket that has sent nothing, not even a pong,
//! for [`ServerConfig::idle_timeout`](crate::ServerConfig); a client has
//! [`ServerConfig::header_read_timeout`](crate::ServerConfig) to complete its upgrade. Over
//! the connection cap the upgrade completes and the socket closes at once with 1013 (try
//! again later). On shutdown it stops accepting, lets in-flight requests finish and closes
//! every socket with 1001 (going away).
//!
//! The contract `schema/ws.schema.json` is generated from these types by [`schema_json`].
//!
//! - [`messages`]: the message contract (the source of `schema/ws.schema.json`);
//! - [`protobuf`]: the same contract in protobuf, for binary frames;
//! - `session`: one socket's read loop and what it remembers between messages;
//! - `writer`: the one task that writes to a socket;
//! - [`deflate`]: permessage-deflate (RFC 7692), agreed when the client offers it.

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use wirebench_domain::MAX_BATCH;

use crate::{ProtocolServer, ServerContext};

pub mod deflate;
pub mod messages;
pub mod protobuf;
mod session;
mod writer;

pub use messages::*;
pub use protobuf::{Frames, SUBPROTOCOL};
pub use session::decode;

/// The only path that upgrades; any other gets HTTP 404 during the handshake.
pub const PATH: &str = "/ws";
/// How often the server pings an open socket, at most.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// Requests one socket may have running at once; past this the server stops reading.
pub const MAX_IN_FLIGHT: usize = 128;
/// Orders one socket may hold in unfinished import batches, all batches together.
pub const MAX_BUFFERED_IMPORTS: usize = MAX_BATCH;
/// Event subscriptions one socket may hold.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// The library's own message and frame limit is this multiple of `max_body_bytes`: text
/// between the two gets a `too_large` error message, only text beyond it closes the socket.
pub const LIBRARY_LIMIT_FACTOR: usize = 4;

/// Time a closing socket has to finish in-flight requests and answer our Close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Messages queued for a socket's writer before producers wait.
const OUTBOX_CAPACITY: usize = 256;
/// Most messages the writer buffers before it flushes.
const WRITE_BATCH: usize = 64;

/// The WebSocket server.
#[derive(Debug)]
pub struct Ws;

impl ProtocolServer for Ws {
    fn name(&self) -> &'static str {
        "ws"
    }

    fn describe(&self) -> &'static str {
        "WebSocket, JSON text frames (protobuf binary frames with the subprotocol wirebench.v1.proto): \
         correlated request/reply, streams and event push"
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("ws://{addr}{PATH}")
    }

    fn contracts(&self) -> Vec<(&'static str, String)> {
        vec![("ws.schema.json", schema_json())]
    }

    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, io::Result<()>> {
        Box::pin(async move {
            let config = ctx.config.clone();
            let refusal = config.clone();
            crate::tcp::serve(
                listener,
                shutdown,
                &config,
                move |tcp, stop| connection(tcp, ctx.clone(), stop),
                move |tcp| refuse(tcp, refusal.clone()),
            )
            .await
        })
    }
}

type Socket = WebSocketStream<deflate::Deflating<crate::tcp::Conn>>;

/// Limits for the library: far above the application's own, see [`LIBRARY_LIMIT_FACTOR`].
pub fn ws_config(max_body_bytes: usize) -> WebSocketConfig {
    let hard_limit = max_body_bytes.saturating_mul(LIBRARY_LIMIT_FACTOR);
    WebSocketConfig::default().max_message_size(Some(hard_limit)).max_frame_size(Some(hard_limit))
}

/// The handshake callback: only [`PATH`] upgrades, with permessage-deflate when the client
/// offers it in a form the server can honour, and with protobuf binary frames when the client
/// asks for [`SUBPROTOCOL`] (what was agreed is left in `agreed`).
fn upgrade(
    agreed: &OnceLock<Frames>,
) -> impl FnOnce(&Request, Response) -> Result<Response, ErrorResponse> + Unpin + Send + '_ {
    #[allow(clippy::result_large_err, reason = "the signature is tungstenite's `Callback`")]
    move |request: &Request, response: Response| {
        let frames = Frames::negotiate(
            request.headers().get_all(header::SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok()),
        );
        let mut response = only_ws_path(request, response)?;
        if frames == Frames::Protobuf {
            let value = header::HeaderValue::from_static(SUBPROTOCOL);
            response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        let _ = agreed.set(frames);
        Ok(response)
    }
}

/// Only [`PATH`] upgrades, with permessage-deflate when the client offers it in a form the
/// server can honour.
#[allow(clippy::result_large_err, reason = "the signature is tungstenite's `Callback`")]
fn only_ws_path(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == PATH {
        let offers = request.headers().get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter();
        if let Some(agreed) = deflate::negotiate(offers.filter_map(|v| v.to_str().ok())) {
            let value = header::HeaderValue::from_str(&agreed.header()).expect("a valid header value");
            response.headers_mut().insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
        }
        return Ok(response);
    }
    let body = format!("no WebSocket endpoint at {}; use {PATH}\n", request.uri().path());
    let mut error = ErrorResponse::new(Some(body.clone()));
    *error.status_mut() = StatusCode::NOT_FOUND;
    let headers = error.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(body.len()));
    headers.insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    Err(error)
}

/// One connection, from handshake to close.
async fn connection(tcp: crate::tcp::Conn, ctx: ServerContext, shutdown: CancellationToken) {
    let config = ws_config(ctx.config.max_body_bytes);
    let limit = config.max_message_size.unwrap_or(usize::MAX);
    let tcp = deflate::Deflating::server(tcp, limit);
    let agreed = OnceLock::new();
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(tcp, upgrade(&agreed), Some(config));
    // A silent socket is idle: the shorter limit applies before the upgrade too.
    let upgrade_time = ctx.config.header_read_timeout.min(ctx.config.idle_timeout);
    let socket = tokio::select! {
        upgraded = tokio::time::timeout(upgrade_time, handshake) => match upgraded {
            Ok(Ok(socket)) => socket,
            // Wrong path (answered 404), not a WebSocket request, or too slow.
            _ => return,
        },
        () = shutdown.cancelled() => return,
    };
    let (mut sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
    let tx = writer::Outbox::new(tx, agreed.get().copied().unwrap_or_default());
    let ending = {
        let mut reader = pin!(session::read_loop(&mut stream, tx, &ctx, &shutdown));
        let mut writer = pin!(writer::write_loop(&mut sink, rx));
        tokio::select! {
            // The reader is done and has dropped its sender: let the writer send what is
            // queued (a Close frame, last replies), but not forever.
            ending = &mut reader => {
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                ending
            }
            // The writer stopped (socket broken, or our Close frame is out): the reader
            // notices on its next send or read, or waits out the peer's Close frame.
            () = &mut writer => reader.await,
        }
    };
    if ending == session::Ending::PeerBroke
        && let Ok(socket) = sink.reunite(stream)
    {
        crate::tcp::linger(socket.into_inner().into_inner()).await;
    }
}

/// Answers a connection over the cap: the upgrade completes (a client learns why only from
/// a Close frame) and the socket closes at once with 1013, try again later.
async fn refuse(tcp: crate::tcp::Conn, config: crate::ServerConfig) {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let handshake = tokio_tungstenite::accept_hdr_async(tcp, only_ws_path);
    let Ok(mut socket) = handshake.await else { return };
    let reason = format!("this server holds at most {} connections; try again later", config.max_connections);
    let close = CloseFrame { code: CloseCode::Again, reason: reason.into() };
    // Best effort: a peer that left has nothing to be told.
    if socket.close(Some(close)).await.is_ok() {
        while let Some(Ok(_)) = socket.next().await {}
    }
}
