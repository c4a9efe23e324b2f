//! `protobuf`: prost, the messages gRPC and the floor send. A user is `wirebench.v1.User`,
//! the orders are a `wirebench.v1.OrderPage` (`next_cursor` empty on the last page).
//! Both directions include the conversion between domain and prost types, as a server and a
//! client pay it: encode builds the prost message from the domain values with
//! `wirebench_proto::convert` and then `encode_to_vec`; decode is `Message::decode` plus the
//! conversion back to domain values. The conversion takes owned values, so encode clones the
//! domain value first: that copies the strings a by-reference conversion would copy, and is
//! what the gRPC server does with the value the store hands it.

use criterion::Criterion;
use prost::Message;
use wirebench_report::codecs::SizeRecord;
use wirebench_domain::{Order, Page, User};
use wirebench_proto::v1 as pb;

use super::{Data, measure};

fn page_to_prost(orders: &Page<Order>) -> pb::OrderPage {
    pb::OrderPage {
        orders: orders.items.iter().cloned().map(pb::Order::from).collect(),
        next_cursor: orders.next_cursor.clone().unwrap_or_default(),
    }
}

pub fn bench(name: &'static str, c: &mut Criterion, data: &Data) -> Vec<SizeRecord> {
    vec![
        measure(
            c,
            name,
            "user",
            data,
            &data.user,
            &data.user,
            |user| pb::User::from(user.clone()).encode_to_vec(),
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
            &data.orders,
            |orders| page_to_prost(orders).encode_to_vec(),
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
