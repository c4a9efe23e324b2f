//! The shop domain that every wirebench protocol serves, and nothing about protocols.
//!
//! - [`model`]: users, orders and the records protocols carry.
//! - [`store`]: the in-memory [`Store`] with simulated latency and the order event feed.
//! - [`query`]: sort, filter and keyset cursors shared by every listing.
//! - [`idempotency`]: Stripe-style idempotency keys.
//! - [`faults`]: refusals, overload and holds a store injects into its calls, seeded.
//! - [`fixtures`] and [`profile`]: deterministic data sized by payload profiles.
//! - [`whole`]: integers as JSON Schema reads them (`12.0` is the integer 12).

pub mod faults;
pub mod fixtures;
pub mod idempotency;
pub mod model;
pub mod profile;
pub mod query;
pub mod store;
pub mod whole;

pub use fixtures::{Fixtures, generate};
pub use model::*;
pub use profile::{PayloadProfile, Profiles};
pub use query::{DEFAULT_LIMIT, MAX_LIMIT, OrderQuery, Page, Sort};
pub use store::{MAX_BATCH, Store, StoreConfig};

/// Everything that can go wrong in the domain. Each protocol maps these to its own errors
/// (HTTP status, gRPC code, GraphQL error, WebSocket error message) in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: Id },
    #[error("{0}")]
    Invalid(String),
    #[error("invalid cursor {0}")]
    InvalidCursor(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error("idempotency key {key:?} was already used with different parameters")]
    IdempotencyMismatch { key: String },
    #[error("a request with idempotency key {key:?} is still being processed; retry later")]
    IdempotencyInFlight { key: String },
    /// Refused before any effect (an injected fault); `retry_after_ms` is the hint, 0 none.
    #[error("the service is unavailable; nothing was done")]
    Unavailable { retry_after_ms: u64 },
    /// Refused by a rate limiter before any effect, with the time until it admits again.
    #[error("over the rate limit; nothing was done; retry after {retry_after_ms} ms")]
    Overloaded { retry_after_ms: u64 },
}

impl DomainError {
    /// A stable, machine-readable code, the same on every protocol.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::NotFound { .. } => "not_found",
            DomainError::Invalid(_) => "invalid_argument",
            DomainError::InvalidCursor(_) => "invalid_cursor",
            DomainError::TooLarge(_) => "too_large",
            DomainError::Conflict(_) => "conflict",
            DomainError::IdempotencyMismatch { .. } => "idempotency_key_reused",
            DomainError::IdempotencyInFlight { .. } => "idempotency_key_in_flight",
            DomainError::Unavailable { .. } => "unavailable",
            DomainError::Overloaded { .. } => "overloaded",
        }
    }

    /// The retry hint of a refusal, when it has one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            DomainError::Unavailable { retry_after_ms } | DomainError::Overloaded { retry_after_ms }
                if *retry_after_ms > 0 =>
            {
                Some(std::time::Duration::from_millis(*retry_after_ms))
            }
            _ => None,
        }
    }
}
