//! The DataLoader behind `User.orders`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use wirebench_domain::{DomainError, Id, OrderQuery, Store};

use super::connections::OrderPage;

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
/// Errors are per key, so one bad cursor never fails another request's keys.
#[derive(Debug)]
pub(super) struct UserOrdersLoader {
    pub(super) store: Arc<Store>,
}

pub(super) type PageResult = std::result::Result<Arc<OrderPage>, DomainError>;

impl Loader<UserOrdersKey> for UserOrdersLoader {
    type Value = PageResult;
    type Error = Infallible;

    async fn load(
        &self,
        keys: &[UserOrdersKey],
    ) -> std::result::Result<HashMap<UserOrdersKey, PageResult>, Infallible> {
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
