//! What the OpenAPI document says beyond the handlers' annotations: the answers every
//! operation can give (a request target over [`MAX_URI_BYTES`], a connection over the cap),
//! the accepted values of `sort`, `fields` and `include` (read from the code that parses
//! them), and the shape of a record cut by `fields`.

use std::borrow::Cow;
use std::marker::PhantomData;

// utoipa builds the schemas of generic arguments and `value_type`s (`PageBody<Fieldset<Order>>`)
// through `ComposeSchema`, which gives `PartialSchema` too.
use utoipa::__dev::ComposeSchema;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder, Schema,
};
use utoipa::{OpenApi, ToSchema};
use wirebench_domain::{LineItem, Sort};

use super::errors::{ErrorBody, MAX_URI_BYTES};
use super::responses::field_names;
use super::shapes::INCLUDE_ORDERS;

#[derive(OpenApi)]
#[openapi(
    info(title = "wirebench shop", description = "The wirebench shop over REST+JSON."),
    components(schemas(ErrorBody, LineItem)),
    tags((name = "users"), (name = "orders"), (name = "health"))
)]
pub(super) struct ApiDoc;

/// The answers any request can get, whatever its route: status and component name.
const EVERY_OPERATION: [(&str, &str); 2] = [("414", "UriTooLong"), ("503", "Overloaded")];

/// The document's skeleton: info, tags, and the responses every operation shares.
pub(super) fn skeleton() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let too_long = format!("The request target (path and query) is longer than {MAX_URI_BYTES} bytes.");
    let overloaded = "The server holds as many connections as it allows: this one is answered once \
                      and closed. Retry after `Retry-After` seconds.";
    let seconds = HeaderBuilder::new().schema(integer(0)).description(Some("Seconds to wait")).build();
    let responses = [
        ResponseBuilder::new().description(too_long),
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

fn one_of_strings(values: impl IntoIterator<Item = String>) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values))
}

/// The schema of `sort`: every value [`Sort`] parses.
#[derive(Debug)]
pub(super) struct SortName;

impl ComposeSchema for SortName {
    fn compose(_generics: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        one_of_strings(Sort::ALL.map(|s| s.to_string())).into()
    }
}

impl ToSchema for SortName {}

/// The schema of `include`: the one relation that can be embedded.
#[derive(Debug)]
pub(super) struct Relation;

impl ComposeSchema for Relation {
    fn compose(_generics: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        one_of_strings([INCLUDE_ORDERS.to_owned()]).into()
    }
}

impl ToSchema for Relation {}

/// The schema of a `fields` list of `T`'s top-level fields: at least one, each known, written
/// comma-separated (form style, not exploded: `fields=id,status`).
#[derive(Debug)]
pub(super) struct FieldList<T>(PhantomData<T>);

impl<T: ToSchema> ComposeSchema for FieldList<T> {
    fn compose(_generics: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        let names = one_of_strings(field_names::<T>());
        ArrayBuilder::new().items(names).min_items(Some(1)).into()
    }
}

impl<T: ToSchema> ToSchema for FieldList<T> {}

/// A `T` as `fields` shapes it: the whole record, or an object with only the fields named.
#[derive(Debug)]
pub(super) struct Fieldset<T>(PhantomData<T>);

impl<T: ToSchema> ComposeSchema for Fieldset<T> {
    fn compose(_generics: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        let sparse = match T::schema() {
            RefOr::T(Schema::Object(mut object)) => {
                object.required.clear();
                object.description = Some(format!("{} with only the fields that `fields` names", T::name()));
                RefOr::T(Schema::Object(object))
            }
            other => other,
        };
        AnyOfBuilder::new().item(Ref::from_schema_name(T::name())).item(sparse).into()
    }
}

impl<T: ToSchema> ToSchema for Fieldset<T> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Fieldset")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}
