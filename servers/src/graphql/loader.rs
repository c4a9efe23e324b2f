//! The DataLoader behind `User.orders`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use std::marker::PhantomData;

use async_graphql::dataloader::Loader;
use wirebench_domain::{DomainError, Id, Order, OrderQuery, Page, Store};

/// The arguments that shape a page of a user's orders; keys with equal arguments share one
/// store call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct OrdersArgs {
    pub(super) first: u32,
    pub(super) after: Option<String>,
    pub(super) status: Option<wirebench_domain::OrderStatus>,
}

impl OrdersArgs {
    /// Newest first, as "a user's recent orders" always is.
    pub(super) fn query(&self) -> OrderQuery {
        OrderQuery { status: self.status, cursor: self.after.clone(), ..OrderQuery::recent(self.first) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct UserOrdersKey {
    pub(super) user_id: Id,
    pub(super) args: OrdersArgs,
}

/// One batch of keys → one `Store::orders_of_users` call per distinct [`OrdersArgs`].
/// Errors are per key, so one bad cursor never fails another request's keys. Each page
/// becomes a `P` (the schema's page of order nodes), shared by every key that asked for it.
#[derive(Debug)]
pub(super) struct UserOrdersLoader<P> {
    store: Arc<Store>,
    page: PhantomData<fn() -> P>,
}

impl<P> UserOrdersLoader<P> {
    pub(super) fn new(store: Arc<Store>) -> Self {
        UserOrdersLoader { store, page: PhantomData }
    }
}

/// A page, or why there is none.
pub(super) type PageResult<P> = std::result::Result<Arc<P>, DomainError>;

impl<P: From<Page<Order>> + Send + Sync + 'static> Loader<UserOrdersKey> for UserOrdersLoader<P> {
    type Value = PageResult<P>;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[UserOrdersKey],
    ) -> std::result::Result<HashMap<UserOrdersKey, PageResult<P>>, Infallible> {
        let mut groups: HashMap<&OrdersArgs, Vec<Id>> = HashMap::new();
        for key in keys {
            groups.entry(&key.args).or_default().push(key.user_id);
        }
        let calls = groups.into_iter().map(|(args, ids)| async move {
            let result = self.store.orders_of_users(&ids, &args.query()).await;
            (args, ids, result)
        });
        let mut out = HashMap::with_capacity(keys.len());
        for (args, ids, result) in futures::future::join_all(calls).await {
            for id in ids {
                let value = match &result {
                    Err(e) => Err(e.clone()),
                    Ok(_) => Err(DomainError::NotFound { kind: "user", id }),
                };
                out.insert(UserOrdersKey { user_id: id, args: args.clone() }, value);
            }
            if let Ok(pages) = result {
                for (id, page) in pages {
                    out.insert(UserOrdersKey { user_id: id, args: args.clone() }, Ok(Arc::new(page.into())));
                }
            }
        }
        Ok(out)
    }
}
