//! A lean HTTP/1.1 client connection, the way wrk drives one: each request written with one
//! write from a buffer the connection keeps, each answer read into another and parsed in
//! place (`httparse`, as hyper does), in the calling task. No connection task, no channel
//! between caller and connection, no waker passed back and forth, no header map built for
//! an answer: what a call costs the generator beyond the kernel is the parse.
//!
//! What it does not do, as the REST client never asks for it: pipelining, `Expect:
//! 100-continue`, upgrades, bodies delimited by the close of the connection. An answer it
//! cannot frame is a decode error, and the connection is not used again.

use std::io::Write as _;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ClientError;

/// The largest answer head read (status line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// The largest answer body read, whole or as one chunk.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Headers an answer may carry.
const MAX_HEADERS: usize = 32;
/// How much the read buffer grows by at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A request as the REST client builds it: no URI parsing, no header map.
#[derive(Debug)]
pub(crate) struct Req<'a> {
    pub method: Method,
    pub path: &'a str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// An answer's head: its status and the few headers the client reads.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    framing: Framing,
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// At a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes of it left.
    Data(usize),
    /// At the CRLF after a chunk's data.
    Crlf,
    /// Done: the last chunk and its trailers were read.
    End,
}

/// The headers of an answer the REST client reads (the others are parsed and dropped).
const KEPT: [HeaderName; 3] = [
    http::header::CONTENT_ENCODING,
    http::header::RETRY_AFTER,
    HeaderName::from_static("idempotent-replayed"),
];

/// One HTTP/1.1 connection.
pub(crate) struct H1 {
    io: wirebench_wire::Stream,
    /// The `Host` header's value.
    host: HeaderValue,
    read: BytesMut,
    write: Vec<u8>,
    /// The body being read: its framing and, for chunked, where it is.
    body: Option<(Framing, Chunk)>,
    /// False once the server said it closes, or an answer could not be framed.
    usable: bool,
}

impl std::fmt::Debug for H1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1").field("host", &self.host).field("usable", &self.usable).finish()
    }
}

fn closed() -> ClientError {
    ClientError::Io(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the server closed the connection",
    ))
}

impl H1 {
    pub(crate) fn new(io: wirebench_wire::Stream, host: HeaderValue) -> H1 {
        H1 {
            io,
            host,
            read: BytesMut::with_capacity(READ_CHUNK),
            write: Vec::with_capacity(512),
            body: None,
            usable: true,
        }
    }

    /// Writes `req` (one write) and reads the answer's head.
    pub(crate) async fn send(&mut self, req: &Req<'_>) -> Result<Head, ClientError> {
        if !self.usable || self.body.is_some() {
            return Err(closed());
        }
        let w = &mut self.write;
        w.clear();
        w.extend_from_slice(req.method.as_str().as_bytes());
        w.push(b' ');
        w.extend_from_slice(req.path.as_bytes());
        w.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        w.extend_from_slice(self.host.as_bytes());
        w.extend_from_slice(b"\r\n");
        for (name, value) in &req.headers {
            w.extend_from_slice(name.as_str().as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(value.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        // As hyper does: a length for every body, none for an empty GET.
        if !req.body.is_empty() || req.method != Method::GET {
            // Writing into a Vec cannot fail.
            let _ = write!(w, "content-length: {}\r\n", req.body.len());
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(&req.body);
        self.io.write_all(&self.write).await?;
        self.head().await
    }

    /// Reads more of the answer; an error when the server closed the connection.
    async fn fill(&mut self) -> Result<(), ClientError> {
        self.read.reserve(READ_CHUNK);
        if self.io.read_buf(&mut self.read).await? == 0 {
            self.usable = false;
            return Err(closed());
        }
        Ok(())
    }

    async fn head(&mut self) -> Result<Head, ClientError> {
        loop {
            if let Some((head, len)) = self.parse_head()? {
                self.read.advance(len);
                if head.status.is_informational() {
                    continue;
                }
                self.body = Some((head.framing, Chunk::Size));
                return Ok(head);
            }
            if self.read.len() > MAX_HEAD {
                self.usable = false;
                return Err(ClientError::Decode(format!("an answer head over {MAX_HEAD} bytes")));
            }
            self.fill().await?;
        }
    }

    /// The head at the start of the read buffer and its length, when it is all there.
    fn parse_head(&mut self) -> Result<Option<(Head, usize)>, ClientError> {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut slots);
        let len = match res.parse(&self.read) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => {
                self.usable = false;
                return Err(ClientError::Decode(format!("an answer head HTTP/1.1 cannot parse: {e}")));
            }
        };
        let status = res
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or_else(|| ClientError::Decode("an answer without a valid status".into()))?;
        let mut headers = http::HeaderMap::new();
        let (mut length, mut chunked) = (None, false);
        for h in res.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                length = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h.value.eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                self.usable &= !h.value.eq_ignore_ascii_case(b"close");
            } else if let Some(name) = KEPT.iter().find(|k| h.name.eq_ignore_ascii_case(k.as_str()))
                && let Ok(value) = HeaderValue::from_bytes(h.value)
            {
                headers.append(name.clone(), value);
            }
        }
        let framing = match (chunked, length) {
            (true, _) => Framing::Chunked,
            (false, Some(n)) if n <= MAX_BODY => Framing::Length(n),
            (false, Some(n)) => {
                self.usable = false;
                return Err(ClientError::Decode(format!("an answer body of {n} bytes, over {MAX_BODY}")));
            }
            // 204 and 304 have no body.
            (false, None) if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED => {
                Framing::Length(0)
            }
            (false, None) => {
                self.usable = false;
                return Err(ClientError::Decode(
                    "an answer without Content-Length or chunked encoding".into(),
                ));
            }
        };
        Ok(Some((Head { status, headers, framing }, len)))
    }

    /// The next piece of the current answer's body as it arrives; `None` at its end.
    pub(crate) async fn data(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            let Some((framing, chunk)) = self.body else { return Ok(None) };
            match (framing, chunk) {
                (Framing::Length(n), _) => {
                    // Room for the whole body at once: no regrowth read by read.
                    self.read.reserve(n.saturating_sub(self.read.len()));
                    while self.read.len() < n {
                        self.fill().await?;
                    }
                    self.body = None;
                    return Ok((n > 0).then(|| self.read.split_to(n).freeze()));
                }
                (Framing::Chunked, Chunk::End) => {
                    self.body = None;
                    return Ok(None);
                }
                (Framing::Chunked, Chunk::Data(left)) => {
                    if self.read.is_empty() {
                        self.fill().await?;
                        continue;
                    }
                    // Hand over what is there; the rest comes with later reads.
                    let take = self.read.len().min(left);
                    let next = if take == left { Chunk::Crlf } else { Chunk::Data(left - take) };
                    self.body = Some((framing, next));
                    return Ok(Some(self.read.split_to(take).freeze()));
                }
                (Framing::Chunked, Chunk::Crlf) => {
                    if self.read.len() < 2 {
                        self.fill().await?;
                        continue;
                    }
                    self.chunk_end()?;
                    self.body = Some((framing, Chunk::Size));
                }
                (Framing::Chunked, Chunk::Size) => match self.chunk_size()? {
                    Some(next) => self.body = Some((framing, next)),
                    None => self.fill().await?,
                },
            }
        }
    }

    /// The whole body of the current answer.
    pub(crate) async fn body(&mut self) -> Result<Bytes, ClientError> {
        let first = self.data().await?.unwrap_or_default();
        let Some(second) = self.data().await? else { return Ok(first) };
        let mut all = BytesMut::from(&first[..]);
        all.extend_from_slice(&second);
        while let Some(more) = self.data().await? {
            if all.len() + more.len() > MAX_BODY {
                self.usable = false;
                return Err(ClientError::Decode(format!("an answer body over {MAX_BODY} bytes")));
            }
            all.extend_from_slice(&more);
        }
        Ok(all.freeze())
    }

    /// The CRLF after a chunk's data.
    fn chunk_end(&mut self) -> Result<(), ClientError> {
        if !self.read.starts_with(b"\r\n") {
            self.usable = false;
            return Err(ClientError::Decode("a chunk not followed by CRLF".into()));
        }
        self.read.advance(2);
        Ok(())
    }

    /// Parses a chunk-size line (and, after the last chunk, the trailers) when all there.
    fn chunk_size(&mut self) -> Result<Option<Chunk>, ClientError> {
        let Some(eol) = memchr::memmem::find(&self.read, b"\r\n") else {
            return if self.read.len() > MAX_HEAD {
                Err(self.bad("a chunk-size line too long"))
            } else {
                Ok(None)
            };
        };
        // The dissector's own reading of the line.
        let size = wirebench_wire::http1::chunk_size(&self.read[..eol]).ok().filter(|n| *n <= MAX_BODY);
        let Some(size) = size else { return Err(self.bad("a chunk size HTTP/1.1 cannot parse")) };
        if size > 0 {
            self.read.advance(eol + 2);
            return Ok(Some(Chunk::Data(size)));
        }
        // The last chunk: trailers up to an empty line.
        let rest = &self.read[eol + 2..];
        let end = if rest.starts_with(b"\r\n") {
            Some(eol + 4)
        } else {
            memchr::memmem::find(rest, b"\r\n\r\n").map(|i| eol + 2 + i + 4)
        };
        match end {
            Some(end) => {
                self.read.advance(end);
                Ok(Some(Chunk::End))
            }
            None => Ok(None),
        }
    }

    fn bad(&mut self, what: &str) -> ClientError {
        self.usable = false;
        ClientError::Decode(what.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection to a server that answers each request with the next of `answers`, each
    /// written in the pieces given (so an answer arrives split as a network splits it).
    async fn against(answers: Vec<Vec<&'static [u8]>>) -> H1 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for pieces in answers {
                let _ = sock.read(&mut buf).await.unwrap();
                for piece in pieces {
                    sock.write_all(piece).await.unwrap();
                    sock.flush().await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        });
        let dial = wirebench_wire::Dial::to(addr);
        let (stream, _) = wirebench_wire::connect(&dial, wirebench_wire::Dissector::default()).await.unwrap();
        H1::new(stream, HeaderValue::from_static("h"))
    }

    fn get(path: &str) -> Req<'_> {
        Req { method: Method::GET, path, headers: Vec::new(), body: Bytes::new() }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn answers_by_length_and_chunked_split_anywhere_come_whole() {
        let mut h1 = against(vec![
            vec![b"HTTP/1.1 200 OK\r\ncontent-le", b"ngth: 5\r\nretry-after: 2\r\n\r\nhel", b"lo"],
            vec![
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nab",
                b"c\r\n2;x=y\r\nde\r\n0\r\n",
                b"\r\n",
            ],
            vec![b"HTTP/1.1 204 No Content\r\n\r\n"],
        ])
        .await;
        let head = h1.send(&get("/a")).await.unwrap();
        assert_eq!(
            (head.status, head.headers.get("retry-after").unwrap().as_bytes()),
            (StatusCode::OK, &b"2"[..])
        );
        assert_eq!(&h1.body().await.unwrap()[..], b"hello");
        h1.send(&get("/b")).await.unwrap();
        assert_eq!(&h1.body().await.unwrap()[..], b"abcde");
        assert_eq!(h1.send(&get("/c")).await.unwrap().status, StatusCode::NO_CONTENT);
        assert!(h1.body().await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_answer_it_cannot_frame_is_a_clear_error_and_ends_the_connection() {
        for (answer, says) in [
            (&b"HTTP/1.1 200 OK\r\n\r\nno length"[..], "without Content-Length"),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 999999999999\r\n\r\n", "over"),
            (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
            (b"HTTP/9 nonsense\r\n\r\n", "cannot parse"),
        ] {
            let mut h1 = against(vec![vec![answer]]).await;
            let err = match h1.send(&get("/")).await {
                Ok(_) => h1.body().await.unwrap_err(),
                Err(e) => e,
            };
            assert!(matches!(&err, ClientError::Decode(m) if m.contains(says)), "{says}: {err}");
            assert!(h1.send(&get("/")).await.is_err(), "{says}: the connection is not used again");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_server_that_closes_mid_answer_is_an_io_error() {
        let mut h1 = against(vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"]]).await;
        h1.send(&get("/")).await.unwrap();
        assert!(matches!(h1.body().await.unwrap_err(), ClientError::Io(_)));
    }
}
