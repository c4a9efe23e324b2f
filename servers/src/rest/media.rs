//! Content negotiation: the same routes answer in JSON (the default) or in protobuf
//! (`application/x-protobuf`, the gRPC service's messages) when `Accept` prefers it, and
//! take a protobuf request body when `Content-Type` says so. The stream of orders also comes
//! as server-sent events (`text/event-stream`) or as varint-delimited protobuf messages.
//! Errors keep the one JSON error body whatever was asked for.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use prost::Message;
use serde::de::DeserializeOwned;
use wirebench_proto::v1 as pb;

use super::errors::{ApiError, Json};

/// Protobuf bodies.
pub const PROTOBUF: &str = "application/x-protobuf";
/// A stream of protobuf messages, each after its varint length.
pub const PROTOBUF_DELIMITED: &str = "application/x-protobuf; delimited=true";
/// Server-sent events.
pub const EVENT_STREAM: &str = "text/event-stream";
/// Newline-delimited JSON.
pub const NDJSON: &str = "application/x-ndjson";

/// A representation a route can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    Json,
    Protobuf,
    EventStream,
}

impl Media {
    fn names(self) -> &'static [&'static str] {
        match self {
            Media::Json => &["application/json", NDJSON],
            Media::Protobuf => &[PROTOBUF],
            Media::EventStream => &[EVENT_STREAM],
        }
    }

    /// What `Accept` prefers among `offered` (by quality, then by order in the header);
    /// JSON when it names none of them, as for a client that sends no `Accept`.
    pub(super) fn negotiate(request: &HeaderMap, offered: &[Media]) -> Media {
        let mut best: Option<(Media, f32)> = None;
        for range in
            request.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
        {
            let mut parts = range.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let Some(media) = offered.iter().find(|m| m.names().iter().any(|n| n.eq_ignore_ascii_case(name)))
            else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((*media, q));
            }
        }
        best.map_or(Media::Json, |(m, _)| m)
    }
}

/// Whether a request body is declared protobuf.
fn is_protobuf(request: &HeaderMap) -> bool {
    request
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(PROTOBUF)))
}

/// A request body in JSON, or in protobuf as the message `P` (converted to `T`).
#[derive(Debug)]
pub(super) struct Body<T, P>(pub(super) T, pub(super) std::marker::PhantomData<P>);

impl<S, T, P> FromRequest<S> for Body<T, P>
where
    S: Send + Sync,
    T: DeserializeOwned + TryFrom<P, Error = wirebench_proto::convert::ConvertError> + Send,
    P: Message + Default + Send,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_protobuf(req.headers()) {
            let Json(value) = Json::<T>::from_request(req, state).await?;
            return Ok(Body(value, std::marker::PhantomData));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|r| {
            let code =
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "malformed_body" };
            ApiError::new(r.status(), code, r.body_text())
        })?;
        let message = P::decode(bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_protobuf",
                format!("not a protobuf message: {e}"),
            )
        })?;
        let value = T::try_from(message)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.0))?;
        Ok(Body(value, std::marker::PhantomData))
    }
}

/// Keeps only the named fields of a protobuf message (proto3 leaves the others out of the
/// wire, as a sparse JSON object does).
macro_rules! keep_fields {
    ($ty:ty, $full:expr, $names:expr, $($field:ident),+) => {{
        let mut full = $full;
        let mut out = <$ty>::default();
        for name in $names {
            match name.as_str() {
                $(stringify!($field) => out.$field = std::mem::take(&mut full.$field),)+
                _ => {}
            }
        }
        out
    }};
}

/// A user as its protobuf message, cut to `fields` when given.
pub(super) fn user(user: &wirebench_domain::User, fields: Option<&[String]>) -> pb::User {
    let full = pb::User::from(user.clone());
    match fields {
        None => full,
        Some(names) => keep_fields!(
            pb::User,
            full,
            names,
            id,
            name,
            email,
            phone,
            address,
            company,
            avatar_url,
            bio,
            preferences,
            tags,
            created_at,
            updated_at
        ),
    }
}

/// An order as its protobuf message, cut to `fields` when given.
pub(super) fn order(order: &wirebench_domain::Order, fields: Option<&[String]>) -> pb::Order {
    let full = pb::Order::from(order.clone());
    match fields {
        None => full,
        Some(names) => keep_fields!(
            pb::Order,
            full,
            names,
            id,
            user_id,
            status,
            items,
            total_cents,
            currency,
            shipping_address,
            created_at
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        h
    }

    #[test]
    fn accept_picks_by_quality_then_order_and_defaults_to_json() {
        let both = [Media::Json, Media::Protobuf];
        assert_eq!(Media::negotiate(&HeaderMap::new(), &both), Media::Json);
        assert_eq!(Media::negotiate(&accept("*/*"), &both), Media::Json);
        assert_eq!(Media::negotiate(&accept(PROTOBUF), &both), Media::Protobuf);
        assert_eq!(Media::negotiate(&accept("application/json, application/x-protobuf"), &both), Media::Json);
        assert_eq!(
            Media::negotiate(&accept("application/json;q=0.5, application/x-protobuf"), &both),
            Media::Protobuf
        );
        assert_eq!(Media::negotiate(&accept("application/x-protobuf;q=0"), &both), Media::Json);
        // A route that offers only JSON answers JSON.
        assert_eq!(Media::negotiate(&accept(PROTOBUF), &[Media::Json]), Media::Json);
    }
}
