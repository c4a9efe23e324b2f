//! `graphql`: async-graphql executing the catalog's queries (the very texts wirebench's GraphQL
//! client sends, from `clients/graphql.rs`) against `servers::graphql::schema(ctx,
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
use criterion::Criterion;
use serde_json::json;
use wirebench_engine::clients::graphql::{GET_USER, decode_orders, decode_user, list_orders};
use wirebench_report::codecs::{ORDERS_PAGE, SizeRecord};
use wirebench_domain as d;
use wirebench_servers::graphql::schema;

use super::{Data, measure, runtime};

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
            decode_user(bytes).expect("a get-user response decodes")
        }),
        measure(c, name, "orders", data, &data.orders, &orders_request, execute, |bytes| d::Page {
            items: decode_orders(bytes).expect("a list-orders response decodes"),
            next_cursor: data.orders.next_cursor.clone(),
        }),
    ]
}
