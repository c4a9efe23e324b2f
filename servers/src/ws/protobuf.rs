//! The message contract in protobuf, for binary frames: a socket whose client asks for the
//! subprotocol [`SUBPROTOCOL`] carries one `WsRequest` per client frame and one `WsResponse`
//! per server frame (`proto/wirebench/v1/ws.proto`), each the twin of a [`ClientMessage`] or
//! [`ServerMessage`]. The conversions both ways live here, for the server and the harness's
//! client alike, so both sides map fields the same way.

use std::borrow::Cow;

use prost::Message as _;
use wirebench_domain::OrderSummary;
use wirebench_proto::convert::{ConvertError, status};
use wirebench_proto::v1 as pb;
use wirebench_proto::v1::ws_request::Op;
use wirebench_proto::v1::ws_response::Body;

use super::messages::{
    ClientMessage, CreatedOrder, OrderPage, ReplyData, ServerMessage, SubscriptionState, UserOrders,
};

/// The `Sec-WebSocket-Protocol` value that asks for protobuf binary frames.
pub const SUBPROTOCOL: &str = "wirebench.v1.proto";

/// How a socket's messages are encoded, agreed in the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Frames {
    /// JSON text frames (no subprotocol asked for).
    #[default]
    Json,
    /// Protobuf binary frames ([`SUBPROTOCOL`]).
    Protobuf,
}

impl Frames {
    /// What a client's `Sec-WebSocket-Protocol` offers (comma-separated lists, possibly in
    /// several headers) agree to.
    pub fn negotiate<'a>(offers: impl IntoIterator<Item = &'a str>) -> Frames {
        let mut offered = offers.into_iter().flat_map(|v| v.split(',')).map(str::trim);
        if offered.any(|p| p == SUBPROTOCOL) { Frames::Protobuf } else { Frames::Json }
    }
}

/// Reads one client binary message: the request, or the `malformed_message` error that
/// answers it (with the message's id when one can be read).
pub fn decode_binary(bytes: &[u8]) -> Result<ClientMessage, Box<ServerMessage>> {
    let malformed = |message: String| {
        let id = pb::WsCorrelation::decode(bytes).ok().and_then(|c| c.id);
        Box::new(ServerMessage::error(id, "malformed_message", message))
    };
    let request = pb::WsRequest::decode(bytes).map_err(|e| malformed(e.to_string()))?;
    ClientMessage::try_from(request).map_err(|e| malformed(e.0))
}

/// `message` as the bytes of a binary frame.
pub fn encode_binary(message: ServerMessage) -> Vec<u8> {
    pb::WsResponse::from(message).encode_to_vec()
}

fn optional(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, ConvertError> {
    value.ok_or_else(|| ConvertError(format!("{field} is required")))
}

impl TryFrom<pb::WsRequest> for ClientMessage {
    type Error = ConvertError;

    fn try_from(r: pb::WsRequest) -> Result<Self, ConvertError> {
        let id = r.id;
        Ok(match required(r.op, "op")? {
            Op::GetUser(m) => ClientMessage::GetUser { id, user_id: m.id },
            Op::UserOrders(m) => ClientMessage::UserOrders { id, user_id: m.user_id, limit: m.limit },
            Op::UsersOrders(m) => ClientMessage::UsersOrders { id, limit: m.limit },
            Op::ListOrders(m) => ClientMessage::ListOrders {
                id,
                limit: m.limit,
                cursor: m.cursor,
                status: status(m.status)?,
                sort: m.sort,
            },
            Op::StreamOrders(m) => {
                ClientMessage::StreamOrders { id, limit: m.limit, status: status(m.status)? }
            }
            Op::GetOrder(m) => ClientMessage::GetOrder { id, order_id: m.order_id },
            Op::CreateOrder(m) => ClientMessage::CreateOrder {
                id,
                idempotency_key: optional(m.idempotency_key),
                order: required(m.order, "order")?.try_into()?,
            },
            Op::ImportOrder(m) => ClientMessage::ImportOrder {
                id,
                batch: m.batch,
                idempotency_key: m.idempotency_key,
                order: required(m.order, "order")?.try_into()?,
            },
            Op::ImportCommit(m) => ClientMessage::ImportCommit { id, batch: m.batch },
            Op::SubscribeEvents(pb::WsSubscribeEvents {}) => ClientMessage::SubscribeEvents { id },
            Op::Unsubscribe(m) => ClientMessage::Unsubscribe { id, subscription: m.subscription },
        })
    }
}

impl From<ClientMessage> for pb::WsRequest {
    fn from(m: ClientMessage) -> Self {
        let id = m.id();
        let op = match m {
            ClientMessage::GetUser { user_id, .. } => Op::GetUser(pb::GetUserRequest { id: user_id }),
            ClientMessage::UserOrders { user_id, limit, .. } => {
                Op::UserOrders(pb::GetUserOrdersRequest { user_id, limit })
            }
            ClientMessage::UsersOrders { limit, .. } => Op::UsersOrders(pb::WsUsersOrders { limit }),
            ClientMessage::ListOrders { limit, cursor, status, sort, .. } => {
                Op::ListOrders(pb::WsListOrders {
                    limit,
                    cursor,
                    status: status.map_or(0, |s| pb::OrderStatus::from(s) as i32),
                    sort,
                })
            }
            ClientMessage::StreamOrders { limit, status, .. } => Op::StreamOrders(pb::WsStreamOrders {
                limit,
                status: status.map_or(0, |s| pb::OrderStatus::from(s) as i32),
            }),
            ClientMessage::GetOrder { order_id, .. } => Op::GetOrder(pb::WsGetOrder { order_id }),
            ClientMessage::CreateOrder { idempotency_key, order, .. } => {
                Op::CreateOrder(pb::CreateOrderRequest {
                    idempotency_key: idempotency_key.unwrap_or_default(),
                    order: Some(order.into()),
                })
            }
            ClientMessage::ImportOrder { batch, idempotency_key, order, .. } => {
                Op::ImportOrder(pb::WsImportOrder { batch, idempotency_key, order: Some(order.into()) })
            }
            ClientMessage::ImportCommit { batch, .. } => Op::ImportCommit(pb::WsImportCommit { batch }),
            ClientMessage::SubscribeEvents { .. } => Op::SubscribeEvents(pb::WsSubscribeEvents {}),
            ClientMessage::Unsubscribe { subscription, .. } => {
                Op::Unsubscribe(pb::WsUnsubscribe { subscription })
            }
        };
        pb::WsRequest { id, op: Some(op) }
    }
}

impl From<ServerMessage> for pb::WsResponse {
    fn from(m: ServerMessage) -> Self {
        let id = m.id();
        let body = match m {
            ServerMessage::Reply { data, .. } => reply_body(data),
            ServerMessage::Item { seq, data, .. } => Body::Item(pb::WsItem { seq, order: Some(data.into()) }),
            ServerMessage::End { count, .. } => Body::End(pb::WsEnd { count }),
            ServerMessage::Event { data, .. } => Body::Event(data.into()),
            ServerMessage::Error { code, message, .. } => {
                Body::Error(pb::WsError { code: code.into_owned(), message })
            }
        };
        pb::WsResponse { id, body: Some(body) }
    }
}

fn reply_body(data: ReplyData) -> Body {
    match data {
        ReplyData::User(user) => Body::User(user.into()),
        ReplyData::Order(order) => Body::Order(order.into()),
        ReplyData::UserOrders(u) => Body::UserOrders(pb::UserOrders {
            name: u.name,
            orders: u.orders.into_iter().map(Into::into).collect(),
        }),
        ReplyData::UsersOrders(users) => {
            Body::UsersOrders(pb::UsersOrders { users: users.into_iter().map(Into::into).collect() })
        }
        ReplyData::OrderPage(page) => Body::OrderPage(pb::OrderPage {
            orders: page.data.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }),
        ReplyData::CreatedOrder(c) => {
            Body::CreatedOrder(pb::CreateOrderResponse { order: Some(c.order.into()), replayed: c.replayed })
        }
        ReplyData::ImportSummary(s) => Body::ImportSummary(s.into()),
        ReplyData::SubscriptionState(s) => {
            Body::Subscription(pb::WsSubscription { subscribed: s.subscribed })
        }
    }
}

impl TryFrom<pb::WsResponse> for ServerMessage {
    type Error = ConvertError;

    fn try_from(r: pb::WsResponse) -> Result<Self, ConvertError> {
        let body = required(r.body, "body")?;
        if let Body::Error(e) = body {
            return Ok(ServerMessage::Error { id: r.id, code: Cow::Owned(e.code), message: e.message });
        }
        let id = required(r.id, "id")?;
        let data = match body {
            Body::Item(item) => {
                let data = required(item.order, "item.order")?.try_into()?;
                return Ok(ServerMessage::Item { id, seq: item.seq, data });
            }
            Body::End(end) => return Ok(ServerMessage::End { id, count: end.count }),
            Body::Event(event) => return Ok(ServerMessage::Event { id, data: event.try_into()? }),
            Body::Error(_) => unreachable!("answered above"),
            Body::User(user) => ReplyData::User(user.try_into()?),
            Body::Order(order) => ReplyData::Order(order.try_into()?),
            Body::UserOrders(u) => ReplyData::UserOrders(UserOrders {
                name: u.name,
                orders: u.orders.into_iter().map(OrderSummary::try_from).collect::<Result<_, _>>()?,
            }),
            Body::UsersOrders(u) => {
                ReplyData::UsersOrders(u.users.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?)
            }
            Body::OrderPage(page) => ReplyData::OrderPage(OrderPage {
                data: page.orders.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
                next_cursor: optional(page.next_cursor),
            }),
            Body::CreatedOrder(c) => ReplyData::CreatedOrder(CreatedOrder {
                order: required(c.order, "created_order.order")?.try_into()?,
                replayed: c.replayed,
            }),
            Body::ImportSummary(s) => ReplyData::ImportSummary(s.into()),
            Body::Subscription(s) => {
                ReplyData::SubscriptionState(SubscriptionState { subscribed: s.subscribed })
            }
        };
        Ok(ServerMessage::Reply { id, data })
    }
}
