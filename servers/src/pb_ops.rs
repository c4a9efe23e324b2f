//! The shop's operations at the protobuf level, shared by the two servers that speak
//! protobuf messages (gRPC and the raw-TCP floor), so both do exactly the same work per
//! request and differ only in transport.

use wirebench_domain::{BatchItem, DomainError, ImportSummary, OrderQuery, OrderSummary, Sort, Store};
use wirebench_proto::convert::{self, ConvertError};
use wirebench_proto::v1 as pb;

/// Why a protobuf-level operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// get-user.
pub async fn get_user(store: &Store, req: pb::GetUserRequest) -> Result<pb::User, OpError> {
    Ok(store.get_user(req.id).await?.into())
}

/// user-orders: the user's name and their `limit` most recent orders, summarised.
pub async fn user_orders(store: &Store, req: pb::GetUserOrdersRequest) -> Result<pb::UserOrders, OpError> {
    let user = store.get_user(req.user_id).await?;
    let page = store.user_orders(req.user_id, &OrderQuery::recent(req.limit)).await?;
    Ok(pb::UserOrders {
        name: user.name,
        orders: page.items.iter().map(|o| OrderSummary::from(o).into()).collect(),
    })
}

/// users-orders: the first `limit` users, each with their `orders_limit` recent orders
/// (two store calls: the users, then all their orders at once).
pub async fn users_orders(
    store: &Store,
    req: pb::ListUsersOrdersRequest,
) -> Result<pb::UsersOrders, OpError> {
    let users = store.users_recent_orders(req.limit, req.orders_limit).await?;
    Ok(pb::UsersOrders { users: users.into_iter().map(Into::into).collect() })
}

/// list-orders / stream-orders: one page of orders (a user's, newest first, or everyone's,
/// in id order, unless `sort` says otherwise).
pub async fn list_orders(store: &Store, req: pb::ListOrdersRequest) -> Result<pb::OrderPage, OpError> {
    let default_sort = if req.user_id == 0 { Sort::default() } else { Sort::NEWEST_FIRST };
    let sort = if req.sort.is_empty() { default_sort } else { req.sort.parse()? };
    let query = OrderQuery {
        status: convert::status(req.status)?,
        sort,
        cursor: Some(req.cursor).filter(|c| !c.is_empty()),
        limit: req.limit,
    };
    let page = if req.user_id == 0 {
        store.list_orders(&query).await?
    } else {
        store.user_orders(req.user_id, &query).await?
    };
    Ok(pb::OrderPage {
        orders: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.unwrap_or_default(),
    })
}

/// The domain request of a CreateOrderRequest (an empty key means none).
pub fn batch_item(req: pb::CreateOrderRequest) -> Result<BatchItem, ConvertError> {
    let order = req.order.ok_or_else(|| ConvertError("order is required".into()))?;
    Ok(BatchItem {
        idempotency_key: Some(req.idempotency_key).filter(|k| !k.is_empty()),
        order: order.try_into()?,
    })
}

/// create-order.
pub async fn create_order(
    store: &Store,
    req: pb::CreateOrderRequest,
) -> Result<pb::CreateOrderResponse, OpError> {
    let item = batch_item(req)?;
    let created = store.create_order(item.idempotency_key.as_deref(), item.order).await?;
    Ok(pb::CreateOrderResponse { order: Some(created.order.into()), replayed: created.replayed })
}

/// import-orders: every item created in one store call, one summary back.
pub async fn import(store: &Store, items: Vec<BatchItem>) -> Result<pb::ImportSummary, OpError> {
    Ok(ImportSummary::of(&store.create_orders(items).await?).into())
}

/// One track-orders pair: the order, or a per-request error that does not end the
/// conversation. `code_name` names the error in the transport's own terms.
pub async fn track(
    store: &Store,
    req: pb::TrackRequest,
    code_name: fn(&DomainError) -> String,
) -> pb::TrackReply {
    let result = match store.get_order(req.order_id).await {
        Ok(order) => pb::track_reply::Result::Order(order.into()),
        Err(e) => {
            pb::track_reply::Result::Error(pb::TrackError { code: code_name(&e), message: e.to_string() })
        }
    };
    pb::TrackReply { correlation_id: req.correlation_id, result: Some(result) }
}
