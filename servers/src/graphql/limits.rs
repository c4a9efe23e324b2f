//! Limits, as an extension: introspection gets its own depth limit, and the errors say by
//! how much a limit was exceeded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, ValidationResult, Variables};

use super::{MAX_COMPLEXITY, MAX_DEPTH, MAX_INTROSPECTION_DEPTH};

// how much a limit was exceeded.

/// Installs [`MAX_DEPTH`], [`MAX_INTROSPECTION_DEPTH`] and [`MAX_COMPLEXITY`].
#[derive(Debug)]
pub(super) struct Limits;

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension::default())
    }
}

#[derive(Debug, Default)]
pub(super) struct LimitsExtension {
    introspection_only: AtomicBool,
}

#[async_graphql::async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        self.introspection_only.store(is_introspection_only(&doc), Ordering::Relaxed);
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> std::result::Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let max_depth =
            if self.introspection_only.load(Ordering::Relaxed) { MAX_INTROSPECTION_DEPTH } else { MAX_DEPTH };
        let too_much = |message: String| {
            let mut e = ServerError::new(message, None);
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", "GRAPHQL_VALIDATION_FAILED");
            e.extensions = Some(ext);
            vec![e]
        };
        if result.depth > max_depth {
            return Err(too_much(format!(
                "query is nested too deep: depth {}, the limit is {max_depth}",
                result.depth
            )));
        }
        if result.complexity > MAX_COMPLEXITY {
            return Err(too_much(format!(
                "query is too complex: cost {}, the limit is {MAX_COMPLEXITY} \
                 (a connection costs `first` times its selection)",
                result.complexity
            )));
        }
        Ok(result)
    }
}

/// True when every operation selects only `__schema`, `__type` and `__typename`.
pub(super) fn is_introspection_only(doc: &ExecutableDocument) -> bool {
    fn only_meta<'d>(doc: &'d ExecutableDocument, set: &'d SelectionSet, seen: &mut Vec<&'d str>) -> bool {
        set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => field.node.name.node.starts_with("__"),
            Selection::InlineFragment(inline) => only_meta(doc, &inline.node.selection_set.node, seen),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if seen.contains(&name) {
                    return true; // a cycle; validation rejects it
                }
                seen.push(name);
                doc.fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| only_meta(doc, &f.node.selection_set.node, seen))
            }
        })
    }
    let mut seen = Vec::new();
    doc.operations.iter().all(|(_, op)| only_meta(doc, &op.node.selection_set.node, &mut seen))
}
