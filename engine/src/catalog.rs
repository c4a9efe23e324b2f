//! The operation catalog: the logical operations every protocol implements, their
//! parameters, and their outcomes as domain types — so answers from different protocols
//! can be compared with each other and with the store.

use serde::{Deserialize, Serialize};
use wirebench_domain::{
    Address, Id, ImportSummary, LineItem, NewOrder, Order, OrderQuery, OrderSummary, Store, User,
    UserRecentOrders,
};

pub use wirebench_results::vocab::Operation;

/// Parameters of one execution of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpParams {
    /// The user that get-user and user-orders ask about.
    pub user_id: Id,
    /// N: orders per page, stream, import or conversation.
    pub n: u32,
    /// Orders that track-orders asks about, in order (length N).
    pub order_ids: Vec<Id>,
    /// The order create-order and import-orders create (copied N times for import).
    pub new_order: NewOrder,
    /// Idempotency key of create-order; import item i uses `{key}-{i}`. None: no key.
    pub idempotency_key: Option<String>,
    /// For each variant that carries no records, by name: the messages it replays for each
    /// operation, sized on the reference store by the variant itself
    /// ([`crate::clients::Protocol::stand_in`]). Empty until then.
    #[serde(skip)]
    pub stand_ins: std::sync::Arc<std::collections::BTreeMap<&'static str, StandIn>>,
}

/// Per operation, the messages a variant that carries no records replays.
pub type StandIn = std::collections::BTreeMap<Operation, Vec<Exchange>>;

/// One exchange of an operation's messages: a request of `request` bytes and the messages
/// that answer it (none: the request is answered later, with a later one's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub request: usize,
    pub replies: Vec<usize>,
}

impl OpParams {
    /// Parameters that work against any fixtures of at least one user with orders.
    pub fn new(user_id: Id, n: u32, order_ids: Vec<Id>) -> Self {
        OpParams {
            user_id,
            n,
            order_ids,
            new_order: sample_new_order(user_id),
            idempotency_key: None,
            stand_ins: Default::default(),
        }
    }

    /// The messages `protocol` replays for `op` when it carries no records (empty otherwise).
    pub fn stand_in(&self, protocol: &str, op: Operation) -> &[Exchange] {
        self.stand_ins.get(protocol).and_then(|s| s.get(&op)).map_or(&[], Vec::as_slice)
    }

    /// The sizes of the answers `protocol` should receive for `op` when it carries no records.
    pub fn stand_in_replies(&self, protocol: &str, op: Operation) -> Vec<usize> {
        self.stand_in(protocol, op).iter().flat_map(|e| e.replies.iter().copied()).collect()
    }

    /// The key of import item `i`.
    pub fn item_key(&self, i: usize) -> Option<String> {
        self.idempotency_key.as_ref().map(|k| format!("{k}-{i}"))
    }
}

/// A small, valid order for `user_id`.
pub fn sample_new_order(user_id: Id) -> NewOrder {
    NewOrder {
        user_id,
        items: vec![
            LineItem {
                sku: "SKU-000042".into(),
                name: "wire bench".into(),
                quantity: 2,
                unit_price_cents: 1999,
            },
            LineItem { sku: "SKU-000007".into(), name: "cable".into(), quantity: 1, unit_price_cents: 550 },
        ],
        currency: "EUR".into(),
        shipping_address: Address {
            line1: "1 Loopback Way".into(),
            line2: String::new(),
            city: "Berlin".into(),
            region: "BE".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
        },
    }
}

/// What an operation returned, decoded to domain types.
// One outcome exists per call and is compared, not stored: boxing the user would only add
// an allocation per get-user call.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    User(User),
    UserOrders {
        name: String,
        orders: Vec<OrderSummary>,
    },
    UsersOrders(Vec<UserRecentOrders>),
    Orders(Vec<Order>),
    Created {
        order: Order,
        replayed: bool,
    },
    Imported(ImportSummary),
    /// Bytes instead of records (a variant that carries none, [`OpParams::stand_ins`]): the
    /// size of every message received.
    StandIn(Vec<usize>),
}

/// The store's own answer for a read operation; `None` for writes (which are checked by
/// reading back what they created).
pub async fn expected(
    store: &Store,
    op: Operation,
    p: &OpParams,
) -> Result<Option<Outcome>, wirebench_domain::DomainError> {
    Ok(Some(match op {
        Operation::GetUser => Outcome::User(store.get_user(p.user_id).await?),
        Operation::UserOrders => {
            let name = store.get_user(p.user_id).await?.name;
            let orders = store.user_orders(p.user_id, &OrderQuery::recent(p.n)).await?.items;
            Outcome::UserOrders { name, orders: orders.iter().map(OrderSummary::from).collect() }
        }
        Operation::UsersOrders => {
            let mut out = Vec::new();
            for user in store.list_users(None, p.n).await?.items {
                let orders = store.user_orders(user.id, &OrderQuery::recent(p.n)).await?.items;
                let orders = orders.iter().map(OrderSummary::from).collect();
                out.push(UserRecentOrders { id: user.id, name: user.name, orders });
            }
            Outcome::UsersOrders(out)
        }
        Operation::ListOrders | Operation::StreamOrders => Outcome::Orders(
            store.list_orders(&OrderQuery { limit: p.n, ..OrderQuery::default() }).await?.items,
        ),
        Operation::TrackOrders => {
            let mut orders = Vec::with_capacity(p.order_ids.len());
            for id in &p.order_ids {
                orders.push(store.get_order(*id).await?);
            }
            Outcome::Orders(orders)
        }
        Operation::CreateOrder | Operation::ImportOrders => return Ok(None),
    }))
}

/// Checks a write's outcome against its request, without access to the server's store:
/// every order created belongs to the request's user, carries its items and currency, is
/// new (pending) and has the total the items add up to; an import's summary adds up.
pub fn check_write(p: &OpParams, outcome: &Outcome) -> Result<(), String> {
    let want_total = wirebench_domain::order_total(&p.new_order.items);
    let check = |o: &Order| -> Result<(), String> {
        if o.user_id != p.new_order.user_id
            || o.items != p.new_order.items
            || o.currency != p.new_order.currency
            || o.shipping_address != p.new_order.shipping_address
            || o.total_cents != want_total
        {
            return Err(format!("created order {} does not match the request: {o:?}", o.id));
        }
        Ok(())
    };
    match outcome {
        Outcome::Created { order, .. } => check(order),
        Outcome::Imported(s) => {
            let n = p.n;
            if s.received != n
                || s.created + s.replayed != n
                || s.failed != 0
                || s.order_ids.len() != n as usize
            {
                return Err(format!("import summary does not add up for {n} orders: {s:?}"));
            }
            if s.total_cents != want_total * i64::from(n) {
                return Err(format!(
                    "import total {} but {n} orders of {want_total} were sent",
                    s.total_cents
                ));
            }
            Ok(())
        }
        other => Err(format!("a write returned {other:?}")),
    }
}
