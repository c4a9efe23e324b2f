//! `protobuf`: prost, the messages gRPC and the floor send. A user is `wirebench.v1.User`,
//! the orders are a `wirebench.v1.OrderPage` (`next_cursor` empty on the last page).
//! Encode is `encode_to_vec` of the prost message, built from the domain values with
//! `wirebench_proto::convert` *outside* the timed part; decode is `Message::decode`
//! *plus* the conversion back to domain values (what a client does with an answer).

use criterion::Criterion;
use prost::Message;
use wirebench::codecs::SizeRecord;
use wirebench_domain::{Order, Page, User};
use wirebench_proto::v1 as pb;

use super::{Data, measure};

pub fn bench(name: &'static str, c: &mut Criterion, data: &Data) -> Vec<SizeRecord> {
    let user = pb::User::from(data.user.clone());
    let page = pb::OrderPage {
        orders: data.orders.items.iter().cloned().map(pb::Order::from).collect(),
        next_cursor: data.orders.next_cursor.clone().unwrap_or_default(),
    };
    vec![
        measure(
            c,
            name,
            "user",
            data,
            &data.user,
            &user,
            |user| user.encode_to_vec(),
            |bytes| {
                let user = pb::User::decode(bytes.as_slice()).expect("a user decodes");
                User::try_from(user).expect("a valid user")
            },
        ),
        measure(
            c,
            name,
            "orders",
            data,
            &data.orders,
            &page,
            |page| page.encode_to_vec(),
            |bytes| {
                let page = pb::OrderPage::decode(bytes.as_slice()).expect("a page decodes");
                Page {
                    items: page
                        .orders
                        .into_iter()
                        .map(|o| Order::try_from(o).expect("a valid order"))
                        .collect(),
                    next_cursor: Some(page.next_cursor).filter(|c| !c.is_empty()),
                }
            },
        ),
    ]
}
