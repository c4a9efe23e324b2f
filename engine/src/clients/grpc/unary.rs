//! The unary operations, written once over [`Unary`]: a transport that carries one request
//! message and brings back one answer message. gRPC over HTTP/2 and gRPC-Web over HTTP/1.1
//! differ only there; what is asked and how the answer becomes an outcome is the same.

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wirebench_proto::v1 as pb;

use super::{create_request, created, path, user_orders, users_orders};
use crate::catalog::{OpParams, Outcome};
use crate::clients::{Call, ClientError, Operations};

/// One unary call on a connection (whose counters' decode clock times converting the answer).
pub(super) trait Unary: Operations {
    /// Sends `req` to the method at `path` and decodes its one answer message (decoding on the
    /// decode clock).
    async fn unary<T, U>(&mut self, path: &'static str, req: T) -> Result<U, ClientError>
    where
        T: Message + Serialize,
        U: Message + Default + DeserializeOwned;
}

/// GetUser.
pub(super) async fn get_user(conn: &mut impl Unary, p: &OpParams) -> Result<Call, ClientError> {
    let user: pb::User = conn.unary(path::GET_USER, pb::GetUserRequest { id: p.user_id }).await?;
    let user = wirebench_wire::decoding(|| user.try_into().map_err(ClientError::decode))?;
    Ok(Call::new(Outcome::User(user)))
}

/// GetUserOrders.
pub(super) async fn get_user_orders(conn: &mut impl Unary, p: &OpParams) -> Result<Call, ClientError> {
    let req = pb::GetUserOrdersRequest { user_id: p.user_id, limit: p.n };
    let reply: pb::UserOrders = conn.unary(path::USER_ORDERS, req).await?;
    Ok(Call::new(wirebench_wire::decoding(|| user_orders(reply))?))
}

/// ListUsersOrders.
pub(super) async fn list_users_orders(conn: &mut impl Unary, p: &OpParams) -> Result<Call, ClientError> {
    let req = pb::ListUsersOrdersRequest { limit: p.n, orders_limit: p.n };
    let reply: pb::UsersOrders = conn.unary(path::USERS_ORDERS, req).await?;
    Ok(Call::new(wirebench_wire::decoding(|| users_orders(reply))?))
}

/// CreateOrder, with the operation's idempotency key.
pub(super) async fn create_order(conn: &mut impl Unary, p: &OpParams) -> Result<Call, ClientError> {
    let req = create_request(p, p.idempotency_key.clone());
    let reply: pb::CreateOrderResponse = conn.unary(path::CREATE_ORDER, req).await?;
    Ok(Call::new(wirebench_wire::decoding(|| created(reply))?))
}
