//! Idempotency keys with Stripe's semantics, independent of any protocol.
//!
//! - The first request with a key runs; its outcome is stored with the request's parameters.
//! - A repeat with the same parameters gets the stored outcome back, unchanged.
//! - The same key with other parameters is an error naming the key.
//! - A repeat while the first is still running is an error (409 in HTTP terms).
//! - Entries expire after a time to live (24 h by default, as Stripe's).
//! - The table holds at most a capacity of keys (100,000 by default); a new key at capacity
//!   evicts the oldest. An evicted key is as good as expired: a repeat of its request runs
//!   again and creates a second order, as a Stripe retry after 24 hours would.
//!
//! The parameters themselves are kept as the fingerprint: comparing them is exact, where a
//! hash could collide. A request that fails before it finishes (its [`Pending`] is dropped
//! without [`Pending::complete`]) releases the key, so the client may retry it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::DomainError;

/// Stripe's default time to live for a key.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Most keys held by default: bounds the table's memory under any write rate.
pub const DEFAULT_CAPACITY: usize = 10_000;
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
    entries: Mutex<Entries<P, V>>,
    ttl: Duration,
    capacity: usize,
}

/// The keys, and the order they were claimed in (oldest first; a key released by a failed
/// request stays in `order` until it reaches the front, where it is skipped).
#[derive(Debug)]
struct Entries<P, V> {
    map: HashMap<String, Entry<P, V>>,
    order: VecDeque<(String, Instant)>,
}

impl<P, V> Entries<P, V> {
    /// Drops expired keys from the front, then the oldest while a new one would not fit.
    fn make_room(&mut self, now: Instant, ttl: Duration, capacity: usize) {
        if self.order.len() > 2 * capacity {
            // Released keys' records, compacted away so `order` stays bounded too.
            let map = &self.map;
            self.order.retain(|(key, created)| map.get(key).is_some_and(|e| e.created == *created));
        }
        while let Some((key, created)) = self.order.front() {
            let live = self.map.get(key).is_some_and(|e| e.created == *created);
            if live && now.duration_since(*created) < ttl && self.map.len() < capacity {
                break;
            }
            if live {
                self.map.remove(key);
            }
            self.order.pop_front();
        }
    }
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
    /// An empty table whose keys live for `ttl`, holding at most `capacity` (at least one).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let entries = Entries { map: HashMap::new(), order: VecDeque::new() };
        Self { entries: Mutex::new(entries), ttl, capacity: capacity.max(1) }
    }

    /// Forgets every key.
    pub fn clear(&self) {
        let mut entries = self.entries.lock().expect("idempotency lock poisoned");
        entries.map = HashMap::new();
        entries.order = VecDeque::new();
    }

    /// Claims `key` for a request with `params`.
    pub fn claim(&self, key: &str, params: &P) -> Result<Claim<'_, P, V>, DomainError> {
        validate_key(key)?;
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("idempotency lock poisoned");
        if let Some(entry) = entries.map.get(key)
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
        entries.make_room(now, self.ttl, self.capacity);
        entries
            .map
            .insert(key.to_owned(), Entry { params: params.clone(), slot: Slot::InFlight, created: now });
        entries.order.push_back((key.to_owned(), now));
        Ok(Claim::New(Pending { table: self, key: key.to_owned(), completed: false }))
    }

    /// Number of keys held (expired ones included until they are cleaned up).
    pub fn len(&self) -> usize {
        self.entries.lock().expect("idempotency lock poisoned").map.len()
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
        if let Some(entry) = entries.map.get_mut(&self.key) {
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
            entries.map.remove(&self.key);
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
        Idempotency::new(ttl, DEFAULT_CAPACITY)
    }

    #[test]
    fn at_capacity_the_oldest_key_is_evicted_and_runs_again() {
        let t = Idempotency::<String, u32>::new(DEFAULT_TTL, 2);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            match t.claim(key, &key.to_owned()).unwrap() {
                Claim::New(p) => p.complete(i as u32),
                Claim::Replay(_) => panic!("{key} is new"),
            }
        }
        assert_eq!(t.len(), 2);
        // "a" was evicted: its repeat runs again; "c" is still held and replays.
        assert!(matches!(t.claim("c", &"c".to_owned()).unwrap(), Claim::Replay(2)));
        assert!(matches!(t.claim("a", &"a".to_owned()).unwrap(), Claim::New(_)));
        // The table never grows past its capacity, whatever the number of keys.
        for i in 0..100 {
            drop(t.claim(&format!("k{i}"), &String::new()).unwrap());
        }
        assert!(t.len() <= 2);
        assert!(t.entries.lock().unwrap().order.len() <= 5, "released keys' records are compacted");
        t.clear();
        assert!(t.is_empty());
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
