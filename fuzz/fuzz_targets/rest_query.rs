//! The REST server's query parsing, through its real router and handlers: arbitrary bytes
//! as the query string of every collection route; the answer is never a server error.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;
use wirebench_domain::{Profiles, Store, StoreConfig};
use wirebench_servers::{ServerConfig, ServerContext, rest};

fn app() -> &'static axum::Router {
    static APP: OnceLock<axum::Router> = OnceLock::new();
    APP.get_or_init(|| {
        let profile = Profiles::builtin().get("tiny").expect("a built-in profile").clone();
        let store = Store::with_fixtures(StoreConfig::default(), wirebench_domain::generate(&profile, 42));
        rest::app(ServerContext { store: Arc::new(store), config: ServerConfig::default() })
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
}

fuzz_target!(|data: &[u8]| {
    let query: String =
        String::from_utf8_lossy(data).chars().filter(|c| !c.is_control() && *c != ' ' && *c != '#').collect();
    for path in
        ["/v1/orders", "/v1/orders/stream", "/v1/users", "/v1/users/1", "/v1/users/1/orders", "/v1/orders/1"]
    {
        let Ok(request) = Request::get(format!("{path}?{query}")).body(Body::empty()) else { continue };
        let response = runtime().block_on(app().clone().oneshot(request)).expect("infallible");
        assert!(!response.status().is_server_error(), "{path}?{query}: {}", response.status());
    }
});
