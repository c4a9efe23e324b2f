//! The HTTP/2 under the gRPC client: the `h2` crate's client as the service tonic's client
//! core calls, request bodies sent within the peer's window, answers as `http_body` bodies.

use bytes::{Buf, Bytes};

use super::ClientError;

/// Opens HTTP/2 on a counted stream with hyper's client settings, so the wire is what a
/// hyper (or tonic) client sends.
pub(super) async fn handshake<S>(
    stream: S,
) -> Result<(h2::client::SendRequest<Bytes>, h2::client::Connection<S, Bytes>), ClientError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    h2::client::Builder::new()
        .initial_max_send_streams(100)
        .initial_window_size(2 << 20)
        .initial_connection_window_size(5 << 20)
        .max_header_list_size(16 << 10)
        .max_send_buffer_size(1 << 20)
        .enable_push(false)
        .handshake(stream)
        .await
        .map_err(h2_error)
}

pub(super) fn h2_error(e: h2::Error) -> ClientError {
    ClientError::Io(if e.is_io() { e.into_io().expect("an I/O error") } else { std::io::Error::other(e) })
}

/// The `user-agent` every call carries (gRPC asks clients to name themselves).
pub(super) const USER_AGENT: &str = concat!("wirebench/", env!("CARGO_PKG_VERSION"));

/// One HTTP/2 connection as the service tonic's client core calls: no connection pool, no
/// buffer task, no reconnect layer between the generator and the socket. The `h2` crate
/// directly rather than hyper's client: hyper waits for flow-control capacity before it
/// writes a request's first DATA frame, so every call leaves in two writes (HEADERS, then
/// DATA) where grpc-go and h2load write one.
#[derive(Debug, Clone)]
pub(super) struct H2 {
    pub(super) send: h2::client::SendRequest<Bytes>,
    /// The call's `content-type` (tonic's client names every call `application/grpc`,
    /// whatever its codec).
    pub(super) content_type: http::HeaderValue,
}

impl tower::Service<http::Request<tonic::body::Body>> for H2 {
    type Response = http::Response<H2Body>;
    type Error = h2::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, h2::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), h2::Error>> {
        self.send.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let (mut head, body) = req.into_parts();
        head.headers.insert(http::header::USER_AGENT, http::HeaderValue::from_static(USER_AGENT));
        head.headers.insert(http::header::CONTENT_TYPE, self.content_type.clone());
        let sent = self.send.send_request(http::Request::from_parts(head, ()), false);
        Box::pin(async move {
            let (answer, send) = sent?;
            // A failure to send the body resets the stream, and the answer says so.
            tokio::spawn(pump(body, send));
            Ok(answer.await?.map(|recv| H2Body { recv, data_done: false }))
        })
    }
}

/// Sends a request body on its stream within the peer's flow-control window, then ends the
/// stream (with an empty DATA frame, as hyper does, or with trailers).
async fn pump(mut body: tonic::body::Body, mut send: h2::SendStream<Bytes>) -> Result<(), h2::Error> {
    use http_body_util::BodyExt;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(_) => {
                send.send_reset(h2::Reason::CANCEL);
                return Ok(());
            }
        };
        match frame.into_data() {
            Ok(mut data) => {
                while data.has_remaining() {
                    send.reserve_capacity(data.len());
                    let granted = match futures::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                        Some(granted) => granted?,
                        None => return Err(h2::Error::from(h2::Reason::STREAM_CLOSED)),
                    };
                    if granted > 0 {
                        send.send_data(data.split_to(granted.min(data.len())), false)?;
                    }
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    return send.send_trailers(trailers);
                }
            }
        }
    }
    send.send_data(Bytes::new(), true)
}

/// An answer's body: DATA frames (their flow-control capacity released as they are read,
/// as hyper does), then the trailers.
pub(super) struct H2Body {
    recv: h2::RecvStream,
    data_done: bool,
}

impl http_body::Body for H2Body {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, h2::Error>>> {
        use std::task::Poll;
        let me = self.get_mut();
        if !me.data_done {
            match me.recv.poll_data(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(data))) => {
                    if let Err(e) = me.recv.flow_control().release_capacity(data.len()) {
                        return Poll::Ready(Some(Err(e)));
                    }
                    return Poll::Ready(Some(Ok(http_body::Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => me.data_done = true,
            }
        }
        match me.recv.poll_trailers(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(trailers))) => Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers)))),
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

/// An HTTP error from something between client and server (a gateway's rate limit), with no
/// gRPC status: gRPC's HTTP-to-status mapping makes 429, 502, 503 and 504 UNAVAILABLE.
pub(super) fn http_error(parts: &http::response::Parts) -> Option<ClientError> {
    if parts.status == http::StatusCode::OK || parts.headers.contains_key("grpc-status") {
        return None;
    }
    let code = format!("HTTP {}", parts.status.as_u16());
    let unavailable = matches!(parts.status.as_u16(), 429 | 502 | 503 | 504);
    let message = format!("{code} without a gRPC status (from something between client and server)");
    Some(ClientError::answered(unavailable.then_some("unavailable"), code, message, None))
}
