//! The in-memory store every protocol serves. One `Arc<Store>` is shared by all servers in a
//! process, so a write through one protocol is visible through every other.
//!
//! Every public async method is one "store call": it waits the configured simulated latency
//! once and bumps [`Store::calls`]. That makes GraphQL's N+1 problem (many calls) and the
//! DataLoader fix (one batched call) visible in time and in the counter.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::broadcast;

use crate::DomainError;
use crate::faults::{Fate, FaultCounts, FaultPlan, Injector};
use crate::fixtures::Fixtures;
use crate::idempotency::{Claim, DEFAULT_CAPACITY, DEFAULT_TTL, Idempotency};
use crate::model::{
    BatchItem, Created, Id, NewOrder, Order, OrderEvent, OrderEventKind, OrderStatus, OrderSummary, User,
    UserRecentOrders,
};
use crate::query::{OrderQuery, Page, Sort, check_limit, decode_user_cursor, user_cursor};

/// Most orders one batch create may carry.
pub const MAX_BATCH: usize = 10_000;
/// How many order events a slow subscriber may fall behind before it misses some.
const EVENT_BUFFER: usize = 4096;

/// Orders created since the last reset that a store keeps by default: the oldest is
/// forgotten first (fixtures never are), so a store's memory stays bounded whatever a
/// benchmark's length and write rate (about 30 MB of `small` orders).
pub const DEFAULT_MAX_CREATED: usize = 20_000;

tokio::task_local! {
    /// Set while the harness checks the store (see [`unpaced`]).
    static UNPACED: ();
}

/// Runs `work` with its store calls counted but not paced: a harness's own reads of the
/// store (the equivalence gate's reference answers, reading back what a cell wrote) must
/// not pay the simulated latency the cells measure.
pub async fn unpaced<F: std::future::Future>(work: F) -> F::Output {
    UNPACED.scope((), work).await
}

/// Knobs of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Added to every store call, to model a database round trip. Zero by default.
    pub latency: Duration,
    /// Orders created since the last reset that are kept (see [`DEFAULT_MAX_CREATED`]).
    pub max_created: usize,
    /// How long idempotency keys are remembered.
    pub idempotency_ttl: Duration,
    /// Most idempotency keys remembered; the oldest is evicted first.
    pub idempotency_capacity: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            latency: Duration::ZERO,
            max_created: DEFAULT_MAX_CREATED,
            idempotency_ttl: DEFAULT_TTL,
            idempotency_capacity: DEFAULT_CAPACITY,
        }
    }
}

/// The outcome stored per idempotency key: the order as first created, or the error.
type CreateOutcome = Result<Order, DomainError>;

#[derive(Debug)]
struct Tables {
    users: BTreeMap<Id, User>,
    orders: BTreeMap<Id, Order>,
    /// Order ids per user, for "a user's orders" without a scan.
    by_user: HashMap<Id, BTreeSet<Id>>,
    next_order_id: Id,
    /// The oldest created order still kept: created orders below it were forgotten to keep
    /// [`StoreConfig::max_created`]; fixtures' ids are below the first created one.
    kept_from: Id,
    next_event_seq: u64,
    /// The event feed. Here, so that a reset replaces it: its ring keeps the last
    /// [`EVENT_BUFFER`] events (each with its order) for as long as a subscriber lives.
    events: broadcast::Sender<OrderEvent>,
}

impl Tables {
    fn empty() -> Self {
        Tables {
            users: BTreeMap::new(),
            orders: BTreeMap::new(),
            by_user: HashMap::new(),
            next_order_id: 1,
            kept_from: 1,
            next_event_seq: 0,
            events: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

/// Loads `fixtures` into `t`, replacing its users and orders.
fn fill(t: &mut Tables, fixtures: Fixtures) {
    t.by_user.clear();
    for order in &fixtures.orders {
        t.by_user.entry(order.user_id).or_default().insert(order.id);
    }
    t.next_order_id = fixtures.orders.iter().map(|o| o.id).max().unwrap_or(0) + 1;
    t.kept_from = t.next_order_id;
    t.users = fixtures.users.into_iter().map(|u| (u.id, u)).collect();
    t.orders = fixtures.orders.into_iter().map(|o| (o.id, o)).collect();
}

/// The shop: users, orders, idempotency keys and the order event feed.
#[derive(Debug)]
pub struct Store {
    tables: RwLock<Tables>,
    idempotency: Idempotency<NewOrder, CreateOutcome>,
    config: StoreConfig,
    /// Set once fixtures are loaded; drives readiness probes.
    ready: AtomicBool,
    calls: AtomicU64,
    /// Store calls waiting out their simulated latency now, and the most there ever were.
    waiting: AtomicU64,
    most_waiting: AtomicU64,
    /// The faults injected into calls (see [`crate::faults`]); `faulty` says whether there is a
    /// plan, so a store without one reads one flag per call.
    faults: RwLock<Option<Injector>>,
    faulty: AtomicBool,
}

impl Store {
    /// An empty store, not ready until [`Store::load`] is called.
    pub fn new(config: StoreConfig) -> Self {
        Store {
            tables: RwLock::new(Tables::empty()),
            idempotency: Idempotency::new(config.idempotency_ttl, config.idempotency_capacity),
            config,
            ready: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            most_waiting: AtomicU64::new(0),
            faults: RwLock::new(None),
            faulty: AtomicBool::new(false),
        }
    }

    /// A store loaded with `fixtures` and ready.
    pub fn with_fixtures(config: StoreConfig, fixtures: Fixtures) -> Self {
        let store = Store::new(config);
        store.load(fixtures);
        store
    }

    /// Replaces the contents with `fixtures` and marks the store ready.
    pub fn load(&self, fixtures: Fixtures) {
        let mut t = self.write();
        fill(&mut t, fixtures);
        drop(t);
        self.ready.store(true, Ordering::Release);
    }

    /// Back to the fixtures `generate` makes, exactly as a fresh store holds them: every
    /// write since undone, every idempotency key forgotten, order ids and event numbers from
    /// the start again, the event feed new (subscribers of the old one see it close). Store
    /// calls keep counting (they are read as differences). The old
    /// contents are freed before the fixtures are generated, so the new ones reuse their
    /// memory instead of landing above it; the write lock is held throughout, so no call
    /// sees a half-loaded store.
    pub fn reset(&self, generate: impl FnOnce() -> Fixtures) {
        self.idempotency.clear();
        let mut t = self.write();
        *t = Tables::empty();
        fill(&mut t, generate());
    }

    /// True once fixtures are loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Store calls made so far (see the module docs).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The most store calls that were ever waiting out their simulated latency at once: how
    /// many requests a server had in flight, seen from behind it (0 without latency, when a
    /// call does not wait).
    pub fn most_in_flight(&self) -> u64 {
        self.most_waiting.load(Ordering::Relaxed)
    }

    /// The configured simulated latency per call.
    pub fn latency(&self) -> Duration {
        self.config.latency
    }

    /// Number of users and orders.
    pub fn counts(&self) -> (usize, usize) {
        let t = self.read();
        (t.users.len(), t.orders.len())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().expect("store lock poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().expect("store lock poisoned")
    }

    /// Injects `plan`'s faults into every call from now (none: no faults); returns what the
    /// plan it replaces injected.
    pub fn set_faults(&self, plan: Option<FaultPlan>) -> FaultCounts {
        let mut faults = self.faults.write().expect("fault lock poisoned");
        let before = faults.as_ref().map(Injector::counts).unwrap_or_default();
        self.faulty.store(plan.is_some(), Ordering::Release);
        *faults = plan.map(Injector::new);
        before
    }

    /// What the plan at work has injected so far.
    pub fn fault_counts(&self) -> FaultCounts {
        self.faults.read().expect("fault lock poisoned").as_ref().map(Injector::counts).unwrap_or_default()
    }

    /// What the fault plan does to this call (nothing without one, or for the harness's own).
    async fn meet_faults(&self) -> Result<(), DomainError> {
        if !self.faulty.load(Ordering::Acquire) || UNPACED.try_with(|()| ()).is_ok() {
            return Ok(());
        }
        let fate = self.faults.read().expect("fault lock poisoned").as_ref().map(Injector::fate);
        match fate {
            Some(Fate::Refuse(e)) => Err(e),
            Some(Fate::Hold(d)) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Some(Fate::Run) | None => Ok(()),
        }
    }

    /// Counts one store call, meets the fault plan, and waits the simulated latency.
    async fn call(&self) -> Result<(), DomainError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.meet_faults().await?;
        if !self.config.latency.is_zero() && UNPACED.try_with(|()| ()).is_err() {
            let now = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
            self.most_waiting.fetch_max(now, Ordering::Relaxed);
            // Counted down however the wait ends (a cancelled request included).
            let _waited = Waited(&self.waiting);
            tokio::time::sleep(self.config.latency).await;
        }
        Ok(())
    }

    /// One user.
    pub async fn get_user(&self, id: Id) -> Result<User, DomainError> {
        self.call().await?;
        self.read().users.get(&id).cloned().ok_or(DomainError::NotFound { kind: "user", id })
    }

    /// Users in id order, a page at a time.
    pub async fn list_users(&self, cursor: Option<&str>, limit: u32) -> Result<Page<User>, DomainError> {
        self.call().await?;
        check_limit(limit)?;
        let after = cursor.map(decode_user_cursor).transpose()?.unwrap_or(0);
        let t = self.read();
        let mut items: Vec<User> =
            t.users.range(after + 1..).take(limit as usize + 1).map(|(_, u)| u.clone()).collect();
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(|u| user_cursor(u.id)) } else { None };
        Ok(Page { items, next_cursor })
    }

    /// A user's orders, filtered, sorted and paged. Unknown user → not found.
    pub async fn user_orders(&self, user_id: Id, query: &OrderQuery) -> Result<Page<Order>, DomainError> {
        self.call().await?;
        self.user_orders_now(user_id, query)
    }

    fn user_orders_now(&self, user_id: Id, query: &OrderQuery) -> Result<Page<Order>, DomainError> {
        query.validate()?;
        let orders = {
            let t = self.read();
            if !t.users.contains_key(&user_id) {
                return Err(DomainError::NotFound { kind: "user", id: user_id });
            }
            t.by_user
                .get(&user_id)
                .map(|ids| ids.iter().filter_map(|id| t.orders.get(id).cloned()).collect())
                .unwrap_or_default()
        };
        query.page(orders)
    }

    /// Orders of many users in one call (what a DataLoader asks for). Users that do not
    /// exist are left out of the map.
    pub async fn orders_of_users(
        &self,
        user_ids: &[Id],
        query: &OrderQuery,
    ) -> Result<HashMap<Id, Page<Order>>, DomainError> {
        self.call().await?;
        let mut out = HashMap::with_capacity(user_ids.len());
        for &id in user_ids {
            match self.user_orders_now(id, query) {
                Ok(page) => {
                    out.insert(id, page);
                }
                Err(DomainError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The first `limit` users in id order, each with their `orders` most recent orders
    /// summarised: two store calls (the users, then every user's orders at once), the way a
    /// server that batches answers users-orders.
    pub async fn users_recent_orders(
        &self,
        limit: u32,
        orders: u32,
    ) -> Result<Vec<UserRecentOrders>, DomainError> {
        let users = self.list_users(None, limit).await?.items;
        let ids: Vec<Id> = users.iter().map(|u| u.id).collect();
        let mut pages = self.orders_of_users(&ids, &OrderQuery::recent(orders)).await?;
        Ok(users
            .into_iter()
            .map(|u| {
                let orders = pages.remove(&u.id).map(|p| p.items).unwrap_or_default();
                UserRecentOrders {
                    id: u.id,
                    name: u.name,
                    orders: orders.iter().map(OrderSummary::from).collect(),
                }
            })
            .collect())
    }

    /// All orders, filtered, sorted and paged.
    pub async fn list_orders(&self, query: &OrderQuery) -> Result<Page<Order>, DomainError> {
        self.call().await?;
        let cursor = query.validate()?;
        let orders: Vec<Order> = {
            let t = self.read();
            if query.sort == Sort::default() {
                // Fast path: id order is the map's own order, so read only one page.
                let from = cursor.as_ref().map_or(1, |c| c.last_id() + 1);
                t.orders
                    .range(from..)
                    .map(|(_, o)| o)
                    .filter(|o| query.status.is_none_or(|s| o.status == s))
                    .take(query.limit as usize + 1)
                    .cloned()
                    .collect()
            } else {
                t.orders.values().cloned().collect()
            }
        };
        query.page(orders)
    }

    /// The id the next created order will get (not a store call: no latency is added).
    pub fn next_order_id(&self) -> Id {
        self.read().next_order_id
    }

    /// The oldest created order the store still keeps (see [`StoreConfig::max_created`]):
    /// an order created with a smaller id, and not a fixture, was forgotten, not lost.
    pub fn kept_from(&self) -> Id {
        self.read().kept_from
    }

    /// One order.
    pub async fn get_order(&self, id: Id) -> Result<Order, DomainError> {
        self.call().await?;
        self.read().orders.get(&id).cloned().ok_or(DomainError::NotFound { kind: "order", id })
    }

    /// Creates an order. With a key, Stripe's idempotency rules apply (module
    /// [`crate::idempotency`]): the outcome of the first request is replayed to repeats.
    pub async fn create_order(&self, key: Option<&str>, new: NewOrder) -> Result<Created, DomainError> {
        new.validate()?;
        let pending = match key {
            None => None,
            Some(key) => match self.idempotency.claim(key, &new)? {
                Claim::Replay(outcome) => return outcome.map(|order| Created { order, replayed: true }),
                Claim::New(pending) => Some(pending),
            },
        };
        self.call().await?;
        let outcome = self.insert_order(new);
        if let Some(pending) = pending {
            pending.complete(outcome.clone());
        }
        outcome.map(|order| Created { order, replayed: false })
    }

    /// Creates many orders in one store call; each item has its own outcome and may carry
    /// its own idempotency key.
    pub async fn create_orders(
        &self,
        batch: Vec<BatchItem>,
    ) -> Result<Vec<Result<Created, DomainError>>, DomainError> {
        if batch.len() > MAX_BATCH {
            return Err(DomainError::TooLarge(format!(
                "a batch holds at most {MAX_BATCH} orders, got {}",
                batch.len()
            )));
        }
        // Claim every key first, then pay the store call once, then insert.
        let mut claims = Vec::with_capacity(batch.len());
        for item in &batch {
            let claim = item.order.validate().and_then(|()| match &item.idempotency_key {
                None => Ok(None),
                Some(key) => self.idempotency.claim(key, &item.order).map(Some),
            });
            claims.push(claim);
        }
        self.call().await?;
        let mut out = Vec::with_capacity(batch.len());
        for (item, claim) in batch.into_iter().zip(claims) {
            out.push(match claim {
                Err(e) => Err(e),
                Ok(Some(Claim::Replay(outcome))) => outcome.map(|order| Created { order, replayed: true }),
                Ok(pending) => {
                    let outcome = self.insert_order(item.order);
                    if let Some(Claim::New(pending)) = pending {
                        pending.complete(outcome.clone());
                    }
                    outcome.map(|order| Created { order, replayed: false })
                }
            });
        }
        Ok(out)
    }

    fn insert_order(&self, new: NewOrder) -> Result<Order, DomainError> {
        let mut t = self.write();
        if !t.users.contains_key(&new.user_id) {
            return Err(DomainError::NotFound { kind: "user", id: new.user_id });
        }
        let id = t.next_order_id;
        t.next_order_id += 1;
        let order = new.into_order(id, Utc::now());
        t.orders.insert(id, order.clone());
        t.by_user.entry(order.user_id).or_default().insert(id);
        let limit = self.config.max_created.max(1) as Id;
        while t.next_order_id - t.kept_from > limit {
            let old = t.kept_from;
            t.kept_from += 1;
            if let Some(gone) = t.orders.remove(&old)
                && let Some(ids) = t.by_user.get_mut(&gone.user_id)
            {
                ids.remove(&old);
            }
        }
        self.publish(&mut t, OrderEventKind::Created, &order);
        Ok(order)
    }

    /// Moves an order to `status`. Delivered and cancelled orders are final.
    pub async fn update_order_status(&self, id: Id, status: OrderStatus) -> Result<Order, DomainError> {
        self.call().await?;
        let mut t = self.write();
        let order = t.orders.get_mut(&id).ok_or(DomainError::NotFound { kind: "order", id })?;
        if order.status != status && matches!(order.status, OrderStatus::Delivered | OrderStatus::Cancelled) {
            return Err(DomainError::Conflict(format!(
                "order {id} is {} and can no longer change status",
                order.status
            )));
        }
        order.status = status;
        let order = order.clone();
        self.publish(&mut t, OrderEventKind::StatusChanged, &order);
        Ok(order)
    }

    /// Deletes an order, returning it as it was.
    pub async fn delete_order(&self, id: Id) -> Result<Order, DomainError> {
        self.call().await?;
        let mut t = self.write();
        let order = t.orders.remove(&id).ok_or(DomainError::NotFound { kind: "order", id })?;
        if let Some(ids) = t.by_user.get_mut(&order.user_id) {
            ids.remove(&id);
        }
        self.publish(&mut t, OrderEventKind::Deleted, &order);
        Ok(order)
    }

    /// The feed of order events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OrderEvent> {
        self.read().events.subscribe()
    }

    fn publish(&self, t: &mut Tables, kind: OrderEventKind, order: &Order) {
        t.next_event_seq += 1;
        // No subscribers is fine: the event is simply not observed.
        let _ = t.events.send(OrderEvent { seq: t.next_event_seq, kind, order: order.clone() });
    }
}

/// Counts a store call out of [`Store::most_in_flight`]'s gauge when it is dropped.
struct Waited<'a>(&'a AtomicU64);

impl Drop for Waited<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Address, LineItem};
    use crate::profile::Profiles;
    use crate::query::Sort;

    fn store_with(latency: Duration) -> Store {
        let profile = Profiles::builtin().get("small").unwrap().clone();
        let config = StoreConfig { latency, ..StoreConfig::default() };
        Store::with_fixtures(config, crate::generate(&profile, 42))
    }

    fn store() -> Store {
        store_with(Duration::ZERO)
    }

    #[tokio::test]
    async fn reset_undoes_every_write_and_forgets_every_key() {
        let s = store();
        let fixtures = crate::generate(Profiles::builtin().get("small").unwrap(), 42);
        let before = (s.counts(), s.next_order_id());
        let first = s.create_order(Some("k"), new_order(1, 1)).await.unwrap().order;
        s.delete_order(1).await.unwrap();
        assert_ne!((s.counts(), s.next_order_id()), before);
        s.reset(|| fixtures);
        assert_eq!((s.counts(), s.next_order_id()), before);
        s.get_order(1).await.expect("the deleted fixture order is back");
        // The key is forgotten: the same request runs again and gets the same new id.
        let again = s.create_order(Some("k"), new_order(1, 1)).await.unwrap();
        assert!(!again.replayed);
        assert_eq!((again.order.id, again.order.items), (first.id, first.items));
    }

    fn new_order(user_id: Id, quantity: u32) -> NewOrder {
        NewOrder {
            user_id,
            items: vec![LineItem {
                sku: "SKU-1".into(),
                name: "thing".into(),
                quantity,
                unit_price_cents: 250,
            }],
            currency: "EUR".into(),
            shipping_address: Address {
                line1: "1 Main St".into(),
                line2: String::new(),
                city: "Berlin".into(),
                region: "BE".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            },
        }
    }

    /// Follows next_cursor to the end and returns every id seen, in page order.
    async fn walk(store: &Store, user: Option<Id>, mut query: OrderQuery) -> Vec<Id> {
        let mut ids = Vec::new();
        loop {
            let page = match user {
                Some(u) => store.user_orders(u, &query).await.unwrap(),
                None => store.list_orders(&query).await.unwrap(),
            };
            assert!(page.items.len() <= query.limit as usize);
            ids.extend(page.items.iter().map(|o| o.id));
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => return ids,
            }
        }
    }

    #[tokio::test]
    async fn user_orders_pages_cover_every_order_once_newest_first() {
        let s = store();
        let ids = walk(&s, Some(3), OrderQuery::recent(2)).await;
        let all = s.user_orders(3, &OrderQuery::recent(1000)).await.unwrap().items;
        assert_eq!(ids, all.iter().map(|o| o.id).collect::<Vec<_>>());
        assert_eq!(ids.len(), 5);
        for pair in all.windows(2) {
            assert!(pair[0].created_at >= pair[1].created_at);
        }
        assert!(all.iter().all(|o| o.user_id == 3));
    }

    #[tokio::test]
    async fn list_orders_fast_and_general_paths_agree() {
        let s = store();
        let by_id = walk(&s, None, OrderQuery { limit: 7, ..OrderQuery::default() }).await;
        assert_eq!(by_id, (1..=500).collect::<Vec<_>>());
        let sort: Sort = "-total_cents".parse().unwrap();
        let by_total = walk(&s, None, OrderQuery { sort, limit: 33, ..OrderQuery::default() }).await;
        let mut sorted = by_total.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, by_id);
    }

    #[tokio::test]
    async fn status_filter_and_bad_input() {
        let s = store();
        let query = OrderQuery { status: Some(OrderStatus::Paid), limit: 1000, ..OrderQuery::default() };
        let paid = s.list_orders(&query).await.unwrap().items;
        assert!(!paid.is_empty() && paid.iter().all(|o| o.status == OrderStatus::Paid));

        let page = s.list_orders(&OrderQuery { limit: 2, ..OrderQuery::default() }).await.unwrap();
        let reused =
            OrderQuery { sort: Sort::NEWEST_FIRST, cursor: page.next_cursor, ..OrderQuery::default() };
        assert!(matches!(s.list_orders(&reused).await, Err(DomainError::InvalidCursor(_))));
        let zero = OrderQuery { limit: 0, ..OrderQuery::default() };
        assert!(matches!(s.list_orders(&zero).await, Err(DomainError::Invalid(_))));
        assert!(matches!(
            s.user_orders(9999, &OrderQuery::default()).await,
            Err(DomainError::NotFound { .. })
        ));
        assert!(matches!(s.get_user(0).await, Err(DomainError::NotFound { kind: "user", id: 0 })));
    }

    #[tokio::test]
    async fn list_users_pages_in_id_order() {
        let s = store();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s.list_users(cursor.as_deref(), 30).await.unwrap();
            seen.extend(page.items.iter().map(|u| u.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, (1..=100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn create_update_delete_publish_events_in_sequence() {
        let s = store();
        let mut events = s.subscribe();
        let created = s.create_order(None, new_order(5, 4)).await.unwrap();
        assert!(!created.replayed);
        assert_eq!(created.order.id, 501);
        assert_eq!(created.order.total_cents, 1000);
        assert_eq!(created.order.status, OrderStatus::Pending);
        assert_eq!(s.get_order(501).await.unwrap(), created.order);
        assert!(s.user_orders(5, &OrderQuery::recent(1)).await.unwrap().items[0].id == 501);

        s.update_order_status(501, OrderStatus::Cancelled).await.unwrap();
        assert!(matches!(s.update_order_status(501, OrderStatus::Paid).await, Err(DomainError::Conflict(_))));
        s.delete_order(501).await.unwrap();
        assert!(matches!(s.get_order(501).await, Err(DomainError::NotFound { .. })));

        let kinds: Vec<_> = (0..3).map(|_| events.try_recv().unwrap()).collect();
        assert_eq!(
            kinds.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [OrderEventKind::Created, OrderEventKind::StatusChanged, OrderEventKind::Deleted]
        );
        assert_eq!(kinds[0].seq + 2, kinds[2].seq);
    }

    #[tokio::test]
    async fn invalid_orders_are_rejected_before_the_key_is_used() {
        let s = store();
        let mut bad = new_order(1, 1);
        bad.items.clear();
        assert!(matches!(s.create_order(Some("k1"), bad).await, Err(DomainError::Invalid(_))));
        // The key is still free: a valid request with it runs.
        let ok = s.create_order(Some("k1"), new_order(1, 1)).await.unwrap();
        assert!(!ok.replayed);
        let mut bad_currency = new_order(1, 1);
        bad_currency.currency = "euro".into();
        assert!(s.create_order(None, bad_currency).await.is_err());
        let mut overflow = new_order(1, u32::MAX);
        overflow.items[0].unit_price_cents = i64::MAX / 2;
        assert!(matches!(s.create_order(None, overflow).await, Err(DomainError::Invalid(_))));
    }

    #[tokio::test]
    async fn execution_errors_are_replayed_like_successes() {
        let s = store();
        let missing_user = new_order(4242, 1);
        let first = s.create_order(Some("ghost"), missing_user.clone()).await.unwrap_err();
        let again = s.create_order(Some("ghost"), missing_user).await.unwrap_err();
        assert_eq!(first, DomainError::NotFound { kind: "user", id: 4242 });
        assert_eq!(first, again);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_duplicates_have_exactly_one_effect() {
        // Latency keeps the first request in flight while the duplicates arrive.
        let s = Arc::new(store_with(Duration::from_millis(50)));
        let (_, orders_before) = s.counts();
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (s, barrier) = (s.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.create_order(Some("dup-key"), new_order(7, 3)).await
                })
            })
            .collect();
        let mut created = Vec::new();
        let mut in_flight = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(c) => created.push(c),
                Err(DomainError::IdempotencyInFlight { key }) => {
                    assert_eq!(key, "dup-key");
                    in_flight += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(s.counts().1, orders_before + 1, "exactly one order is created");
        assert_eq!(created.iter().filter(|c| !c.replayed).count(), 1);
        assert_eq!(created.len() + in_flight, 32);
        // Once finished, every repeat replays the same order.
        let replay = s.create_order(Some("dup-key"), new_order(7, 3)).await.unwrap();
        assert!(replay.replayed);
        assert!(created.iter().all(|c| c.order == replay.order));
    }

    #[tokio::test]
    async fn simulated_latency_is_paid_once_per_call_and_batches_pay_once() {
        let s = store_with(Duration::from_millis(20));
        let before = s.calls();
        let start = std::time::Instant::now();
        s.get_user(1).await.unwrap();
        s.get_user(2).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(40));
        assert_eq!(s.calls() - before, 2);

        let many = s.orders_of_users(&[1, 2, 3, 999], &OrderQuery::recent(2)).await.unwrap();
        assert_eq!(s.calls() - before, 3, "one call for many users");
        assert_eq!(many.len(), 3);
        assert!(many.values().all(|p| p.items.len() == 2));
    }

    #[tokio::test]
    async fn unpaced_calls_are_counted_but_do_not_wait() {
        let s = store_with(Duration::from_millis(200));
        let before = s.calls();
        let start = std::time::Instant::now();
        let user = unpaced(async { s.get_user(1).await }).await;
        assert!(user.is_ok());
        assert!(start.elapsed() < Duration::from_millis(200), "{:?}", start.elapsed());
        assert_eq!(s.calls() - before, 1);
    }

    #[tokio::test]
    async fn the_oldest_created_orders_are_forgotten_beyond_the_bound_and_fixtures_never() {
        let config = StoreConfig { max_created: 3, ..StoreConfig::default() };
        let s = Store::with_fixtures(config, crate::generate(Profiles::builtin().get("tiny").unwrap(), 1));
        let (_, fixture_orders) = s.counts();
        let first = s.next_order_id();
        assert_eq!(s.kept_from(), first);
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(s.create_order(None, new_order(1, 1)).await.unwrap().order.id);
        }
        assert_eq!(s.counts().1, fixture_orders + 3, "three created orders kept");
        assert_eq!(s.kept_from(), ids[2]);
        assert!(s.get_order(ids[1]).await.is_err(), "forgotten");
        assert!(s.get_order(ids[4]).await.is_ok());
        assert!(s.get_order(1).await.is_ok(), "fixtures stay");
        let recent = s.user_orders(1, &OrderQuery::recent(50)).await.unwrap();
        assert!(!recent.items.iter().any(|o| o.id == ids[0]), "forgotten orders leave the user's list too");
    }

    #[tokio::test]
    async fn batch_create_reports_each_item() {
        let s = store();
        let batch = vec![
            BatchItem { idempotency_key: Some("b1".into()), order: new_order(1, 1) },
            BatchItem { idempotency_key: None, order: new_order(4242, 1) },
            BatchItem { idempotency_key: Some("b1".into()), order: new_order(1, 1) },
        ];
        let out = s.create_orders(batch).await.unwrap();
        assert!(!out[0].as_ref().unwrap().replayed);
        assert!(matches!(out[1], Err(DomainError::NotFound { .. })));
        // The same key twice in one batch: the second sees the first in flight.
        assert!(matches!(out[2], Err(DomainError::IdempotencyInFlight { .. })));
        let again =
            s.create_orders(vec![BatchItem { idempotency_key: Some("b1".into()), order: new_order(1, 1) }]);
        assert!(again.await.unwrap()[0].as_ref().unwrap().replayed);
    }
}
