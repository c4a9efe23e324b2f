//! The schemas utoipa cannot derive, for the parameters and records the handlers declare:
//! the accepted values of `sort`, `fields` and `include` (read from the code that parses
//! them), and the shape of a record cut by `fields`. `shapes.rs` names them in its
//! parameters, `openapi.rs` puts them in the document.

use std::borrow::Cow;
use std::marker::PhantomData;

// utoipa builds the schemas of generic arguments and `value_type`s (`PageBody<Fieldset<Order>>`)
// through `ComposeSchema`, which gives `PartialSchema` too.
use utoipa::__dev::ComposeSchema;
use utoipa::ToSchema;
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Schema};
use wirebench_domain::Sort;

use super::responses::field_names;

/// The one relation `include` embeds: a user's orders.
pub(super) const INCLUDE_ORDERS: &str = "orders";

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
