//! REST server tests: in-process through `app()` with `oneshot`, and through real sockets
//! on 127.0.0.1:0 over HTTP/1.1 keep-alive and HTTP/2 cleartext.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tower::ServiceExt;
use wirebench_domain::{Order, Profiles, Store, StoreConfig, User};
use wirebench_servers::{ServerConfig, ServerContext, rest};

mod common;
use common::{TestServer, ctx, default_ctx, json_of, new_order_json};

/// Sends one request through the in-process app.
async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, HeaderMap, Bytes) {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(
    app: &axum::Router,
    uri: &str,
    key: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    call(app, req.body(body.into()).unwrap()).await
}

/// Asserts the consistent error body and returns its code.
fn error_code(status: StatusCode, body: &Bytes) -> String {
    assert!(status.is_client_error(), "{status}");
    let v = json_of(body);
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 2, "exactly error and message: {v}");
    assert!(!obj["message"].as_str().unwrap().is_empty());
    obj["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn get_user_matches_the_store_with_etag_and_304() {
    let c = default_ctx();
    let app = rest::app(c.clone());
    let (status, headers, body) = get(&app, "/v1/users/1").await;
    assert_eq!(status, StatusCode::OK);
    let user: User = serde_json::from_slice(&body).unwrap();
    assert_eq!(user, c.store.get_user(1).await.unwrap());
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert!(headers.contains_key("x-request-id"));

    let req = Request::get("/v1/users/1").header(header::IF_NONE_MATCH, &etag).body(Body::empty()).unwrap();
    let (status, _, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let req = Request::get("/v1/users/2").header(header::IF_NONE_MATCH, &etag).body(Body::empty()).unwrap();
    assert_eq!(call(&app, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn sparse_fields_and_cursor_lead_to_the_next_page() {
    let c = default_ctx();
    let app = rest::app(c.clone());
    let (status, _, body) = get(&app, "/v1/users/1/orders?limit=2&fields=id,total_cents,status").await;
    assert_eq!(status, StatusCode::OK);
    let page = json_of(&body);
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for o in data {
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "status", "total_cents"], "only the named fields, in model order");
    }
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, _, body) =
        get(&app, &format!("/v1/users/1/orders?limit=2&fields=id,total_cents,status&cursor={cursor}")).await;
    let next = json_of(&body);
    let all = c.store.user_orders(1, &wirebench_domain::OrderQuery::recent(4)).await.unwrap().items;
    let ids = |v: &Value| {
        v["data"].as_array().unwrap().iter().map(|o| o["id"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!([ids(&page), ids(&next)].concat(), all.iter().map(|o| o.id).collect::<Vec<_>>());
}

#[tokio::test]
async fn include_orders_embeds_recent_orders_in_one_response() {
    let c = default_ctx();
    let app = rest::app(c.clone());
    let (status, _, body) =
        get(&app, "/v1/users/2?fields=name&include=orders&orders_limit=3&fields[orders]=id,status").await;
    assert_eq!(status, StatusCode::OK);
    let v = json_of(&body);
    assert_eq!(v["name"], c.store.get_user(2).await.unwrap().name);
    assert_eq!(v.as_object().unwrap().len(), 2, "name and orders only: {v}");
    let recent = c.store.user_orders(2, &wirebench_domain::OrderQuery::recent(3)).await.unwrap().items;
    let got: Vec<u64> = v["orders"].as_array().unwrap().iter().map(|o| o["id"].as_u64().unwrap()).collect();
    assert_eq!(got, recent.iter().map(|o| o.id).collect::<Vec<_>>());
}

#[tokio::test]
async fn list_filter_sort_and_status_update_delete() {
    let c = default_ctx();
    let app = rest::app(c.clone());
    let (_, _, body) = get(&app, "/v1/orders?limit=50&status=paid&sort=-total_cents").await;
    let orders: Vec<Order> = serde_json::from_value(json_of(&body)["data"].clone()).unwrap();
    assert!(!orders.is_empty());
    assert!(orders.iter().all(|o| o.status == wirebench_domain::OrderStatus::Paid));
    assert!(orders.windows(2).all(|w| w[0].total_cents >= w[1].total_cents));

    let patch = Request::builder()
        .method(Method::PATCH)
        .uri("/v1/orders/1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"status":"shipped"}"#))
        .unwrap();
    let (status, _, body) = call(&app, patch).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["status"], "shipped");

    let delete = Request::delete("/v1/orders/1").body(Body::empty()).unwrap();
    let (status, _, body) = call(&app, delete).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    let delete = Request::delete("/v1/orders/1").body(Body::empty()).unwrap();
    let (status, _, body) = call(&app, delete).await;
    assert_eq!(error_code(status, &body), "not_found");
}

#[tokio::test]
async fn create_is_idempotent_and_a_reused_key_names_itself() {
    let c = default_ctx();
    let app = rest::app(c.clone());
    let body = new_order_json(1, 2).to_string();
    let (s1, h1, b1) = post(&app, "/v1/orders", Some("key-7"), body.clone()).await;
    assert_eq!(s1, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b1));
    let order: Order = serde_json::from_slice(&b1).unwrap();
    assert_eq!(h1[header::LOCATION], format!("/v1/orders/{}", order.id));
    assert_eq!(order.total_cents, 300);

    let (s2, h2, b2) = post(&app, "/v1/orders", Some("key-7"), body).await;
    assert_eq!((s2, &b2), (s1, &b1), "a repeat replays status and body exactly");
    assert_eq!(h2["idempotent-replayed"], "true");

    let (s3, _, b3) = post(&app, "/v1/orders", Some("key-7"), new_order_json(1, 5).to_string()).await;
    assert_eq!(error_code(s3, &b3), "idempotency_key_reused");
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&b3).contains("key-7"));

    let (s4, _, b4) = post(&app, "/v1/orders", None, new_order_json(99_999, 1).to_string()).await;
    assert_eq!((error_code(s4, &b4), s4), ("not_found".into(), StatusCode::UNPROCESSABLE_ENTITY));
}

#[tokio::test]
async fn batch_create_summarises_each_item() {
    let app = rest::app(default_ctx());
    let req = json!({"items": [
        {"idempotency_key": "b-1", "order": new_order_json(1, 1)},
        {"order": new_order_json(2, 2)},
        {"order": new_order_json(4242, 1)},
    ]});
    let (status, _, body) = post(&app, "/v1/orders/batch", None, req.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let v = json_of(&body);
    assert_eq!(
        (v["received"].as_u64(), v["created"].as_u64(), v["failed"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(v["total_cents"], 450);
    assert_eq!(v["results"][2]["status"], 422);
    assert_eq!(v["results"][2]["error"]["error"], "not_found");
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_the_consistent_body_and_serving_goes_on() {
    let app = rest::app(ctx(Duration::ZERO, 4096));
    let huge = format!("{{\"user_id\": 1, \"pad\": \"{}\"}}", "x".repeat(10_000));
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (post_req("/v1/orders", "{not json"), StatusCode::BAD_REQUEST, "malformed_json"),
        (post_req("/v1/orders", r#"{"user_id":"one"}"#), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (post_req("/v1/orders", &huge), StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        (
            Request::post("/v1/orders").body(Body::from("{}")).unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (get_req("/v1/orders?cursor=garbage"), StatusCode::BAD_REQUEST, "invalid_cursor"),
        (get_req("/v1/orders?limit=0"), StatusCode::BAD_REQUEST, "invalid_argument"),
        (get_req("/v1/orders?limit=many"), StatusCode::BAD_REQUEST, "invalid_query"),
        (get_req("/v1/orders?status=lost"), StatusCode::BAD_REQUEST, "invalid_query"),
        (get_req("/v1/orders?sort=colour"), StatusCode::BAD_REQUEST, "invalid_argument"),
        (get_req("/v1/orders?fields=id,colour"), StatusCode::BAD_REQUEST, "invalid_query"),
        (get_req("/v1/orders?limt=2"), StatusCode::BAD_REQUEST, "invalid_query"),
        (get_req("/v1/users/1?include=friends"), StatusCode::BAD_REQUEST, "invalid_query"),
        (get_req("/v1/users/abc"), StatusCode::BAD_REQUEST, "invalid_path"),
        (get_req("/v1/users/9999"), StatusCode::NOT_FOUND, "not_found"),
        (get_req("/no/such/route"), StatusCode::NOT_FOUND, "not_found"),
        (
            Request::put("/v1/users/1").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (req, want_status, want_code) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, _, body) = call(&app, req).await;
        assert_eq!(status, want_status, "{what}: {}", String::from_utf8_lossy(&body));
        assert_eq!(error_code(status, &body), want_code, "{what}");
    }
    assert_eq!(get(&app, "/v1/users/1").await.0, StatusCode::OK, "still serving");
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_req(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn health_readiness_and_openapi() {
    let store = Arc::new(Store::new(StoreConfig::default()));
    let app = rest::app(ServerContext { store: store.clone(), config: ServerConfig::default() });
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    let (status, _, body) = get(&app, "/readyz").await;
    assert_eq!((status, error_code_5xx(&body)), (StatusCode::SERVICE_UNAVAILABLE, "not_ready".into()));
    store.load(wirebench_domain::generate(Profiles::builtin().get("tiny").unwrap(), 1));
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);

    let (status, _, body) = get(&app, "/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let served = json_of(&body);
    assert_eq!(served, serde_json::from_str::<Value>(&rest::openapi_json()).unwrap());
    assert!(served["paths"]["/v1/users/{id}/orders"]["get"].is_object());
    assert!(served["components"]["schemas"]["User"].is_object());
}

fn error_code_5xx(body: &Bytes) -> String {
    json_of(body)["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn integers_in_any_json_spelling_are_accepted_and_fractions_refused() {
    let app = rest::app(default_ctx());
    let mut body = new_order_json(1, 2);
    body["user_id"] = json!(1.0);
    body["items"][0]["quantity"] = json!(2.0);
    body["items"][0]["unit_price_cents"] = json!(1.2e1);
    let (status, _, created) = post(&app, "/v1/orders", None, body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created));
    assert_eq!(json_of(&created)["total_cents"], 24);

    let cases = [
        ("unit_price_cents", json!(1.5), "invalid_body"),
        ("quantity", json!(2.5), "invalid_body"),
        ("quantity", json!(wirebench_domain::MAX_QUANTITY + 1), "invalid_argument"),
        ("unit_price_cents", json!(wirebench_domain::MAX_UNIT_PRICE_CENTS + 1), "invalid_argument"),
    ];
    for (field, value, code) in cases {
        let mut body = new_order_json(1, 2);
        body["items"][0][field] = value.clone();
        let (status, _, b) = post(&app, "/v1/orders", None, body.to_string()).await;
        assert_eq!(
            (status, error_code(status, &b)),
            (StatusCode::UNPROCESSABLE_ENTITY, code.into()),
            "{value}"
        );
    }
}

#[tokio::test]
async fn every_documented_limit_is_applied_and_answered_in_the_error_body() {
    let app = rest::app(default_ctx());
    let long = format!("/v1/orders?cursor={}", "a".repeat(rest::MAX_URI_BYTES));
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (get_req("/v1/users?orders_limit=0"), StatusCode::BAD_REQUEST, "invalid_argument"),
        (get_req("/v1/users/1?orders_limit=1001"), StatusCode::BAD_REQUEST, "invalid_argument"),
        (get_req("/v1/users/1?fields[orders]=colour"), StatusCode::BAD_REQUEST, "invalid_query"),
        (get_req("/v1/orders?fields="), StatusCode::BAD_REQUEST, "invalid_query"),
        (get_req("/v1/orders?sort="), StatusCode::BAD_REQUEST, "invalid_argument"),
        (get_req("/v1/orders/-1"), StatusCode::BAD_REQUEST, "invalid_path"),
        (get_req(&long), StatusCode::URI_TOO_LONG, "uri_too_long"),
        (
            Request::patch("/v1/orders/1").body(Body::from(r#"{"status":"paid"}"#)).unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (req, want_status, want_code) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, headers, body) = call(&app, req).await;
        assert_eq!(status, want_status, "{what}: {}", String::from_utf8_lossy(&body));
        assert_eq!(error_code(status, &body), want_code, "{what}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{what}");
    }
    // If-None-Match makes a GET conditional, never a write.
    let patch = Request::patch("/v1/orders/2")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::IF_NONE_MATCH, "*")
        .body(Body::from(r#"{"status":"paid"}"#))
        .unwrap();
    assert_eq!(call(&app, patch).await.0, StatusCode::OK);
    let get = Request::get("/v1/orders/2").header(header::IF_NONE_MATCH, "*").body(Body::empty()).unwrap();
    assert_eq!(call(&app, get).await.0, StatusCode::NOT_MODIFIED);
}

/// The parameter `name` of `method path` in the served document.
fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
    params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{method} {path}: no {name}"))
}

#[test]
fn the_openapi_document_states_the_limits_the_code_applies() {
    use wirebench_domain::{
        MAX_BATCH, MAX_ITEMS_PER_ORDER, MAX_LIMIT, MAX_QUANTITY, MAX_UNIT_PRICE_CENTS, Sort,
    };
    let doc: Value = serde_json::from_str(&rest::openapi_json()).unwrap();
    for (path, name) in
        [("/v1/orders", "limit"), ("/v1/orders/stream", "limit"), ("/v1/users", "orders_limit")]
    {
        let schema = &parameter(&doc, path, "get", name)["schema"];
        assert_eq!((&schema["minimum"], &schema["maximum"]), (&json!(1), &json!(MAX_LIMIT)), "{path} {name}");
    }
    let sorts = Sort::ALL.map(|s| json!(s.to_string()));
    assert_eq!(parameter(&doc, "/v1/orders", "get", "sort")["schema"]["enum"], json!(sorts));
    let fields = parameter(&doc, "/v1/users/{id}/orders", "get", "fields");
    assert_eq!((&fields["style"], &fields["explode"]), (&json!("form"), &json!(false)));
    let mut names: Vec<String> = serde_json::from_value(fields["schema"]["items"]["enum"].clone()).unwrap();
    let order = serde_json::to_value(
        wirebench_domain::generate(Profiles::builtin().get("tiny").unwrap(), 1).orders[0].clone(),
    )
    .unwrap();
    let mut known: Vec<String> = order.as_object().unwrap().keys().cloned().collect();
    names.sort();
    known.sort();
    assert_eq!(names, known, "fields lists exactly an order's fields");

    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["NewOrder"]["properties"]["items"]["maxItems"], json!(MAX_ITEMS_PER_ORDER));
    assert_eq!(schemas["LineItem"]["properties"]["quantity"]["maximum"], json!(MAX_QUANTITY));
    assert_eq!(schemas["LineItem"]["properties"]["unit_price_cents"]["maximum"], json!(MAX_UNIT_PRICE_CENTS));
    assert_eq!(schemas["BatchRequest"]["properties"]["items"]["maxItems"], json!(MAX_BATCH));
    assert!(
        doc["components"]["responses"]["UriTooLong"]["description"]
            .as_str()
            .unwrap()
            .contains(&rest::MAX_URI_BYTES.to_string())
    );
}

#[test]
fn every_operation_documents_its_errors_in_the_one_error_body() {
    let doc: Value = serde_json::from_str(&rest::openapi_json()).unwrap();
    let error_body = json!({"$ref": "#/components/schemas/ErrorBody"});
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = operation["responses"].as_object().unwrap();
            for shared in ["414", "503"] {
                assert!(responses.contains_key(shared), "{method} {path} lacks {shared}");
            }
            for (status, response) in responses.iter().filter(|(s, _)| s.starts_with(['4', '5'])) {
                let response = match response["$ref"].as_str() {
                    Some(r) => &doc["components"]["responses"][r.rsplit('/').next().unwrap()],
                    None => response,
                };
                let content = response["content"].as_object().unwrap();
                let keys: Vec<&String> = content.keys().collect();
                assert_eq!(keys, ["application/json"], "{method} {path} {status}");
                assert_eq!(content["application/json"]["schema"], error_body, "{method} {path} {status}");
            }
        }
    }
    assert_eq!(operations, 12);
    for (path, method) in [("/v1/orders", "post"), ("/v1/orders/batch", "post"), ("/v1/orders/{id}", "patch")]
    {
        let responses = doc["paths"][path][method]["responses"].as_object().unwrap();
        for status in ["400", "413", "415", "422"] {
            assert!(responses.contains_key(status), "{method} {path} lacks {status}");
        }
    }
    for method in ["get", "patch", "delete"] {
        assert!(doc["paths"]["/v1/orders/{id}"][method]["responses"]["400"].is_object(), "{method}");
    }
}

// ---------------------------------------------------------------------------------------
// Real sockets.

struct Server {
    base: String,
    server: TestServer,
}

async fn start(c: ServerContext) -> Server {
    let server = TestServer::start(&rest::Rest, c).await;
    Server { base: format!("http://{}", server.addr()), server }
}

impl Server {
    async fn stop(self) {
        self.server.stop().await;
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn http1() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn h2c() -> HttpClient {
    Client::builder(TokioExecutor::new()).http2_only(true).build_http()
}

async fn send(
    client: &HttpClient,
    req: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, http::Version, Bytes) {
    let res = client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, parts.version, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn http1_and_h2c_on_one_port_give_the_same_user() {
    let server = start(default_ctx()).await;
    let uri = format!("{}/v1/users/3", server.base);
    let (s1, _, v1, b1) = send(&http1(), Request::get(&uri).body(Full::default()).unwrap()).await;
    let (s2, _, v2, b2) = send(&h2c(), Request::get(&uri).body(Full::default()).unwrap()).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!((v1, v2), (http::Version::HTTP_11, http::Version::HTTP_2));
    assert_eq!(b1, b2);

    // gzip when asked, and the X-Request-ID the client sent comes back.
    let req = Request::get(format!("{}/v1/orders?limit=100", server.base))
        .header(header::ACCEPT_ENCODING, "gzip")
        .header("x-request-id", "trace-me")
        .body(Full::default())
        .unwrap();
    let (status, headers, _, body) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(headers["x-request-id"], "trace-me");
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut json).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap()["data"].as_array().unwrap().len(), 100);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicate_posts_over_sockets_make_one_order() {
    let c = ctx(Duration::from_millis(100), 64 * 1024);
    let (_, before) = c.store.counts();
    let server = start(c.clone()).await;
    let body = Bytes::from(new_order_json(4, 2).to_string());
    let client = http1();
    let barrier = Arc::new(tokio::sync::Barrier::new(24));
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (client, barrier, body) =
                (if i % 2 == 0 { client.clone() } else { h2c() }, barrier.clone(), body.clone());
            let uri = format!("{}/v1/orders", server.base);
            tokio::spawn(async move {
                let req = Request::post(uri)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("idempotency-key", "same-key")
                    .body(Full::new(body))
                    .unwrap();
                barrier.wait().await;
                send(&client, req).await
            })
        })
        .collect();
    let mut created_bodies = Vec::new();
    for t in tasks {
        let (status, _, _, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created_bodies.push(body),
            StatusCode::CONFLICT => assert_eq!(error_code(status, &body), "idempotency_key_in_flight"),
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    assert_eq!(c.store.counts().1, before + 1, "exactly one order");
    // After the first finishes, a repeat replays the identical body.
    let req = Request::post(format!("{}/v1/orders", server.base))
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", "same-key")
        .body(Full::new(body))
        .unwrap();
    let (status, _, _, replay) = send(&client, req).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!created_bodies.is_empty());
    assert!(created_bodies.iter().all(|b| *b == replay), "identical replies");
    server.stop().await;
}

/// Request bodies in gzip, br or zstd are decoded before any handler; another coding, a body
/// that does not decode and one that would expand past the body limit get the error body.
/// Answers come back in the coding asked for.
#[tokio::test]
async fn compressed_request_bodies_are_decoded_under_the_body_limit() {
    use wirebench_servers::coding::Coding;
    let app = rest::app(ctx(Duration::ZERO, 64 * 1024));
    let order = new_order_json(3, 2).to_string();
    let encoded = |coding: &str, body: Vec<u8>| {
        Request::post("/v1/orders")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, coding)
            .body(Body::from(body))
            .unwrap()
    };
    for coding in Coding::ALL {
        let mut req = encoded(coding.name(), coding.encode(order.as_bytes()));
        req.headers_mut().insert(header::ACCEPT_ENCODING, coding.name().parse().unwrap());
        let (status, headers, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::CREATED, "{coding:?}");
        assert_eq!(headers[header::CONTENT_ENCODING], coding.name(), "{coding:?}");
        let created = json_of(&Bytes::from(coding.decode(&body, 1 << 20).unwrap()));
        assert_eq!(created["user_id"], 3, "{coding:?}: {created}");
    }
    let (status, _, body) = call(&app, encoded("deflate", order.clone().into_bytes())).await;
    assert_eq!(error_code(status, &body), "unsupported_encoding");
    let (status, _, body) = call(&app, encoded("gzip", order.clone().into_bytes())).await;
    assert_eq!((status, error_code(status, &body)), (StatusCode::BAD_REQUEST, "malformed_body".into()));
    // 1 MiB of spaces is about 1 kB of gzip: under the limit compressed, over it decoded.
    let bomb = Coding::Gzip.encode(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let (status, _, body) = call(&app, encoded("gzip", bomb)).await;
    assert_eq!((status, error_code(status, &body)), (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into()));
}
