//! The protobuf side of the WebSocket client: requests as `WsRequest` binary frames, answers
//! decoded from `WsResponse` with the server's own conversions
//! (`wirebench_servers::ws::protobuf`), and which of their fields are records.

use prost::Message as _;
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::Message;
use wirebench_domain::{ImportSummary, Order, User, UserRecentOrders};
use wirebench_proto::v1 as pb;
use wirebench_servers::ws::{ClientMessage, CreatedOrder, OrderPage, ReplyData, ServerMessage, UserOrders};

use super::Incoming;
use crate::clients::ClientError;
use wirebench_wire::Dir;
use wirebench_wire::dissect::DocRules;
use wirebench_wire::docs::Doc;

/// What a request expects as its answer's data: decoded from JSON directly, or taken out of
/// a decoded protobuf message.
pub(in crate::clients) trait Data: DeserializeOwned + Sized {
    fn from_reply(data: ReplyData) -> Option<Self>;

    /// A stream item's order, for the types a stream carries.
    fn from_item(_: Order) -> Option<Self> {
        None
    }
}

macro_rules! reply_data {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl Data for $ty {
            fn from_reply(data: ReplyData) -> Option<Self> {
                match data {
                    ReplyData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}

reply_data!(
    User(User),
    UserOrders(UserOrders),
    UsersOrders(Vec<UserRecentOrders>),
    OrderPage(OrderPage),
    CreatedOrder(CreatedOrder),
    ImportSummary(ImportSummary),
);

impl Data for Order {
    fn from_reply(data: ReplyData) -> Option<Self> {
        match data {
            ReplyData::Order(order) => Some(order),
            _ => None,
        }
    }

    fn from_item(order: Order) -> Option<Self> {
        Some(order)
    }
}

/// `msg` as a binary frame.
pub(super) fn frame(msg: ClientMessage) -> Message {
    Message::Binary(pb::WsRequest::from(msg).encode_to_vec().into())
}

/// The correlation id of a binary message, without decoding the rest.
pub(super) fn correlation(bytes: &[u8]) -> Option<u64> {
    pb::WsCorrelation::decode(bytes).ok()?.id
}

/// A binary server message, decoded and converted to the domain's types (both on the decode
/// clock, as JSON's decoding builds them directly).
pub(super) fn incoming<T: Data>(bytes: &[u8]) -> Result<Incoming<T>, ClientError> {
    let response = pb::WsResponse::decode(bytes).map_err(ClientError::decode)?;
    let message = ServerMessage::try_from(response).map_err(ClientError::decode)?;
    let (kind, id, data) = match message {
        ServerMessage::Reply { id, data } => ("reply", Some(id), T::from_reply(data)),
        ServerMessage::Item { id, data, .. } => ("item", Some(id), T::from_item(data)),
        ServerMessage::End { id, .. } => ("end", Some(id), None),
        ServerMessage::Event { id, .. } => ("event", Some(id), None),
        ServerMessage::Error { id, code, message } => {
            let kind = "error".to_owned();
            return Ok(Incoming {
                kind,
                id,
                data: None,
                code: Some(code.into_owned()),
                message: Some(message),
            });
        }
    };
    Ok(Incoming { kind: kind.to_owned(), id, data, code: None, message: None })
}

/// Which fields of the protobuf messages are records, as [`super::WsDocs`] says for JSON: a
/// request's order (`create_order.order`, `import_order.order`); a reply's user, order,
/// user-orders, created order, import summary or event whole; each user of `users_orders`,
/// each order of `order_page`, and `item.order`. A response's body is a oneof, so
/// one set of paths fits every answer.
#[derive(Debug, Default)]
pub struct WsProtoDocs;

impl DocRules for WsProtoDocs {
    fn doc(&mut self, dir: Dir, _: &str, _: &[u8]) -> Doc {
        match dir {
            Dir::Sent => Doc::Protobuf(&["$.8.2", "$.9.3"]),
            Dir::Received => {
                Doc::Protobuf(&["$.2", "$.3", "$.4", "$.5.1", "$.6.1", "$.7", "$.8", "$.10.2", "$.12"])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirebench_wire::dissect::replay;
    use wirebench_wire::websocket::WebSocket;

    fn frame(masked: bool, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mut f = vec![0x82, payload.len() as u8 | if masked { 0x80 } else { 0 }];
        if masked {
            f.extend([0; 4]);
        }
        f.extend(payload);
        f
    }

    #[test]
    fn a_page_and_a_created_order_split_by_hand() {
        let order = |id| pb::Order { id, currency: "EUR".into(), ..pb::Order::default() };
        let list = pb::WsRequest::from(ClientMessage::ListOrders {
            id: 2,
            limit: 2,
            cursor: None,
            status: None,
            sort: None,
        });
        let page = pb::WsResponse {
            id: Some(2),
            body: Some(pb::ws_response::Body::OrderPage(pb::OrderPage {
                orders: vec![order(1), order(2)],
                next_cursor: "c".into(),
            })),
        };
        let created = pb::WsResponse {
            id: Some(3),
            body: Some(pb::ws_response::Body::CreatedOrder(pb::CreateOrderResponse {
                order: Some(order(3)),
                replayed: false,
            })),
        };
        let (list, page, created) = (list.encode_to_vec(), page.encode_to_vec(), created.encode_to_vec());
        let (sent, page_frame, created_frame) =
            (frame(true, &list), frame(false, &page), frame(false, &created));
        let exchange: [(Dir, &[u8]); 5] = [
            (Dir::Sent, b"GET /ws HTTP/1.1\r\n\r\n"),
            (Dir::Received, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            (Dir::Sent, &sent),
            (Dir::Received, &page_frame),
            (Dir::Received, &created_frame),
        ];
        let (t, err) = replay(WebSocket::new(WsProtoDocs), &exchange);
        assert_eq!(err, None);
        // Each order is `08 id 32 03 "EUR"` (7 bytes): two in the page, and the created
        // order's whole body (its tag, length and order: 9 bytes) is data too.
        let one = order(1).encoded_len();
        assert_eq!(one, 7);
        assert_eq!(t.data[1], (2 * one + (one + 2)) as u64);
        assert_eq!(t.envelope[1], (page.len() + created.len()) as u64 - t.data[1]);
        assert_eq!(t.data[0], 0, "a list request carries parameters only");
    }
}
