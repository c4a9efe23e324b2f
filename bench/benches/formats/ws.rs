//! `ws`: the WebSocket protocol's text frame. A user is the `reply` to `get_user`, the
//! orders the `reply` to `list_orders` (data an `OrderPage`, as the server sends it).
//! Encode is `serde_json::to_string` of the `ServerMessage`, built outside the timed part;
//! decode parses the text the way wirebench's ws client does, into an envelope whose
//! `data` has the type the request expects (not the untagged `ReplyData`, which would
//! try every variant). The round-trip check also parses the text as a `ServerMessage`.

use criterion::Criterion;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wirebench_report::codecs::SizeRecord;
use wirebench_domain::Page;
use wirebench_servers::ws::{OrderPage, ReplyData, ServerMessage};

use super::{Data, measure};

/// A `reply` with the data typed by the request (cf. `Incoming` in `clients/ws.rs`).
#[derive(Deserialize)]
struct Reply<T> {
    #[serde(rename = "type")]
    kind: String,
    id: u64,
    data: T,
}

/// The correlation id every message here carries.
const ID: u64 = 1;

fn parse<T: DeserializeOwned>(text: &str) -> T {
    let reply: Reply<T> = serde_json::from_str(text).expect("a reply parses");
    assert!(reply.kind == "reply" && reply.id == ID, "a reply to request {ID}");
    reply.data
}

/// The message, checked once to parse back as itself with the protocol's own types.
fn message(data: ReplyData) -> ServerMessage {
    let message = ServerMessage::Reply { id: ID, data };
    let text = serde_json::to_string(&message).expect("serializes");
    let back: ServerMessage = serde_json::from_str(&text).expect("a ServerMessage parses");
    assert_eq!(back, message, "the ws reply parses back as a ServerMessage");
    message
}

pub fn bench(name: &'static str, c: &mut Criterion, data: &Data) -> Vec<SizeRecord> {
    let user = message(ReplyData::User(data.user.clone()));
    let page = message(ReplyData::OrderPage(OrderPage {
        data: data.orders.items.clone(),
        next_cursor: data.orders.next_cursor.clone(),
    }));
    vec![
        measure(
            c,
            name,
            "user",
            data,
            &data.user,
            &user,
            |m| serde_json::to_string(m).expect("a reply serializes"),
            |text| parse(text),
        ),
        measure(
            c,
            name,
            "orders",
            data,
            &data.orders,
            &page,
            |m| serde_json::to_string(m).expect("a reply serializes"),
            |text| {
                let page: OrderPage = parse(text);
                Page { items: page.data, next_cursor: page.next_cursor }
            },
        ),
    ]
}
