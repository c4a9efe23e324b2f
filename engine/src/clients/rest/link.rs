//! How a REST connection sends and reads: HTTP/1.1 on the lean connection of
//! [`crate::clients::h1`], HTTP/2 through hyper; the requests the variant builds.

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::RestConnection;
use super::media::{self, Media};
use crate::clients::ClientError;
use crate::clients::h1::{H1, Req};
use crate::clients::http_conn::{Sender, hyper_error};

/// How a connection sends: HTTP/1.1 on the lean connection of [`super::h1`], HTTP/2 through
/// hyper.
#[derive(Debug)]
pub(super) enum Link {
    Lean(H1),
    Hyper(Sender),
}

/// An answer's body as it arrives, on either link.
pub(super) enum Body {
    Lean,
    Hyper(Incoming),
}

impl RestConnection {
    pub(super) fn is_h2(&self) -> bool {
        matches!(&self.link, Link::Hyper(sender) if sender.is_h2())
    }

    /// A request of the variant: its media's headers, a write's idempotency key, the body
    /// compressed in the variant's coding (and that coding asked for in the answer).
    pub(super) fn request<'a>(
        &self,
        method: Method,
        path: &'a str,
        body: Option<(Bytes, Option<&str>)>,
    ) -> Req<'a> {
        let mut headers = Vec::with_capacity(4);
        if let Some(accept) = self.variant.media.accept(false) {
            headers.push((header::ACCEPT, http::HeaderValue::from_static(accept)));
        }
        let body = match body {
            None => Bytes::new(),
            Some((bytes, key)) => {
                let content_type = match self.variant.media {
                    Media::Protobuf => media::PROTOBUF,
                    Media::Json | Media::EventStream => "application/json",
                };
                headers.push((header::CONTENT_TYPE, http::HeaderValue::from_static(content_type)));
                if let Some(value) = key.and_then(|k| http::HeaderValue::from_str(k).ok()) {
                    headers.push((http::HeaderName::from_static("idempotency-key"), value));
                }
                match self.variant.coding {
                    // Compressing is part of turning the request into bytes (client CPU).
                    Some(coding) => {
                        headers
                            .push((header::CONTENT_ENCODING, http::HeaderValue::from_static(coding.name())));
                        Bytes::from(coding.encode(&bytes))
                    }
                    None => bytes,
                }
            }
        };
        if let Some(coding) = self.variant.coding {
            headers.push((header::ACCEPT_ENCODING, http::HeaderValue::from_static(coding.name())));
        }
        Req { method, path, headers, body }
    }

    /// `req` as hyper takes it (HTTP/2: an absolute URI).
    pub(super) fn hyper_request(&mut self, req: Req<'_>) -> Request<Full<Bytes>> {
        let mut http = Request::builder().uri(self.uri(req.path)).method(req.method);
        for (name, value) in req.headers {
            http = http.header(name, value);
        }
        http.body(Full::new(req.body)).expect("valid request")
    }

    /// Sends `req`; the answer's status, headers and body to read.
    pub(super) async fn send(
        &mut self,
        req: Req<'_>,
    ) -> Result<(StatusCode, http::HeaderMap, Body), ClientError> {
        if let Link::Lean(h1) = &mut self.link {
            let head = h1.send(&req).await?;
            return Ok((head.status, head.headers, Body::Lean));
        }
        let http = self.hyper_request(req);
        let Link::Hyper(sender) = &mut self.link else { unreachable!("the lean link returned") };
        let (parts, body) = sender.send(http).await?.into_parts();
        Ok((parts.status, parts.headers, Body::Hyper(body)))
    }

    /// The next piece of an answer's body; `None` at its end.
    pub(super) async fn data(&mut self, body: &mut Body) -> Result<Option<Bytes>, ClientError> {
        match (body, &mut self.link) {
            (Body::Lean, Link::Lean(h1)) => h1.data().await,
            (Body::Hyper(body), _) => loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(frame) => {
                        if let Ok(data) = frame.map_err(hyper_error)?.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            },
            (Body::Lean, Link::Hyper(_)) => unreachable!("a lean body comes from the lean link"),
        }
    }

    /// A whole body.
    pub(super) async fn whole_body(&mut self, body: Body) -> Result<Bytes, ClientError> {
        match (body, &mut self.link) {
            (Body::Lean, Link::Lean(h1)) => h1.body().await,
            (Body::Hyper(body), _) => Ok(body.collect().await.map_err(hyper_error)?.to_bytes()),
            (Body::Lean, Link::Hyper(_)) => unreachable!("a lean body comes from the lean link"),
        }
    }
}
