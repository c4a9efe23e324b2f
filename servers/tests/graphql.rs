//! GraphQL server tests, all through real sockets on 127.0.0.1:0: POST over HTTP/1.1 for
//! queries and mutations, tokio-tungstenite speaking graphql-transport-ws for subscriptions.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wirebench_domain::{OrderQuery, OrderStatus, User};
use wirebench_servers::ServerContext;
use wirebench_servers::graphql::{self, MAX_COMPLEXITY, MAX_DEPTH};

mod common;
use common::{TestServer, ctx, default_ctx, json_of, new_order};

struct Server {
    addr: std::net::SocketAddr,
    base: String,
    server: TestServer,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn start(c: ServerContext) -> Server {
    let server = TestServer::start(&graphql::Graphql, c).await;
    let addr = server.addr();
    assert_eq!(server.running.url, format!("http://{addr}/graphql"));
    Server {
        addr,
        base: format!("http://{addr}"),
        server,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Server {
    async fn stop(self) {
        self.server.stop().await;
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
        let res = self.client.request(req).await.unwrap();
        let (parts, body) = res.into_parts();
        (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
    }

    /// POSTs a raw body to `path`.
    async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> (StatusCode, Bytes) {
        let mut req = Request::post(format!("{}{path}", self.base));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let (status, _, body) = self.send(req.body(Full::new(body.into())).unwrap()).await;
        (status, body)
    }

    /// Runs one operation on `path` and returns the whole GraphQL response.
    async fn gql_at(&self, path: &str, query: &str, variables: Value) -> Value {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, body) = self.post_raw(path, Some("application/json"), body).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        json_of(&body)
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_at("/graphql", query, variables).await
    }

    /// Runs an operation that must succeed and returns its `data`.
    async fn data(&self, query: &str, variables: Value) -> Value {
        let v = self.gql(query, variables).await;
        assert!(v.get("errors").is_none(), "unexpected errors: {v}");
        v["data"].clone()
    }
}

fn error_code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {v}"))
}

fn new_order_input(user_id: u64, quantity: u32) -> Value {
    json!({
        "userId": user_id.to_string(),
        "items": [{"sku": "SKU-1", "name": "thing", "quantity": quantity, "unitPriceCents": 150}],
        "currency": "EUR",
        "shippingAddress": {"line1": "1 Main St", "line2": "", "city": "Berlin",
            "region": "BE", "postalCode": "10115", "country": "DE"}
    })
}

/// Every field of a user, aliased back to the domain's snake_case names.
const USER_FIELDS: &str = "id name email phone
    address { line1 line2 city region postal_code: postalCode country }
    company avatar_url: avatarUrl bio
    preferences { language currency newsletter theme notifications }
    tags created_at: createdAt updated_at: updatedAt";

/// Every field of an order, aliased back to the domain's snake_case names.
const ORDER_FIELDS: &str = "id user_id: userId status
    items { sku name quantity unit_price_cents: unitPriceCents }
    total_cents: totalCents currency
    shipping_address: shippingAddress { line1 line2 city region postal_code: postalCode country }
    created_at: createdAt";

/// Turns GraphQL's `ID` strings and upper-case enums back into the domain's JSON form.
fn to_domain_json(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        for key in ["id", "user_id"] {
            if let Some(Value::String(s)) = map.get(key) {
                let n: u64 = s.parse().unwrap();
                map.insert(key.into(), n.into());
            }
        }
        if let Some(Value::String(s)) = map.get("status") {
            let lower = s.to_lowercase();
            map.insert("status".into(), lower.into());
        }
    }
    v
}

fn order_of(v: &Value) -> wirebench_domain::Order {
    serde_json::from_value(to_domain_json(v.clone())).unwrap_or_else(|e| panic!("{e}: {v}"))
}

fn gql_status(s: OrderStatus) -> String {
    s.as_str().to_uppercase()
}

#[tokio::test]
async fn user_equals_the_store_field_by_field() {
    let c = default_ctx();
    let server = start(c.clone()).await;
    let data = server.data(&format!("{{ user(id: \"7\") {{ {USER_FIELDS} }} }}"), json!({})).await;
    let user: User = serde_json::from_value(to_domain_json(data["user"].clone())).unwrap();
    assert_eq!(user, c.store.get_user(7).await.unwrap());

    // Missing: null data for the field and a NOT_FOUND error.
    let v = server.gql("query($id: ID!) { user(id: $id) { name } }", json!({"id": "99999"})).await;
    assert_eq!(v["data"], json!({"user": null}));
    assert_eq!(v["errors"][0]["path"], json!(["user"]));
    assert_eq!(error_code(&v), "NOT_FOUND");
    assert_eq!(v["errors"][0]["extensions"]["reason"], "not_found");
    // Not a number.
    let v = server.gql("{ user(id: \"seven\") { name } }", json!({})).await;
    assert_eq!((error_code(&v), &v["data"]["user"]), ("BAD_USER_INPUT", &Value::Null));
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("seven"));
    server.stop().await;
}

#[tokio::test]
async fn user_orders_are_the_most_recent_like_the_store_says() {
    let c = default_ctx();
    let server = start(c.clone()).await;
    for path in ["/graphql", "/graphql/no-dataloader"] {
        let v = server
            .gql_at(
                path,
                "{ user(id: \"3\") { name orders(first: 3) { nodes { id totalCents status } } } }",
                json!({}),
            )
            .await;
        let want = c.store.user_orders(3, &OrderQuery::recent(3)).await.unwrap().items;
        let user = &v["data"]["user"];
        assert_eq!(user["name"], c.store.get_user(3).await.unwrap().name);
        let got = user["orders"]["nodes"].as_array().unwrap();
        assert_eq!(got.len(), 3);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                g,
                &json!({"id": w.id.to_string(), "totalCents": w.total_cents, "status": gql_status(w.status)})
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn orders_pages_follow_end_cursor_and_edge_cursors() {
    let c = default_ctx();
    let server = start(c.clone()).await;
    let q = format!(
        "query($after: String) {{ orders(first: 5, after: $after) {{
            edges {{ cursor node {{ id }} }} nodes {{ {ORDER_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    let first = server.data(&q, json!({})).await;
    let all = c.store.list_orders(&OrderQuery { limit: 10, ..OrderQuery::default() }).await.unwrap().items;
    let nodes: Vec<_> = first["orders"]["nodes"].as_array().unwrap().iter().map(order_of).collect();
    assert_eq!(nodes, all[..5], "every field equals the store's");
    assert_eq!(first["orders"]["pageInfo"]["hasNextPage"], true);
    let end = first["orders"]["pageInfo"]["endCursor"].as_str().unwrap();

    let second = server.data(&q, json!({"after": end})).await;
    let nodes: Vec<_> = second["orders"]["nodes"].as_array().unwrap().iter().map(order_of).collect();
    assert_eq!(nodes, all[5..10]);

    // Each edge's cursor continues right after that edge.
    let third_cursor = &first["orders"]["edges"][2]["cursor"];
    let after_third = server.data(&q, json!({"after": third_cursor})).await;
    let ids: Vec<&str> = after_third["orders"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    let want: Vec<String> = all[3..8].iter().map(|o| o.id.to_string()).collect();
    assert_eq!(ids, want);

    // Filter and sort; bad arguments are BAD_USER_INPUT.
    let paid = server
        .data(
            "{ orders(first: 50, status: PAID, sort: \"-total_cents\") { nodes { status totalCents } } }",
            json!({}),
        )
        .await;
    let paid = paid["orders"]["nodes"].as_array().unwrap();
    assert!(!paid.is_empty() && paid.iter().all(|o| o["status"] == "PAID"));
    assert!(paid.windows(2).all(|w| w[0]["totalCents"].as_i64() >= w[1]["totalCents"].as_i64()));
    for bad in [
        "{ orders(first: 5, after: \"garbage\") { nodes { id } } }",
        "{ orders(first: 0) { nodes { id } } }",
        "{ orders(first: 5, sort: \"colour\") { nodes { id } } }",
        "{ users(first: 5000) { nodes { id } } }",
    ] {
        let v = server.gql(bad, json!({})).await;
        assert_eq!(error_code(&v), "BAD_USER_INPUT", "{bad}: {v}");
    }
    server.stop().await;
}

const CREATE: &str = "mutation($input: NewOrderInput!, $key: String) {
    createOrder(input: $input, idempotencyKey: $key) { replayed order { id totalCents status userId } } }";

#[tokio::test]
async fn create_order_is_idempotent_and_a_reused_key_names_itself() {
    let c = default_ctx();
    let server = start(c.clone()).await;
    let (_, before) = c.store.counts();
    let first = server.data(CREATE, json!({"input": new_order_input(1, 2), "key": "gql-key-1"})).await;
    let again = server.data(CREATE, json!({"input": new_order_input(1, 2), "key": "gql-key-1"})).await;
    assert_eq!(first["createOrder"]["replayed"], false);
    assert_eq!(again["createOrder"]["replayed"], true);
    assert_eq!(first["createOrder"]["order"], again["createOrder"]["order"]);
    assert_eq!(first["createOrder"]["order"]["totalCents"], 300);
    assert_eq!(first["createOrder"]["order"]["status"], "PENDING");
    assert_eq!(c.store.counts().1, before + 1, "exactly one order");
    let id: u64 = first["createOrder"]["order"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(c.store.get_order(id).await.unwrap().total_cents, 300);

    let v = server.gql(CREATE, json!({"input": new_order_input(1, 5), "key": "gql-key-1"})).await;
    assert_eq!(error_code(&v), "IDEMPOTENCY_KEY_REUSED");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("gql-key-1"), "{v}");
    assert_eq!(v["data"]["createOrder"], Value::Null);

    let v = server.gql(CREATE, json!({"input": new_order_input(99_999, 1)})).await;
    assert_eq!(error_code(&v), "NOT_FOUND");
    let mut empty = new_order_input(1, 1);
    empty["items"] = json!([]);
    let v = server.gql(CREATE, json!({"input": empty})).await;
    assert_eq!(error_code(&v), "BAD_USER_INPUT");

    // Status changes, and the final states are final.
    let update =
        "mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { id status } }";
    let v = server.data(update, json!({"id": id.to_string(), "s": "CANCELLED"})).await;
    assert_eq!(v["updateOrderStatus"]["status"], "CANCELLED");
    let v = server.gql(update, json!({"id": id.to_string(), "s": "PAID"})).await;
    assert_eq!(error_code(&v), "CONFLICT");
    server.stop().await;
}

#[tokio::test]
async fn import_orders_sums_up_each_item() {
    let c = default_ctx();
    let server = start(c.clone()).await;
    let mut bad_id = new_order_input(1, 1);
    bad_id["userId"] = json!("one");
    let orders = json!([
        {"idempotencyKey": "imp-1", "order": new_order_input(1, 1)},
        {"order": new_order_input(2, 2)},
        {"order": new_order_input(4242, 1)},
        {"order": bad_id},
    ]);
    let q = "mutation($orders: [ImportOrderInput!]!) { importOrders(orders: $orders) {
        received created replayed failed orderIds totalCents errors } }";
    let v = server.data(q, json!({"orders": orders})).await;
    let s = &v["importOrders"];
    assert_eq!(
        (&s["received"], &s["created"], &s["replayed"], &s["failed"], &s["totalCents"]),
        (&json!(4), &json!(2), &json!(0), &json!(2), &json!(450))
    );
    let errors = s["errors"].as_array().unwrap();
    assert!(errors[0].as_str().unwrap().starts_with("2: "), "{errors:?}");
    assert!(errors[1].as_str().unwrap().starts_with("3: "), "{errors:?}");
    let ids = s["orderIds"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    let first: u64 = ids[0].as_str().unwrap().parse().unwrap();
    assert_eq!(c.store.get_order(first).await.unwrap().user_id, 1);

    // The keyed item replays.
    let v = server
        .data(q, json!({"orders": [{"idempotencyKey": "imp-1", "order": new_order_input(1, 1)}]}))
        .await;
    assert_eq!((&v["importOrders"]["replayed"], &v["importOrders"]["orderIds"][0]), (&json!(1), &ids[0]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dataloader_turns_n_plus_1_store_calls_into_2() {
    let c = ctx(Duration::from_millis(2), 64 * 1024);
    let server = start(c.clone()).await;
    let q = "{ users(first: 20) { nodes { id orders(first: 2) { nodes { id } } } } }";
    let mut answers = Vec::new();
    let mut calls = Vec::new();
    for path in ["/graphql", "/graphql/no-dataloader"] {
        let before = c.store.calls();
        let v = server.gql_at(path, q, json!({})).await;
        calls.push(c.store.calls() - before);
        assert!(v.get("errors").is_none(), "{v}");
        answers.push(v);
    }
    assert!(calls[0] <= 3, "with the DataLoader: {} store calls", calls[0]);
    assert!(calls[1] >= 21, "without: {} store calls", calls[1]);
    assert_eq!(answers[0], answers[1], "the same answer either way");
    let users = answers[0]["data"]["users"]["nodes"].as_array().unwrap();
    assert_eq!(users.len(), 20);
    let want = c.store.user_orders(5, &OrderQuery::recent(2)).await.unwrap().items;
    let got: Vec<&str> =
        users[4]["orders"]["nodes"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(got, want.iter().map(|o| o.id.to_string()).collect::<Vec<_>>());

    // Different arguments in one query are batched per argument set, and a bad cursor fails
    // only its own field.
    let before = c.store.calls();
    let v = server
        .gql(
            "{ users(first: 5) { nodes { a: orders(first: 1) { nodes { id } } b: orders(first: 2, status: PAID) { nodes { id } }
               c: orders(first: 1, after: \"garbage\") { nodes { id } } } } }",
            json!({}),
        )
        .await;
    assert!(c.store.calls() - before <= 4, "list + one call per argument set");
    assert_eq!(v["data"]["users"]["nodes"][0]["c"], Value::Null, "{v}");
    assert_eq!(v["errors"][0]["path"], json!(["users", "nodes", 0, "c"]), "null right where it failed");
    assert_eq!(v["data"]["users"]["nodes"][0]["a"]["nodes"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(error_code(&v), "BAD_USER_INPUT");
    server.stop().await;
}

/// graphql-js's `getIntrospectionQuery()` (v16), which GraphiQL and most clients send.
const INTROSPECTION: &str = r"
    query IntrospectionQuery {
      __schema {
        queryType { name } mutationType { name } subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) {
        name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name } } } } } } }
    }";

#[tokio::test]
async fn introspection_works_and_the_sdl_is_the_contract() {
    let server = start(default_ctx()).await;
    let data = server.data(INTROSPECTION, json!({})).await;
    let schema = &data["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["subscriptionType"]["name"], "Subscription");
    let names: Vec<&str> =
        schema["types"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for t in ["User", "Order", "OrderConnection", "OrderStatus", "DateTime", "NewOrderInput", "ImportSummary"]
    {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }

    // GraphiQL on GET, pointing at the WebSocket endpoint.
    let (status, headers, body) =
        server.send(Request::get(format!("{}/graphql", server.base)).body(Full::default()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let html = String::from_utf8_lossy(&body);
    assert!(html.contains("graphiql") && html.contains("/graphql/ws"));
    server.stop().await;

    let sdl = graphql::sdl();
    assert!(sdl.ends_with('\n') && !sdl.ends_with("\n\n"));
    for needle in [
        "type Query",
        "user(id: ID!): User",
        "orders(first: Int! = 20, after: String, status: OrderStatus): OrderConnection",
        "createOrder(input: NewOrderInput!, idempotencyKey: String): CreateOrderPayload",
        "importOrders(orders: [ImportOrderInput!]!): ImportSummary",
        "streamOrders(first: Int!, status: OrderStatus): Order!",
        "orderEvents: OrderEvent!",
        "totalCents: Int!",
        "scalar DateTime",
    ] {
        assert!(sdl.contains(needle), "{needle:?} not in the SDL:\n{sdl}");
    }
}

#[tokio::test]
async fn depth_and_complexity_limits_reject_and_serving_goes_on() {
    let c = default_ctx();
    let server = start(c.clone()).await;
    // Deeper than MAX_DEPTH: data next to a deep introspection chain.
    let mut deep = String::from("__schema { types { fields { type");
    let mut close = String::from("} } }");
    for _ in 0..MAX_DEPTH {
        deep.push_str(" { ofType");
        close.push_str(" }");
    }
    let query = format!("{{ user(id: \"1\") {{ name }} {deep} {{ name }} {close} }}");
    let v = server.gql(&query, json!({})).await;
    assert_eq!(v["data"], Value::Null);
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{v}");
    assert_eq!(error_code(&v), "GRAPHQL_VALIDATION_FAILED");
    // Introspection alone may go a little deeper, but not that deep.
    let v = server.gql(&format!("{{ {deep} {{ name }} {close} }}"), json!({})).await;
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{v}");

    let v = server
        .gql("{ users(first: 100) { nodes { orders(first: 100) { nodes { id } } } } }", json!({}))
        .await;
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("too complex") && message.contains(&MAX_COMPLEXITY.to_string()), "{v}");

    // Cost counts objects and multiplies by `first`: nodes (1 + items 1 + shippingAddress 1)
    // plus edges (1 + node 1) is 5 per order, plus 1 for the connection.
    let five_per_order = |first: u32| {
        format!(
            "{{ orders(first: {first}) {{ nodes {{ items {{ sku }} shippingAddress {{ city }} }} edges {{ node {{ id }} }} }} }}"
        )
    };
    let v = server.gql(&five_per_order(1000), json!({})).await;
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("cost 5001"), "{v}");
    server.data(&five_per_order(999), json!({})).await;

    // The catalog's heaviest queries fit.
    server
        .data(
            "{ user(id: \"1\") { name orders(first: 1000) { nodes { id totalCents status } } } }",
            json!({}),
        )
        .await;
    let all = server
        .data(&format!("{{ orders(first: 1000) {{ nodes {{ {ORDER_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"), json!({}))
        .await;
    assert_eq!(all["orders"]["nodes"].as_array().unwrap().len(), c.store.counts().1.min(1000));

    assert!(server.data("{ user(id: \"1\") { name } }", json!({})).await["user"]["name"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn bad_bodies_get_a_clear_4xx_and_serving_goes_on() {
    let server = start(ctx(Duration::ZERO, 4096)).await;
    let huge =
        json!({"query": format!("{{ user(id: \"1\") {{ name }} }} # {}", "x".repeat(10_000))}).to_string();
    let cases: Vec<(Option<&str>, String, StatusCode, &str, &str)> = vec![
        (
            Some("application/json"),
            "{not json".into(),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "malformed JSON",
        ),
        (Some("application/json"), "".into(), StatusCode::BAD_REQUEST, "BAD_REQUEST", "empty"),
        (Some("application/json"), "[]".into(), StatusCode::BAD_REQUEST, "BAD_REQUEST", "at least one"),
        (
            Some("application/json"),
            r#"{"query": 5}"#.into(),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "not a GraphQL request",
        ),
        (Some("application/json"), huge, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "4096"),
        (
            Some("text/plain"),
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "application/json",
        ),
    ];
    for (ct, body, want_status, want_code, want_text) in cases {
        let what = format!("{ct:?} {}", &body[..body.len().min(40)]);
        let (status, body) = server.post_raw("/graphql", ct, body).await;
        assert_eq!(status, want_status, "{what}: {}", String::from_utf8_lossy(&body));
        let v = json_of(&body);
        assert_eq!(error_code(&v), want_code, "{what}");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains(want_text), "{what}: {v}");
    }

    // A GraphQL syntax error is a GraphQL error: 200 for application/json, 400 for clients
    // that accept application/graphql-response+json.
    let (status, body) =
        server.post_raw("/graphql", Some("application/json"), r#"{"query": "{ user("}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json_of(&body)["errors"][0]["message"].is_string());
    let req = Request::post(format!("{}/graphql", server.base))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/graphql-response+json")
        .body(Full::new(Bytes::from_static(br#"{"query": "{ user("}"#)))
        .unwrap();
    let (status, headers, _) = server.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[header::CONTENT_TYPE], "application/graphql-response+json");

    // Unknown routes and methods, in the REST server's error shape.
    let (status, _, body) =
        server.send(Request::get(format!("{}/nope", server.base)).body(Full::default()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let v = json_of(&body);
    assert_eq!(v["error"], "not_found");
    assert!(v["message"].as_str().unwrap().contains("/nope"));
    let (status, _, body) =
        server.send(Request::delete(format!("{}/graphql", server.base)).body(Full::default()).unwrap()).await;
    assert_eq!(
        (status, &json_of(&body)["error"]),
        (StatusCode::METHOD_NOT_ALLOWED, &json!("method_not_allowed"))
    );

    // A batch runs every request.
    let (status, body) = server
        .post_raw(
            "/graphql",
            None,
            r#"[{"query": "{ user(id: \"1\") { id } }"}, {"query": "{ order(id: \"2\") { id } }"}]"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body), json!([{"data": {"user": {"id": "1"}}}, {"data": {"order": {"id": "2"}}}]));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// graphql-transport-ws.

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn ws_connect(server: &Server) -> Ws {
    let mut req = format!("ws://{}/graphql/ws", server.addr).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    ws_send(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(ws_recv(&mut ws).await["type"], "connection_ack");
    ws
}

async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next text message, skipping pings; panics after five seconds.
async fn ws_recv(ws: &mut Ws) -> Value {
    ws_recv_within(ws, Duration::from_secs(5)).await.expect("a message within 5 s")
}

async fn ws_recv_within(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()?.expect("socket open").unwrap();
        match msg {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn order_events_arrive_over_graphql_transport_ws() {
    let c = default_ctx();
    let server = start(c.clone()).await;
    let mut ws = ws_connect(&server).await;
    let q = format!("subscription {{ orderEvents {{ seq kind order {{ {ORDER_FIELDS} }} }} }}");
    ws_send(&mut ws, json!({"id": "events", "type": "subscribe", "payload": {"query": q}})).await;
    // The subscription starts asynchronously: create orders until one is seen.
    let mut created = Vec::new();
    let event = loop {
        assert!(created.len() < 20, "no event after {} orders", created.len());
        created.push(c.store.create_order(None, new_order(9, 3)).await.unwrap().order);
        if let Some(msg) = ws_recv_within(&mut ws, Duration::from_millis(250)).await {
            break msg;
        }
    };
    assert_eq!((&event["type"], &event["id"]), (&json!("next"), &json!("events")), "{event}");
    let payload = &event["payload"]["data"]["orderEvents"];
    assert_eq!(payload["kind"], "CREATED");
    let order = order_of(&payload["order"]);
    assert!(created.contains(&order), "{order:?} is one of the orders created");

    // A status change follows on the same subscription.
    let last = created.last().unwrap();
    c.store.update_order_status(last.id, OrderStatus::Paid).await.unwrap();
    let changed = loop {
        let msg = ws_recv(&mut ws).await;
        if msg["payload"]["data"]["orderEvents"]["kind"] == "STATUS_CHANGED" {
            break msg;
        }
    };
    assert_eq!(changed["payload"]["data"]["orderEvents"]["order"]["status"], "PAID");
    ws_send(&mut ws, json!({"id": "events", "type": "complete"})).await;
    server.stop().await;
}

#[tokio::test]
async fn stream_orders_sends_n_messages_then_complete() {
    let c = default_ctx();
    let server = start(c.clone()).await;
    let mut ws = ws_connect(&server).await;
    let q = format!("subscription {{ streamOrders(first: 5) {{ {ORDER_FIELDS} }} }}");
    ws_send(&mut ws, json!({"id": "s1", "type": "subscribe", "payload": {"query": q}})).await;
    let mut got = Vec::new();
    loop {
        let msg = ws_recv(&mut ws).await;
        assert_eq!(msg["id"], "s1");
        match msg["type"].as_str().unwrap() {
            "next" => got.push(order_of(&msg["payload"]["data"]["streamOrders"])),
            "complete" => break,
            other => panic!("unexpected {other}: {msg}"),
        }
    }
    let want = c.store.list_orders(&OrderQuery { limit: 5, ..OrderQuery::default() }).await.unwrap().items;
    assert_eq!(got, want, "exactly the first 5 orders, one per message");

    // More than one store page's worth streams too (pages of MAX_LIMIT behind the scenes).
    let total = c.store.counts().1;
    ws_send(&mut ws, json!({"id": "s2", "type": "subscribe", "payload": {"query": "subscription { streamOrders(first: 100000) { id } }"}})).await;
    let mut n = 0;
    while ws_recv(&mut ws).await["type"] == "next" {
        n += 1;
    }
    assert_eq!(n, total, "every order once");

    // track-orders: queries as `subscribe` messages, N request/reply pairs on one socket.
    for id in 1..=3u64 {
        let sub = json!({"id": format!("t{id}"), "type": "subscribe",
            "payload": {"query": "query($id: ID!) { order(id: $id) { id totalCents } }", "variables": {"id": id.to_string()}}});
        ws_send(&mut ws, sub).await;
        let next = ws_recv(&mut ws).await;
        assert_eq!((&next["type"], &next["id"]), (&json!("next"), &json!(format!("t{id}"))));
        let want = c.store.get_order(id).await.unwrap();
        assert_eq!(
            next["payload"]["data"]["order"],
            json!({"id": id.to_string(), "totalCents": want.total_cents})
        );
        assert_eq!(ws_recv(&mut ws).await["type"], "complete");
    }

    // Errors are `error` messages and the socket stays usable.
    ws_send(&mut ws, json!({"id": "e1", "type": "subscribe", "payload": {"query": "subscription { streamOrders(first: 0) { id } }"}})).await;
    let msg = ws_recv(&mut ws).await;
    let errors =
        if msg["type"] == "error" { msg["payload"].clone() } else { msg["payload"]["errors"].clone() };
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{msg}");
    server.stop().await;
}

#[tokio::test]
async fn h2c_and_http1_give_the_same_answer() {
    let server = start(default_ctx()).await;
    let body = json!({"query": format!("{{ user(id: \"2\") {{ {USER_FIELDS} }} }}")}).to_string();
    let req = |body: &str| {
        Request::post(format!("{}/graphql/no-dataloader", server.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap()
    };
    let h2c: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    let res = h2c.request(req(&body)).await.unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    let h2_body = res.into_body().collect().await.unwrap().to_bytes();
    let (status, _, h1_body) = server.send(req(&body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h1_body, h2_body);
    assert!(json_of(&h1_body)["data"]["user"]["email"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_websocket_message_closes_with_1009_and_others_go_on() {
    let server = start(ctx(Duration::ZERO, 4096)).await;
    let mut ws = ws_connect(&server).await;
    let big = json!({"id": "x", "type": "subscribe", "payload": {"query": format!("{{ user(id: \"1\") {{ name }} }} # {}", "x".repeat(8000))}});
    ws_send(&mut ws, big).await;
    let code = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1009), "message too big");

    let mut other = ws_connect(&server).await;
    let q = json!({"id": "1", "type": "subscribe", "payload": {"query": "{ user(id: \"1\") { id } }"}});
    ws_send(&mut other, q).await;
    assert_eq!(ws_recv(&mut other).await["payload"]["data"]["user"]["id"], "1");
    server.stop().await;
}

#[tokio::test]
async fn websocket_needs_the_subprotocol_and_closes_on_shutdown() {
    let server = start(default_ctx()).await;
    // No subprotocol: a clear 400 before any upgrade.
    let req = format!("ws://{}/graphql/ws", server.addr).into_client_request().unwrap();
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let body = response.body().clone().unwrap_or_default();
            assert!(String::from_utf8_lossy(&body).contains("graphql-transport-ws"));
        }
        other => panic!("expected a 400, got {other:?}"),
    }

    let mut ws = ws_connect(&server).await;
    ws_send(&mut ws, json!({"id": "ev", "type": "subscribe", "payload": {"query": "subscription { orderEvents { seq } }"}})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.server.shutdown.cancel();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(closed, Some(1001), "going away");
    server.stop().await;
}
