//! gRPC's message sizes for every catalog operation, measured on a reference store: what the
//! floor's echo variant (`floor-echo`) replays.

use std::collections::BTreeMap;

use prost::Message;
use wirebench_proto::v1 as pb;

use super::create_request;
use crate::catalog::{Exchange, OpParams, Operation};

/// The messages gRPC exchanges for every catalog operation with parameters `p` against
/// `reference`, as sizes: each request message this client would send, and each message the
/// gRPC server would answer with (built by the server's own code from the reference; a write
/// answers with the order the store would create next). The floor's echo reproduces them.
pub async fn message_shapes(
    reference: &wirebench_domain::Store,
    p: &OpParams,
) -> Result<BTreeMap<Operation, Vec<Exchange>>, wirebench_servers::pb_ops::OpError> {
    use wirebench_servers::pb_ops;
    let one = |request: usize, replies: Vec<usize>| vec![Exchange { request, replies }];
    let mut shapes = BTreeMap::new();
    let get_user = pb::GetUserRequest { id: p.user_id };
    let user = pb_ops::get_user(reference, get_user).await?;
    shapes.insert(Operation::GetUser, one(get_user.encoded_len(), vec![user.encoded_len()]));
    let user_orders = pb::GetUserOrdersRequest { user_id: p.user_id, limit: p.n };
    let summary = pb_ops::user_orders(reference, user_orders).await?;
    shapes.insert(Operation::UserOrders, one(user_orders.encoded_len(), vec![summary.encoded_len()]));
    let users_orders = pb::ListUsersOrdersRequest { limit: p.n, orders_limit: p.n };
    let users = pb_ops::users_orders(reference, users_orders).await?;
    shapes.insert(Operation::UsersOrders, one(users_orders.encoded_len(), vec![users.encoded_len()]));
    let list = pb::ListOrdersRequest { limit: p.n, ..Default::default() };
    let page = pb_ops::list_orders(reference, list.clone()).await?;
    let stream: Vec<usize> = page.orders.iter().map(Message::encoded_len).collect();
    shapes.insert(Operation::ListOrders, one(list.encoded_len(), stream.clone()));
    shapes.insert(Operation::StreamOrders, one(list.encoded_len(), stream));
    // Writes: the order the store would create next, as the server would send it back.
    let next = reference.next_order_id();
    let now = chrono::Utc::now();
    let created = |i: u64| -> pb::Order { p.new_order.clone().into_order(next + i, now).into() };
    let create = create_request(p, p.idempotency_key.clone());
    let reply = pb::CreateOrderResponse { order: Some(created(0)), replayed: false };
    shapes.insert(Operation::CreateOrder, one(create.encoded_len(), vec![reply.encoded_len()]));
    let items: Vec<_> = (0..p.n as usize).map(|i| create_request(p, p.item_key(i))).collect();
    let outcomes: Vec<_> = (0..u64::from(p.n))
        .map(|i| {
            Ok(wirebench_domain::Created {
                order: p.new_order.clone().into_order(next + i, now),
                replayed: false,
            })
        })
        .collect();
    let summary: pb::ImportSummary = wirebench_domain::ImportSummary::of(&outcomes).into();
    let mut import: Vec<Exchange> =
        items.iter().map(|m| Exchange { request: m.encoded_len(), replies: Vec::new() }).collect();
    if let Some(last) = import.last_mut() {
        last.replies.push(summary.encoded_len());
    }
    shapes.insert(Operation::ImportOrders, import);
    let mut track = Vec::with_capacity(p.order_ids.len());
    for (i, id) in p.order_ids.iter().enumerate() {
        let req = pb::TrackRequest { correlation_id: i as u64, order_id: *id };
        let reply = pb_ops::track(reference, req, |e| e.code().to_owned()).await;
        track.push(Exchange { request: req.encoded_len(), replies: vec![reply.encoded_len()] });
    }
    shapes.insert(Operation::TrackOrders, track);
    Ok(shapes)
}
