//! Responses: JSON with a weak ETag (304 on a matching If-None-Match), and sparse
//! fieldsets (`fields=a,b` keeps only the named top-level fields).

use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::PartialSchema;
use utoipa::openapi::{RefOr, Schema};
use wirebench_domain::{Order, User};

use super::errors::ApiError;
use super::media::{Media, PROTOBUF};

/// Serializes `value` with its ETag, and answers 304 when the client already holds this
/// representation (the answer of a GET).
pub(super) fn json_response(status: StatusCode, request: &HeaderMap, value: &impl Serialize) -> Response {
    tagged(status, Some(request), value)
}

/// Serializes `value` with its ETag, unconditionally: the answer of a write, which
/// `If-None-Match` does not turn into a 304.
pub(super) fn json_body(status: StatusCode, value: &impl Serialize) -> Response {
    tagged(status, None, value)
}

/// The answer in the representation `media` (see [`Media::negotiate`]): `json` serialized,
/// or the protobuf message `protobuf` makes; conditional (a GET's) when `request` is given.
/// Either way it says that it varies with `Accept`.
pub(super) fn negotiated<P: prost::Message>(
    status: StatusCode,
    request: Option<&HeaderMap>,
    media: Media,
    json: &impl Serialize,
    protobuf: impl FnOnce() -> P,
) -> Response {
    let mut response = match media {
        Media::Protobuf => tagged_bytes(status, request, PROTOBUF, protobuf().encode_to_vec()),
        Media::Json | Media::EventStream => tagged(status, request, json),
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

fn tagged(status: StatusCode, conditional: Option<&HeaderMap>, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => tagged_bytes(status, conditional, "application/json", body),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into_response(),
    }
}

fn tagged_bytes(
    status: StatusCode,
    conditional: Option<&HeaderMap>,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    // The hash is stable within a build; a weak tag, so gzip may re-encode the same entity.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("W/\"{:016x}\"", hasher.finish());
    let etag_value = HeaderValue::from_str(&etag).expect("hex etag is a valid header");
    if status == StatusCode::OK && conditional.is_some_and(|request| if_none_match(request, &etag)) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response();
    }
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type)), (header::ETAG, etag_value)],
        body,
    )
        .into_response()
}

/// RFC 9110 weak comparison of `etag` against every tag in If-None-Match.
pub(super) fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|tag| tag.trim() == "*" || opaque(tag) == opaque(etag)))
}

/// Top-level field names of a schema'd type, read from its generated schema.
pub(super) fn field_names<T: PartialSchema>() -> Vec<String> {
    match T::schema() {
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

pub(super) static USER_FIELDS: LazyLock<Vec<String>> = LazyLock::new(field_names::<User>);
pub(super) static ORDER_FIELDS: LazyLock<Vec<String>> = LazyLock::new(field_names::<Order>);

/// A parsed `fields=` parameter; `None` keeps every field.
#[derive(Debug, Clone)]
pub(super) struct Fields(Option<Vec<String>>);

impl Fields {
    pub(super) fn parse(spec: Option<&str>, allowed: &[String], param: &str) -> Result<Fields, ApiError> {
        let Some(spec) = spec else { return Ok(Fields(None)) };
        let mut names = Vec::new();
        for name in spec.split(',').map(str::trim) {
            if !allowed.iter().any(|a| a == name) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("{param}: unknown field {name:?}; known fields: {}", allowed.join(",")),
                ));
            }
            names.push(name.to_owned());
        }
        Ok(Fields(Some(names)))
    }

    /// The named fields; `None` keeps every field.
    pub(super) fn names(&self) -> Option<&[String]> {
        self.0.as_deref()
    }

    /// `item` as it will be serialized: whole when no fields were named, else sparse.
    pub(super) fn apply<'a, T: Serialize>(&self, item: &'a T) -> Shaped<'a, T> {
        let Some(names) = &self.0 else { return Shaped::Full(item) };
        let mut value = serde_json::to_value(item).expect("model types serialize");
        if let Value::Object(map) = &mut value {
            map.retain(|k, _| names.iter().any(|n| n == k));
        }
        Shaped::Sparse(value)
    }
}

/// A record serialized whole (straight from the model, no intermediate tree) or sparse.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Shaped<'a, T> {
    Full(&'a T),
    Sparse(Value),
}
