//! JSON-RPC server tests, in-process through `app()`: answers, batches, and every error in
//! JSON-RPC's own terms.

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wirebench_servers::jsonrpc;

mod common;
use common::{ctx, default_ctx, new_order_json};

/// POSTs `body` to `/rpc`; the status and the answer (JSON, or null for none).
async fn rpc(app: &axum::Router, body: impl Into<Body>) -> (StatusCode, Value) {
    let req =
        Request::post("/rpc").header(header::CONTENT_TYPE, "application/json").body(body.into()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn call(method: &str, params: Value, id: u64) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string()
}

#[tokio::test]
async fn calls_answer_with_the_stores_records_and_a_batch_answers_in_order() {
    let app = jsonrpc::app(default_ctx());
    let (status, answer) = rpc(&app, call("getUser", json!({"id": 1}), 9)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((answer["id"].clone(), answer["result"]["id"].clone()), (json!(9), json!(1)), "{answer}");
    let batch = json!([
        {"jsonrpc": "2.0", "method": "listOrders", "params": {"limit": 3}, "id": 1},
        {"jsonrpc": "2.0", "method": "createOrder", "params": {"order": new_order_json(1, 2)}, "id": 2},
        {"jsonrpc": "2.0", "method": "getOrder", "params": {"id": 1}},
    ]);
    let (_, answer) = rpc(&app, batch.to_string()).await;
    let answers = answer.as_array().expect("a batch answers with an array");
    // The notification (no id) gets no answer.
    assert_eq!(answers.len(), 2, "{answer}");
    assert_eq!(answers[0]["result"].as_array().map(Vec::len), Some(3));
    assert_eq!(answers[1]["result"]["replayed"], json!(false));
}

#[tokio::test]
async fn bad_input_is_refused_in_json_rpcs_terms() {
    let app = jsonrpc::app(ctx(std::time::Duration::ZERO, 1024));
    let code = |answer: &Value| answer["error"]["code"].as_i64();
    let (status, answer) = rpc(&app, "{not json").await;
    assert_eq!((status, code(&answer)), (StatusCode::OK, Some(-32700)), "{answer}");
    let (_, answer) = rpc(&app, "[]").await;
    assert_eq!(code(&answer), Some(-32600), "{answer}");
    let (_, answer) = rpc(&app, r#"{"jsonrpc":"1.0","method":"getUser","id":1}"#).await;
    assert_eq!(code(&answer), Some(-32600), "{answer}");
    let (_, answer) = rpc(&app, call("dropTables", json!({}), 1)).await;
    assert_eq!(code(&answer), Some(-32601), "{answer}");
    let (_, answer) = rpc(&app, call("getUser", json!({"id": "one"}), 1)).await;
    assert_eq!(code(&answer), Some(-32602), "{answer}");
    let (_, answer) = rpc(&app, call("getUser", json!({"id": 999_999}), 1)).await;
    assert_eq!((code(&answer), answer["error"]["data"]["code"].clone()), (Some(-32000), json!("not_found")));
    // A body over the limit is HTTP's own refusal, before any JSON is read.
    let (status, _) = rpc(&app, vec![b' '; 4096]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}
