//! Errors and argument checks: the one mapping from domain errors to GraphQL errors.

use std::sync::Arc;

use async_graphql::{Context, Error, ErrorExtensions, ID, Result};
use wirebench_domain::{DomainError, Id, MAX_LIMIT, Store};

/// A GraphQL error with `extensions.code`.
pub(super) fn coded(message: impl Into<String>, code: &'static str) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// A client mistake in an argument.
pub(super) fn bad_input(message: impl Into<String>) -> Error {
    coded(message, "BAD_USER_INPUT")
}

/// The one mapping from domain errors to GraphQL errors.
pub(super) fn domain_error(e: &DomainError) -> Error {
    let code = match e {
        DomainError::NotFound { .. } => "NOT_FOUND",
        DomainError::Invalid(_) | DomainError::InvalidCursor(_) => "BAD_USER_INPUT",
        DomainError::Conflict(_) | DomainError::IdempotencyInFlight { .. } => "CONFLICT",
        DomainError::IdempotencyMismatch { .. } => "IDEMPOTENCY_KEY_REUSED",
        DomainError::TooLarge(_) => "PAYLOAD_TOO_LARGE",
        DomainError::Unavailable { .. } => "UNAVAILABLE",
        DomainError::Overloaded { .. } => "RATE_LIMITED",
    };
    let reason = e.code();
    let retry_after = e.retry_after().map(|d| d.as_millis() as u64);
    Error::new(e.to_string()).extend_with(|_, ext| {
        ext.set("code", code);
        ext.set("reason", reason);
        if let Some(ms) = retry_after {
            ext.set("retryAfterMs", ms);
        }
    })
}

/// `.gql()` maps a domain result. (A bare `?` would also compile, through async-graphql's
/// blanket `From<Display>`, but would lose the code; always go through here.)
pub(super) trait GqlResult<T> {
    fn gql(self) -> Result<T>;
}

impl<T> GqlResult<T> for std::result::Result<T, DomainError> {
    fn gql(self) -> Result<T> {
        self.map_err(|e| domain_error(&e))
    }
}

/// Parses an `ID` argument into a domain id.
pub(super) fn parse_id(id: &ID, what: &str) -> Result<Id> {
    id.parse().map_err(|_| bad_input(format!("{what} must be a decimal integer id, got {:?}", id.as_str())))
}

/// Checks a page size argument.
pub(super) fn page_size(first: i32) -> Result<u32> {
    u32::try_from(first)
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| bad_input(format!("first must be between 1 and {MAX_LIMIT}, got {first}")))
}

/// Cost of a connection field: its own object plus `first` times its selection.
pub(super) fn connection_cost(first: i32, child_complexity: usize) -> usize {
    let first = usize::try_from(first.clamp(1, MAX_LIMIT as i32)).unwrap_or(1);
    first.saturating_mul(child_complexity).saturating_add(1)
}

/// Resolves a nullable field: an error becomes `null` at this very field plus an entry in
/// `errors`, as GraphQL specifies (async-graphql would otherwise null the nearest nullable
/// ancestor, e.g. a whole page of users for one user's bad `orders` arguments).
pub(super) fn nullable<T>(ctx: &Context<'_>, result: Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            ctx.add_error(ctx.set_error_path(e.into_server_error(ctx.item.pos)));
            None
        }
    }
}

pub(super) fn store<'a>(ctx: &Context<'a>) -> &'a Arc<Store> {
    ctx.data_unchecked::<Arc<Store>>()
}
