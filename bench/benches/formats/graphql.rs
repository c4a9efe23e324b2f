//! `graphql`: async-graphql executing the catalog's queries (the ones wirebench's GraphQL
//! client sends, copied from `clients/graphql.rs`) against `servers::graphql::schema(ctx,
//! true)` on a store holding the profile's fixtures: `user(id)` with every field, and
//! `orders(first: 100) { nodes { every field } }`.
//!
//! Encode is what the server does per request after reading the body: build the `Request`
//! from the query text and variables, execute it (parse, validate, resolve; the store has no
//! simulated latency) and `serde_json::to_vec` the response. Decode is what the client does:
//! parse the response JSON and map it to domain values (ids are `ID` strings and statuses
//! upper-case on this wire). Both run on a current-thread tokio runtime (`block_on` inside
//! the timed closure). The orders dataset's `next_cursor` is not asked for (the catalog's
//! query selects only `nodes`), so it is taken from the original.

use async_graphql::{Request, Variables};
use chrono::{DateTime, Utc};
use criterion::Criterion;
use serde::Deserialize;
use serde_json::json;
use wirebench::codecs::{ORDERS_PAGE, SizeRecord};
use wirebench_domain as d;
use wirebench_servers::graphql::schema;

use super::{Data, measure, runtime};

/// Every field of an order, aliased to the domain's names (as `clients/graphql.rs`).
const ORDER: &str = "id user_id: userId status items { sku name quantity unit_price_cents: unitPriceCents } \
    total_cents: totalCents currency shipping_address: shippingAddress { line1 line2 city region \
    postal_code: postalCode country } created_at: createdAt";

/// get-user (as `clients/graphql.rs`).
const GET_USER: &str = "query($id: ID!) { user(id: $id) { id name email phone address { line1 line2 city region \
    postal_code: postalCode country } company avatar_url: avatarUrl bio preferences { language currency \
    newsletter theme notifications } tags created_at: createdAt updated_at: updatedAt } }";

/// list-orders (as `clients/graphql.rs`).
fn list_orders() -> String {
    format!("query($n: Int!) {{ orders(first: $n) {{ nodes {{ {ORDER} }} }} }}")
}

pub fn bench(name: &'static str, c: &mut Criterion, data: &Data) -> Vec<SizeRecord> {
    let rt = runtime();
    let schema = {
        let _entered = rt.enter();
        schema(&data.ctx, true)
    };
    let execute = |(query, variables): &(String, Variables)| {
        let request = Request::new(query.as_str()).variables(variables.clone());
        let response = rt.block_on(schema.execute(request));
        serde_json::to_vec(&response).expect("a response serializes")
    };
    let user_request = (GET_USER.to_owned(), Variables::from_json(json!({ "id": data.user.id.to_string() })));
    let orders_request = (list_orders(), Variables::from_json(json!({ "n": ORDERS_PAGE })));
    vec![
        measure(c, name, "user", data, &data.user, &user_request, execute, |bytes| {
            let data: UserData = response(bytes);
            data.user.expect("the user").into_domain()
        }),
        measure(c, name, "orders", data, &data.orders, &orders_request, execute, |bytes| {
            let page: OrdersData = response(bytes);
            d::Page {
                items: page.orders.nodes.into_iter().map(GOrder::into_domain).collect(),
                next_cursor: data.orders.next_cursor.clone(),
            }
        }),
    ]
}

/// The response's `data`, which must come without errors.
fn response<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> T {
    let r: Response<T> = serde_json::from_slice(bytes).expect("a GraphQL response parses");
    assert!(r.errors.is_empty(), "GraphQL errors: {:?}", r.errors);
    r.data.expect("data")
}

// The GraphQL shapes (as in `clients/graphql.rs`), mapped to domain types.

#[derive(Deserialize)]
struct Response<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct UserData {
    user: Option<GUser>,
}

#[derive(Deserialize)]
struct OrdersData {
    orders: Nodes<GOrder>,
}

#[derive(Deserialize)]
struct Nodes<T> {
    nodes: Vec<T>,
}

#[derive(Deserialize)]
struct GUser {
    id: String,
    name: String,
    email: String,
    phone: String,
    address: d::Address,
    company: String,
    avatar_url: String,
    bio: String,
    preferences: d::Preferences,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct GOrder {
    id: String,
    user_id: String,
    status: String,
    items: Vec<d::LineItem>,
    total_cents: i64,
    currency: String,
    shipping_address: d::Address,
    created_at: DateTime<Utc>,
}

fn id(s: &str) -> d::Id {
    s.parse().expect("an ID is a decimal integer")
}

fn status(s: &str) -> d::OrderStatus {
    s.to_ascii_lowercase().parse().expect("a known order status")
}

impl GUser {
    fn into_domain(self) -> d::User {
        d::User {
            id: id(&self.id),
            name: self.name,
            email: self.email,
            phone: self.phone,
            address: self.address,
            company: self.company,
            avatar_url: self.avatar_url,
            bio: self.bio,
            preferences: self.preferences,
            tags: self.tags,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl GOrder {
    fn into_domain(self) -> d::Order {
        d::Order {
            id: id(&self.id),
            user_id: id(&self.user_id),
            status: status(&self.status),
            items: self.items,
            total_cents: self.total_cents,
            currency: self.currency,
            shipping_address: self.shipping_address,
            created_at: self.created_at,
        }
    }
}
