//! The floor: a raw-TCP, length-prefixed protocol that gives the machine's own
//! request/response cost. Its catalog operations carry the same protobuf messages as gRPC and
//! do the same store work (through [`crate::pb_ops`]), with no HTTP, no HTTP/2 framing and no
//! gRPC prefix. `FILL` and `SINK` do no store or codec work at all: they move bytes of
//! given sizes, so a client can reproduce another protocol's message pattern and measure
//! the pure transport cost of those sizes (the `floor-echo` variant).
//!
//! Wire format, both directions: `u32` big-endian length of what follows, then the body.
//! A request body is `[op: u8][protobuf message]`; a reply body is `[kind: u8][bytes]`.
//! Requests on one connection are answered in order.
//!
//! | op | request message | reply |
//! |---|---|---|
//! | 0 `ECHO` | any bytes | `OK` with the same bytes (pure transport floor) |
//! | 1 `GET_USER` | GetUserRequest | `OK` User |
//! | 2 `USER_ORDERS` | GetUserOrdersRequest | `OK` UserOrders |
//! | 3 `LIST_ORDERS` | ListOrdersRequest | `OK` OrderPage |
//! | 4 `STREAM_ORDERS` | ListOrdersRequest | one `ITEM` Order per order, then `END` |
//! | 5 `CREATE_ORDER` | CreateOrderRequest | `OK` CreateOrderResponse |
//! | 6 `IMPORT_ITEM` | CreateOrderRequest | none (buffered) |
//! | 7 `IMPORT_COMMIT` | empty | `OK` ImportSummary for the buffered items |
//! | 8 `TRACK` | TrackRequest | `OK` TrackReply |
//! | 9 `FILL` | `u32` count, `count` × `u32` size, then any bytes | one `ITEM` of each size (zero bytes), then `END` |
//! | 10 `SINK` | any bytes | none |
//! | 11 `USERS_ORDERS` | ListUsersOrdersRequest | `OK` UsersOrders |
//!
//! A stream's items are written as they are produced and flushed when nothing more is ready
//! (here: once, after the last), as hyper, tonic and the WebSocket writer do with messages
//! that are ready together; the client times each as it arrives.
//!
//! Errors are `ERROR` replies whose bytes are `code: message` in UTF-8. A domain error
//! (`not_found`, `invalid_argument`, …, or a full import buffer) leaves the connection
//! usable. A frame the server cannot read — a length prefix over the limit (`too_large`),
//! an empty frame or bytes that are not the op's protobuf message (`malformed_message`),
//! an unknown op (`unknown_op`) — gets its `ERROR` frame and the connection closes at once:
//! after such bytes the stream cannot be trusted to be at a frame boundary.
//!
//! Limits ([`crate::ServerConfig`]): a connection with no whole frame for the idle timeout
//! is closed between frames; one over the connection cap gets an `ERROR` frame
//! (`overloaded: …`) before any request and is closed.

use futures::future::BoxFuture;
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wirebench_domain::{BatchItem, MAX_BATCH, Store};
use wirebench_proto::v1 as pb;

use crate::pb_ops::{self, OpError};
use crate::tcp::Conn;
use crate::{ProtocolServer, ServerContext};

/// Request operations.
pub mod op {
    pub const ECHO: u8 = 0;
    pub const GET_USER: u8 = 1;
    pub const USER_ORDERS: u8 = 2;
    pub const LIST_ORDERS: u8 = 3;
    pub const STREAM_ORDERS: u8 = 4;
    pub const CREATE_ORDER: u8 = 5;
    pub const IMPORT_ITEM: u8 = 6;
    pub const IMPORT_COMMIT: u8 = 7;
    pub const TRACK: u8 = 8;
    pub const FILL: u8 = 9;
    pub const SINK: u8 = 10;
    pub const USERS_ORDERS: u8 = 11;
}

/// Largest `FILL` reply, per item.
pub const MAX_FILL: usize = 16 * 1024 * 1024;

/// The sizes a `FILL` request asks for and the length of the list that says so, or why the
/// request is malformed.
pub fn fill_sizes(body: &[u8]) -> Result<(Vec<usize>, usize), String> {
    let word = |at: usize| -> Result<usize, String> {
        let bytes = body.get(at..at + 4).ok_or("a FILL request shorter than its size list")?;
        Ok(u32::from_be_bytes(bytes.try_into().expect("4 bytes")) as usize)
    };
    let count = word(0)?;
    if count > MAX_FILL_ITEMS {
        return Err(format!("a FILL of {count} items (at most {MAX_FILL_ITEMS})"));
    }
    let sizes = (0..count).map(|i| word(4 + 4 * i)).collect::<Result<Vec<_>, _>>()?;
    if let Some(big) = sizes.iter().find(|s| **s > MAX_FILL) {
        return Err(format!("a FILL item of {big} bytes (at most {MAX_FILL})"));
    }
    Ok((sizes, 4 + 4 * count))
}

/// Most items one `FILL` may ask for.
pub const MAX_FILL_ITEMS: usize = 100_000;

/// Reply kinds.
pub mod kind {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const ITEM: u8 = 2;
    pub const END: u8 = 3;
}

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;

/// The floor server.
#[derive(Debug)]
pub struct Floor;

impl ProtocolServer for Floor {
    fn name(&self) -> &'static str {
        "floor"
    }

    fn describe(&self) -> &'static str {
        "raw TCP, length-prefixed protobuf: the machine's own request/response floor"
    }

    fn url(&self, addr: std::net::SocketAddr) -> String {
        format!("tcp://{addr}")
    }

    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, std::io::Result<()>> {
        Box::pin(async move {
            let config = ctx.config.clone();
            let cap = config.max_connections;
            let handle = move |socket, stop| {
                let ctx = ctx.clone();
                async move {
                    // A broken connection only ends itself; nothing to report to the peer.
                    let _ = connection(socket, ctx, stop).await;
                }
            };
            crate::tcp::serve(listener, shutdown, &config, handle, move |socket| refuse(socket, cap)).await
        })
    }
}

/// What [`read_frame`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole frame body is in the buffer.
    Body,
    /// The peer closed the stream cleanly, between frames.
    End,
    /// A length prefix over the limit: the frame's bytes are left unread.
    TooLarge(usize),
}

/// Reads one frame body into `buf` (reused); see [`Frame`] for what it may find.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Frame> {
    let mut len = [0u8; PREFIX];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(Frame::End),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Ok(Frame::TooLarge(len));
    }
    buf.clear();
    buf.resize(len, 0);
    r.read_exact(buf).await?;
    Ok(Frame::Body)
}

/// Writes one frame: prefix, tag byte, message.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, tag: u8, msg: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(msg.len() + 1).map_err(|_| std::io::Error::other("frame over 4 GiB"))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&[tag]).await?;
    w.write_all(msg).await
}

/// Writes one frame carrying an encoded protobuf message, encoding into `scratch`.
pub async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    tag: u8,
    msg: &impl Message,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    scratch.clear();
    msg.encode(scratch).expect("Vec grows as needed");
    write_frame(w, tag, scratch).await
}

fn error_text(e: &OpError) -> String {
    match e {
        OpError::Domain(d) => format!("{}: {d}", d.code()),
        OpError::Convert(c) => format!("malformed_message: {c}"),
    }
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, Answer> {
    M::decode(bytes).map_err(|e| Answer::Fatal(format!("malformed_message: {e}")))
}

/// Decodes the request, runs the operation and encodes its reply into `scratch`.
async fn run<Req, Resp, Fut>(body: &[u8], scratch: &mut Vec<u8>, f: impl FnOnce(Req) -> Fut) -> Answer
where
    Req: Message + Default,
    Resp: Message,
    Fut: std::future::Future<Output = Result<Resp, OpError>>,
{
    let request = match decode(body) {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    match f(request).await {
        Ok(reply) => {
            scratch.clear();
            reply.encode(scratch).expect("Vec grows as needed");
            Answer::Ok
        }
        Err(e) => e.into(),
    }
}

/// What answering one request frame did.
enum Answer {
    /// Reply `OK` with the bytes in the scratch buffer.
    Ok,
    /// The reply frames are already written (a stream), or none is due (an import item).
    Written,
    /// Reply `ERROR` with `code: message`; the connection serves on.
    Error(String),
    /// Reply `ERROR` with `code: message`, then close: the frame could not be read.
    Fatal(String),
}

impl From<OpError> for Answer {
    fn from(e: OpError) -> Self {
        Answer::Error(error_text(&e))
    }
}

/// One connection: frames in, replies out, in order, until the peer closes, sends a frame
/// that cannot be read, idles out, or the server shuts down (which waits for the request in
/// hand).
async fn connection(socket: Conn, ctx: ServerContext, stop: CancellationToken) -> std::io::Result<()> {
    let (r, w) = tokio::io::split(socket);
    let mut r = BufReader::new(r);
    let mut conn = Session { w: BufWriter::new(w), scratch: Vec::new(), import: Vec::new() };
    let mut frame = Vec::new();
    let max = ctx.config.max_body_bytes;
    loop {
        let read = tokio::select! {
            biased;
            () = stop.cancelled() => return conn.w.flush().await,
            read = tokio::time::timeout(ctx.config.idle_timeout, read_frame(&mut r, &mut frame, max)) => match read {
                Ok(read) => read?,
                // Idle: closed between frames, as at shutdown.
                Err(_) => return conn.w.flush().await,
            },
        };
        let answer = match read {
            Frame::End => return conn.w.flush().await,
            Frame::TooLarge(len) => {
                Answer::Fatal(format!("too_large: frame of {len} bytes over the {max} byte limit"))
            }
            Frame::Body => match frame.split_first() {
                None => Answer::Fatal("malformed_message: empty frame".into()),
                Some((&code, body)) => conn.answer(&ctx.store, code, body).await?,
            },
        };
        match answer {
            Answer::Ok => write_frame(&mut conn.w, kind::OK, &conn.scratch).await?,
            Answer::Written => {}
            Answer::Error(text) => write_frame(&mut conn.w, kind::ERROR, text.as_bytes()).await?,
            Answer::Fatal(text) => {
                write_frame(&mut conn.w, kind::ERROR, text.as_bytes()).await?;
                conn.w.flush().await?;
                let socket = r.into_inner().unsplit(conn.w.into_inner());
                crate::tcp::linger(socket).await;
                return Ok(());
            }
        }
        conn.w.flush().await?;
    }
}

/// Answers a connection over the cap with one `ERROR` frame before any request, then closes.
async fn refuse(mut socket: Conn, cap: usize) {
    let text = format!("overloaded: this server holds at most {cap} connections; try again later");
    if write_frame(&mut socket, kind::ERROR, text.as_bytes()).await.is_ok() {
        crate::tcp::linger(socket).await;
    }
}

/// A connection's writer and what it keeps between frames.
struct Session {
    w: BufWriter<tokio::io::WriteHalf<Conn>>,
    /// Reused encode buffer.
    scratch: Vec<u8>,
    /// Import items received since the last commit.
    import: Vec<BatchItem>,
}

impl Session {
    /// Runs request `code` with message `body`. Only I/O errors end the connection.
    async fn answer(&mut self, store: &Store, code: u8, body: &[u8]) -> std::io::Result<Answer> {
        let sc = &mut self.scratch;
        let done =
            match code {
                op::ECHO => {
                    sc.clear();
                    sc.extend_from_slice(body);
                    Answer::Ok
                }
                op::GET_USER => run(body, sc, |req| pb_ops::get_user(store, req)).await,
                op::USER_ORDERS => run(body, sc, |req| pb_ops::user_orders(store, req)).await,
                op::USERS_ORDERS => run(body, sc, |req| pb_ops::users_orders(store, req)).await,
                op::LIST_ORDERS => run(body, sc, |req| pb_ops::list_orders(store, req)).await,
                op::CREATE_ORDER => run(body, sc, |req| pb_ops::create_order(store, req)).await,
                op::TRACK => {
                    run(body, sc, |req| async move {
                        Ok(pb_ops::track(store, req, |e| e.code().to_owned()).await)
                    })
                    .await
                }
                op::IMPORT_COMMIT => {
                    let items = std::mem::take(&mut self.import);
                    run(&[], sc, |()| pb_ops::import(store, items)).await
                }
                op::STREAM_ORDERS => return self.stream(store, body).await,
                op::FILL => return self.fill(body).await,
                op::SINK => return Ok(Answer::Written),
                op::IMPORT_ITEM => return Ok(self.import_item(body)),
                other => return Ok(Answer::Fatal(format!("unknown_op: {other}"))),
            };
        Ok(done)
    }

    /// Writes one `ITEM` frame per order of the page, then `END` with the count.
    async fn stream(&mut self, store: &Store, body: &[u8]) -> std::io::Result<Answer> {
        let request = match decode(body) {
            Ok(request) => request,
            Err(answer) => return Ok(answer),
        };
        let page = match pb_ops::list_orders(store, request).await {
            Ok(page) => page,
            Err(e) => return Ok(e.into()),
        };
        for order in &page.orders {
            write_message(&mut self.w, kind::ITEM, order, &mut self.scratch).await?;
        }
        write_frame(&mut self.w, kind::END, &(page.orders.len() as u32).to_be_bytes()).await?;
        Ok(Answer::Written)
    }

    /// Writes one `ITEM` of zero bytes per size asked for, then `END`: no store, no codec,
    /// only the transport.
    async fn fill(&mut self, body: &[u8]) -> std::io::Result<Answer> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let sizes = match fill_sizes(body) {
            Ok((sizes, _)) => sizes,
            Err(e) => return Ok(Answer::Fatal(format!("malformed_message: {e}"))),
        };
        for size in &sizes {
            let len = u32::try_from(size + 1).map_err(|_| std::io::Error::other("item over 4 GiB"))?;
            self.w.write_all(&len.to_be_bytes()).await?;
            self.w.write_all(&[kind::ITEM]).await?;
            let mut left = *size;
            while left > 0 {
                let n = left.min(ZEROS.len());
                self.w.write_all(&ZEROS[..n]).await?;
                left -= n;
            }
        }
        write_frame(&mut self.w, kind::END, &(sizes.len() as u32).to_be_bytes()).await?;
        Ok(Answer::Written)
    }

    /// Buffers one import item. No reply by design (N messages in, one summary out), except
    /// an error for a bad item or a full buffer.
    fn import_item(&mut self, body: &[u8]) -> Answer {
        let request = match decode::<pb::CreateOrderRequest>(body) {
            Ok(request) => request,
            Err(answer) => return answer,
        };
        match pb_ops::batch_item(request) {
            Ok(item) if self.import.len() < MAX_BATCH => {
                self.import.push(item);
                Answer::Written
            }
            Ok(_) => Answer::Error(format!("too_large: an import holds at most {MAX_BATCH} orders")),
            Err(e) => OpError::from(e).into(),
        }
    }
}
