//! Idempotency keys with Stripe's semantics, independent of any protocol.
//!
//! - The first request with a key runs; its outcome is stored with the request's parameters.
//! - A repeat with the same parameters gets the stored outcome back, unchanged.
//! - The same key with other parameters is an error naming the key.
//! - A repeat while the first is still running is an error (409 in HTTP terms).
//! - Entries expire after a time to live (24 h by default).
//!
//! The parameters themselves are kept as the fingerprint: comparing them is exact, where a
//! hash could collide. A request that fails before it finishes (its [`Pending`] is dropped
//! without [`Pending::complete`]) releases the key, so the client may retry it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::DomainError;

/// Stripe's default time to live for a key.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest key accepted (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;

#[derive(Debug)]
enum Slot<V> {
    InFlight,
    Done(V),
}

#[derive(Debug)]
struct Entry<P, V> {
    params: P,
    slot: Slot<V>,
    created: Instant,
}

/// A table of keys → outcomes. `P` is the request's parameters, `V` its outcome.
#[derive(Debug)]
pub struct Idempotency<P, V> {
    entries: Mutex<HashMap<String, Entry<P, V>>>,
    ttl: Duration,
}

/// What [`Idempotency::claim`] decided.
#[derive(Debug)]
pub enum Claim<'a, P, V> {
    /// The key is new (or expired): run the request and call [`Pending::complete`].
    New(Pending<'a, P, V>),
    /// The key was used before with the same parameters: here is the stored outcome.
    Replay(V),
}

/// A claimed key whose request is running.
#[derive(Debug)]
pub struct Pending<'a, P, V> {
    table: &'a Idempotency<P, V>,
    key: String,
    completed: bool,
}

impl<P: PartialEq + Clone, V: Clone> Idempotency<P, V> {
    /// An empty table whose keys live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { entries: Mutex::new(HashMap::new()), ttl }
    }

    /// Claims `key` for a request with `params`.
    pub fn claim(&self, key: &str, params: &P) -> Result<Claim<'_, P, V>, DomainError> {
        validate_key(key)?;
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("idempotency lock poisoned");
        if entries.len() > 4096 && entries.len().is_power_of_two() {
            // Amortised clean-up of expired keys; cheap because it runs rarely.
            entries.retain(|_, e| now.duration_since(e.created) < self.ttl);
        }
        if let Some(entry) = entries.get(key)
            && now.duration_since(entry.created) < self.ttl
        {
            if entry.params != *params {
                return Err(DomainError::IdempotencyMismatch { key: key.to_owned() });
            }
            return match &entry.slot {
                Slot::InFlight => Err(DomainError::IdempotencyInFlight { key: key.to_owned() }),
                Slot::Done(v) => Ok(Claim::Replay(v.clone())),
            };
        }
        entries.insert(key.to_owned(), Entry { params: params.clone(), slot: Slot::InFlight, created: now });
        Ok(Claim::New(Pending { table: self, key: key.to_owned(), completed: false }))
    }

    /// Number of keys held (expired ones included until they are cleaned up).
    pub fn len(&self) -> usize {
        self.entries.lock().expect("idempotency lock poisoned").len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<P, V> Pending<'_, P, V> {
    /// Stores the outcome so repeats replay it.
    pub fn complete(mut self, outcome: V) {
        let mut entries = self.table.entries.lock().expect("idempotency lock poisoned");
        if let Some(entry) = entries.get_mut(&self.key) {
            entry.slot = Slot::Done(outcome);
        }
        self.completed = true;
    }
}

impl<P, V> Drop for Pending<'_, P, V> {
    fn drop(&mut self) {
        if !self.completed
            && let Ok(mut entries) = self.table.entries.lock()
        {
            entries.remove(&self.key);
        }
    }
}

/// Keys are 1 to 255 visible ASCII characters, so they fit every wire (HTTP header, JSON).
pub fn validate_key(key: &str) -> Result<(), DomainError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DomainError::Invalid(format!(
            "idempotency key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(ttl: Duration) -> Idempotency<String, u32> {
        Idempotency::new(ttl)
    }

    #[test]
    fn first_runs_repeat_replays() {
        let t = table(DEFAULT_TTL);
        match t.claim("k", &"a".to_owned()).unwrap() {
            Claim::New(p) => p.complete(7),
            Claim::Replay(_) => panic!("first claim must run"),
        }
        assert!(matches!(t.claim("k", &"a".to_owned()).unwrap(), Claim::Replay(7)));
    }

    #[test]
    fn other_params_name_the_key() {
        let t = table(DEFAULT_TTL);
        if let Claim::New(p) = t.claim("order-1", &"a".to_owned()).unwrap() {
            p.complete(1);
        }
        let err = t.claim("order-1", &"b".to_owned()).unwrap_err();
        assert_eq!(err, DomainError::IdempotencyMismatch { key: "order-1".into() });
        assert!(err.to_string().contains("order-1"));
    }

    #[test]
    fn repeat_while_running_is_in_flight_and_drop_releases() {
        let t = table(DEFAULT_TTL);
        let first = t.claim("k", &"a".to_owned()).unwrap();
        assert_eq!(
            t.claim("k", &"a".to_owned()).unwrap_err(),
            DomainError::IdempotencyInFlight { key: "k".into() }
        );
        drop(first);
        assert!(t.is_empty());
        assert!(matches!(t.claim("k", &"a".to_owned()).unwrap(), Claim::New(_)));
    }

    #[test]
    fn keys_expire() {
        let t = table(Duration::from_millis(20));
        if let Claim::New(p) = t.claim("k", &"a".to_owned()).unwrap() {
            p.complete(1);
        }
        std::thread::sleep(Duration::from_millis(40));
        // Expired: even other parameters are accepted, and the request runs again.
        assert!(matches!(t.claim("k", &"b".to_owned()).unwrap(), Claim::New(_)));
    }

    #[test]
    fn bad_keys_are_rejected() {
        let t = table(DEFAULT_TTL);
        for key in ["", "has space", &"x".repeat(256)] {
            assert!(matches!(t.claim(key, &String::new()), Err(DomainError::Invalid(_))), "{key}");
        }
    }
}
