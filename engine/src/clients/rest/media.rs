//! What REST's bodies are in: JSON (the default), protobuf (`application/x-protobuf`, the
//! gRPC service's messages, asked for with `Accept`), or for stream-orders server-sent events;
//! how each variant's documents hold records, and how a stream's messages are taken apart.

use prost::Message;
use wirebench_domain::{Order, OrderSummary, User};
use wirebench_proto::v1 as pb;

use crate::clients::ClientError;
use wirebench_wire::Dir;
use wirebench_wire::dissect::DocRules;
use wirebench_wire::docs::Doc;

/// The `Accept` and `Content-Type` of protobuf bodies.
pub const PROTOBUF: &str = "application/x-protobuf";

/// What a variant's bodies are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// JSON documents; stream-orders as newline-delimited JSON.
    Json,
    /// Protobuf messages; stream-orders as varint-delimited messages.
    Protobuf,
    /// JSON documents; stream-orders as server-sent events.
    EventStream,
}

impl Media {
    /// The `Accept` header a request of this variant sends, if any.
    pub fn accept(self, stream: bool) -> Option<&'static str> {
        match self {
            Media::Json => None,
            Media::Protobuf => Some(PROTOBUF),
            Media::EventStream => stream.then_some("text/event-stream"),
        }
    }

    /// Takes the next whole message of a stream off the front of `pending`: a line of
    /// newline-delimited JSON, a delimited protobuf message, or an event's data.
    pub fn next_message(self, pending: &mut Vec<u8>) -> Result<Option<Vec<u8>>, ClientError> {
        match self {
            Media::Json => Ok(pending.iter().position(|b| *b == b'\n').map(|end| {
                let mut line: Vec<u8> = pending.drain(..=end).collect();
                line.pop();
                line
            })),
            Media::Protobuf => {
                let mut view = &pending[..];
                let Ok(len) = prost::encoding::decode_varint(&mut view) else {
                    // Fewer than ten bytes may be a length still arriving.
                    return if pending.len() >= 10 {
                        Err(ClientError::decode("a bad length"))
                    } else {
                        Ok(None)
                    };
                };
                let prefix = pending.len() - view.len();
                let end = prefix + usize::try_from(len).map_err(ClientError::decode)?;
                if pending.len() < end {
                    return Ok(None);
                }
                let message = pending[prefix..end].to_vec();
                pending.drain(..end);
                Ok(Some(message))
            }
            Media::EventStream => loop {
                let Some(end) = pending.windows(2).position(|w| w == b"\n\n") else { return Ok(None) };
                let event: Vec<u8> = pending.drain(..end + 2).collect();
                let mut data: Option<Vec<u8>> = None;
                for line in event.split(|b| *b == b'\n') {
                    let Some(value) = line.strip_prefix(b"data:") else { continue };
                    let value = value.strip_prefix(b" ").unwrap_or(value);
                    match &mut data {
                        Some(d) => {
                            d.push(b'\n');
                            d.extend_from_slice(value);
                        }
                        None => data = Some(value.to_vec()),
                    }
                }
                // An event without data (a comment, a keep-alive) carries no message.
                if data.is_some() {
                    return Ok(data);
                }
            },
        }
    }
}

/// A protobuf body as its message.
pub fn message<P: Message + Default>(body: &[u8]) -> Result<P, ClientError> {
    P::decode(body).map_err(ClientError::decode)
}

/// A protobuf user as a domain user.
pub fn user(u: pb::User) -> Result<User, ClientError> {
    u.try_into().map_err(ClientError::decode)
}

/// A protobuf order as a domain order.
pub fn order(o: pb::Order) -> Result<Order, ClientError> {
    o.try_into().map_err(ClientError::decode)
}

/// A page of orders cut to `id,total_cents,status`, as a page of summaries.
pub(super) fn summaries(page: pb::OrderPage) -> Result<super::PageOf<OrderSummary>, ClientError> {
    let data = page
        .orders
        .into_iter()
        .map(|o| pb::OrderSummary::from(&o).try_into())
        .collect::<Result<_, _>>()
        .map_err(ClientError::decode)?;
    Ok(super::PageOf { data })
}

/// Which values of REST's documents are records, in a variant's media.
#[derive(Debug, Clone, Copy)]
pub struct RestDocs(pub Media);

impl Default for RestDocs {
    fn default() -> Self {
        RestDocs(Media::Json)
    }
}

impl DocRules for RestDocs {
    fn doc(&mut self, dir: Dir, route: &str, _: &[u8]) -> Doc {
        let (method, target) = route.split_once(' ').unwrap_or(("", route));
        let path = target.split('?').next().unwrap_or_default();
        let page = method == "GET"
            && (matches!(path, "/v1/orders" | "/v1/users")
                || (path.ends_with("/orders") && path.starts_with("/v1/users/")));
        match (self.0, dir, path) {
            (Media::Protobuf, Dir::Received, "/v1/orders/stream") => Doc::ProtobufDelimited(&["$"]),
            (Media::EventStream, Dir::Received, "/v1/orders/stream") => Doc::EventStream(&["$"]),
            (Media::Json, Dir::Received, "/v1/orders/stream") => Doc::JsonLines(&["$"]),
            // OrderPage.orders, UserPage.users.
            (Media::Protobuf, Dir::Received, _) if page => Doc::Protobuf(&["$.1"]),
            // A new order, a user (sparse or not), an order.
            (Media::Protobuf, _, _) => Doc::Protobuf(&["$"]),
            (_, Dir::Sent, "/v1/orders/batch") => Doc::Json(&["$.items[*].order"]),
            // A new order, or an order's new status.
            (_, Dir::Sent, _) => Doc::Json(&["$"]),
            (_, Dir::Received, "/v1/orders/batch") => Doc::Json(&[
                "$.results[*].order",
                "$.received",
                "$.created",
                "$.replayed",
                "$.failed",
                "$.total_cents",
            ]),
            (_, Dir::Received, _) if page => Doc::Json(&["$.data[*]"]),
            // A user (sparse, or with its orders embedded), an order, a created order.
            (_, Dir::Received, _) => Doc::Json(&["$"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_messages_come_apart_in_each_media() {
        let mut lines = b"{\"a\":1}\n{\"b\"".to_vec();
        assert_eq!(Media::Json.next_message(&mut lines).unwrap(), Some(b"{\"a\":1}".to_vec()));
        assert_eq!(Media::Json.next_message(&mut lines).unwrap(), None);

        let mut events = b": keep-alive\n\ndata: {\"a\":1}\n\ndata: x\ndata: y\n\ndata: {".to_vec();
        assert_eq!(Media::EventStream.next_message(&mut events).unwrap(), Some(b"{\"a\":1}".to_vec()));
        assert_eq!(Media::EventStream.next_message(&mut events).unwrap(), Some(b"x\ny".to_vec()));
        assert_eq!(Media::EventStream.next_message(&mut events).unwrap(), None);

        let order = pb::Order { id: 300, ..Default::default() };
        let mut delimited = order.encode_length_delimited_to_vec();
        delimited.extend(order.encode_length_delimited_to_vec());
        delimited.pop();
        let first = Media::Protobuf.next_message(&mut delimited).unwrap().unwrap();
        assert_eq!(pb::Order::decode(&first[..]).unwrap(), order);
        assert_eq!(Media::Protobuf.next_message(&mut delimited).unwrap(), None);
    }
}
