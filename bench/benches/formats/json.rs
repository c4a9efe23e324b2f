//! `json`: serde_json of the REST representation. A user is the `User` as `GET
//! /v1/users/{id}` sends it; the orders are the body of `GET /v1/orders?limit=100`,
//! `{"data": [...], "next_cursor": ...}`. Encode is `serde_json::to_vec` of the domain
//! values (nothing to prepare); decode is `serde_json::from_slice` into them.

use criterion::Criterion;
use serde::{Deserialize, Serialize};
use wirebench_report::codecs::SizeRecord;
use wirebench_domain::{Order, Page, User};

use super::{Data, measure};

/// The REST server's page body (`servers/src/rest.rs`), here owned so it decodes too.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PageBody {
    data: Vec<Order>,
    next_cursor: Option<String>,
}

pub fn bench(name: &'static str, c: &mut Criterion, data: &Data) -> Vec<SizeRecord> {
    let page = PageBody { data: data.orders.items.clone(), next_cursor: data.orders.next_cursor.clone() };
    vec![
        measure(
            c,
            name,
            "user",
            data,
            &data.user,
            &data.user,
            |user| serde_json::to_vec(user).expect("a user serializes"),
            |bytes| serde_json::from_slice::<User>(bytes).expect("a user parses"),
        ),
        measure(
            c,
            name,
            "orders",
            data,
            &data.orders,
            &page,
            |page| serde_json::to_vec(page).expect("a page serializes"),
            |bytes| {
                let body: PageBody = serde_json::from_slice(bytes).expect("a page parses");
                Page { items: body.data, next_cursor: body.next_cursor }
            },
        ),
    ]
}
