//! Errors: one body for every failure, and the framework's extractors with their
//! rejections turned into that body.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wirebench_domain::DomainError;

pub use crate::http::ErrorBody;

/// Longest request target (path and query) served, in bytes; a longer one is answered 414
/// in the one error body. (hyper itself refuses an HTTP/1.1 target over 64 KiB, bare.)
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Middleware: 414 for a request target over [`MAX_URI_BYTES`].
pub(super) async fn limit_uri(request: Request, next: Next) -> Response {
    let len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if len > MAX_URI_BYTES {
        let message = format!("the request target is {len} bytes; at most {MAX_URI_BYTES} are read");
        return ApiError::new(StatusCode::URI_TOO_LONG, "uri_too_long", message).into_response();
    }
    next.run(request).await
}

/// An HTTP error: status plus the consistent body.
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    /// `Retry-After`, in whole seconds (RFC 9110 has no finer unit), rounded up.
    pub(super) retry_after_s: Option<u64>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after_s: None }
    }

    /// Maps a domain error for a request whose problem is in its query or path.
    pub(super) fn domain(e: DomainError) -> Self {
        let status = match &e {
            DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
            DomainError::Invalid(_) | DomainError::InvalidCursor(_) => StatusCode::BAD_REQUEST,
            DomainError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            DomainError::Conflict(_) | DomainError::IdempotencyInFlight { .. } => StatusCode::CONFLICT,
            // The IETF idempotency-key draft's status for a key reused with another payload.
            DomainError::IdempotencyMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            DomainError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            DomainError::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
        };
        let retry_after_s = e.retry_after().map(|d| d.as_millis().div_ceil(1000) as u64);
        ApiError { retry_after_s, ..ApiError::new(status, e.code(), e.to_string()) }
    }

    /// Maps a domain error for a request whose problem is in its body: a well-formed body
    /// with invalid content (including a user that does not exist) is 422, not 400 or 404.
    pub(super) fn body(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(_) | DomainError::NotFound { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
            }
            other => ApiError::domain(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = crate::http::error_response(self.status, self.code, self.message);
        if let Some(s) = self.retry_after_s {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, s.into());
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let code = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "malformed_json",
        };
        ApiError::new(r.status(), code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

/// `axum::Json` with rejections turned into [`ApiError`].
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(super) struct Json<T>(pub(super) T);

/// `axum::extract::Path` with rejections turned into [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(super) struct Path<T>(pub(super) T);

/// `axum::extract::Query` with rejections turned into [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(super) struct Query<T>(pub(super) T);

pub(super) type ApiResult = Result<Response, ApiError>;
