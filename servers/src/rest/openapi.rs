//! What the OpenAPI document says beyond the handlers' annotations: the answers every
//! operation can give (a request target over [`MAX_URI_BYTES`], a connection over the cap).
//! The schemas of `sort`, `fields`, `include` and a record cut by `fields` are in
//! `schemas.rs`.

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder, Schema,
};
use wirebench_domain::LineItem;

use super::errors::{ErrorBody, MAX_URI_BYTES};

#[derive(OpenApi)]
#[openapi(
    info(title = "wirebench shop", description = "The wirebench shop over REST+JSON."),
    components(schemas(ErrorBody, LineItem)),
    tags((name = "users"), (name = "orders"), (name = "health"))
)]
pub(super) struct ApiDoc;

/// The answers any request can get, whatever its route: status and component name.
const EVERY_OPERATION: [(&str, &str); 3] =
    [("414", "UriTooLong"), ("429", "RateLimited"), ("503", "Overloaded")];

/// The document's skeleton: info, tags, and the responses every operation shares.
pub(super) fn skeleton() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let too_long = format!("The request target (path and query) is longer than {MAX_URI_BYTES} bytes.");
    let overloaded = "Nothing was done: the server holds as many connections as it allows (this \
                      one is answered once and closed), or the service is unavailable (`error` \
                      `unavailable`). Retry after `Retry-After` seconds when it is given.";
    let limited = "Nothing was done: over the rate limit (`error` `overloaded`). Retry after \
                   `Retry-After` seconds.";
    let seconds = HeaderBuilder::new().schema(integer(0)).description(Some("Seconds to wait")).build();
    let responses = [
        ResponseBuilder::new().description(too_long),
        ResponseBuilder::new().description(limited).header("Retry-After", seconds.clone()),
        ResponseBuilder::new().description(overloaded).header("Retry-After", seconds),
    ];
    let components = doc.components.get_or_insert_with(Default::default);
    for ((_, name), response) in EVERY_OPERATION.into_iter().zip(responses) {
        let response = response.content("application/json", error_body()).build();
        components.responses.insert(name.to_owned(), response.into());
    }
    doc
}

/// Adds the responses every operation can give to each operation of `doc`.
pub(super) fn finish(mut doc: Document) -> Document {
    protobuf_bodies(&mut doc);
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            add_shared_responses(operation);
            headers_are_strings(operation);
        }
    }
    doc
}

/// The answers that also come as protobuf (when `Accept` prefers `application/x-protobuf`):
/// path, method, status and the `wirebench.v1` message.
const PROTOBUF_ANSWERS: [(&str, &str, &str, &str); 6] = [
    ("/v1/users", "get", "200", "UserPage"),
    ("/v1/users/{id}", "get", "200", "User"),
    ("/v1/users/{id}/orders", "get", "200", "OrderPage"),
    ("/v1/orders", "get", "200", "OrderPage"),
    ("/v1/orders", "post", "201", "Order"),
    ("/v1/orders/{id}", "get", "200", "Order"),
];

/// Documents the protobuf representation beside JSON: the answers of [`PROTOBUF_ANSWERS`]
/// (the message is named; its definition is `proto/wirebench/v1/shop.proto`) and the body of a create.
fn protobuf_bodies(doc: &mut Document) {
    let binary = |message: &str| {
        let schema = ObjectBuilder::new().schema_type(Type::String).description(Some(format!(
            "A protobuf `wirebench.v1.{message}` message (proto/wirebench/v1/shop.proto); a record cut by \
             `fields` has only those fields set"
        )));
        ContentBuilder::new().schema(Some(schema)).build()
    };
    for (path, method, status, message) in PROTOBUF_ANSWERS {
        let Some(item) = doc.paths.paths.get_mut(path) else { continue };
        let operation = match method {
            "get" => item.get.as_mut(),
            _ => item.post.as_mut(),
        };
        let Some(operation) = operation else { continue };
        if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) {
            response.content.insert(super::media::PROTOBUF.to_owned(), binary(message));
        }
        if let Some(body) = operation.request_body.as_mut() {
            body.content.insert(super::media::PROTOBUF.to_owned(), binary("NewOrder"));
        }
    }
}

/// Adds the shared responses to `operation`, keeping one it documents itself.
fn add_shared_responses(operation: &mut Operation) {
    for (status, name) in EVERY_OPERATION {
        let responses = &mut operation.responses.responses;
        responses.entry(status.to_owned()).or_insert_with(|| Ref::from_response_name(name).into());
    }
}

/// An optional header is absent or a string, never `null` (utoipa writes an `Option` that is
/// not in the query as nullable).
fn headers_are_strings(operation: &mut Operation) {
    let headers = operation.parameters.iter_mut().flatten().filter(|p| p.parameter_in == ParameterIn::Header);
    for header in headers {
        if let Some(RefOr::T(Schema::Object(object))) = &mut header.schema {
            object.schema_type = Type::String.into();
        }
    }
}

fn error_body() -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build()
}

fn integer(minimum: i64) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(minimum))
}
