//! One hyper client connection, HTTP/1.1 or HTTP/2 (cleartext, prior knowledge): what the
//! clients that speak HTTP (REST, GraphQL) open, send on and share between lanes.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::ClientError;

#[derive(Debug)]
pub(crate) enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Opens the connection over `stream` and waits until it can send. The connection's task
    /// ends with the connection; a failure shows in the next call.
    pub(crate) async fn handshake(
        stream: wirebench_wire::Stream,
        http2: bool,
    ) -> Result<Sender, ClientError> {
        let io = TokioIo::new(stream);
        if http2 {
            let (mut sender, conn) = http2::handshake(TokioExecutor::new(), io).await.map_err(hyper_error)?;
            tokio::spawn(conn);
            sender.ready().await.map_err(hyper_error)?;
            Ok(Sender::H2(sender))
        } else {
            let (mut sender, conn) = http1::handshake(io).await.map_err(hyper_error)?;
            tokio::spawn(conn);
            sender.ready().await.map_err(hyper_error)?;
            Ok(Sender::H1(sender))
        }
    }

    /// Another handle onto an HTTP/2 connection, whose requests run beside this one's;
    /// `None` for HTTP/1.1, which carries one request at a time.
    pub(crate) fn lane(&self) -> Option<Sender> {
        match self {
            Sender::H2(sender) => Some(Sender::H2(sender.clone())),
            Sender::H1(_) => None,
        }
    }

    /// HTTP/2 requests carry an absolute URI; HTTP/1.1 ones a path and a `Host` header.
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }

    /// Sends `req` once the connection can take it; returns the response head.
    pub(crate) async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        match self {
            Sender::H1(s) => {
                s.ready().await.map_err(hyper_error)?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await.map_err(hyper_error)?;
                s.send_request(req).await
            }
        }
        .map_err(hyper_error)
    }
}

pub(crate) fn hyper_error(e: hyper::Error) -> ClientError {
    ClientError::Io(std::io::Error::other(e))
}
