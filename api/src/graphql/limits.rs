//! Per-request limits on the shape of a query, each rejection naming the limit and its value.
//!
//! Depth and aliases are counted on the parsed document; complexity comes from
//! async-graphql's validation, where every field costs 1 and a connection multiplies the
//! cost of its selection by its page size. Introspection fields do not count towards the
//! depth, so that standard clients can read the schema. Instead, list fields of
//! introspection (`types`, `fields`, `args` and the like) may nest at most
//! [`MAX_INTROSPECTION_LIST_NESTING`] levels, which bounds the size of any introspection
//! response: each level multiplies it by the number of types or fields.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerError};
use std::collections::HashMap;

/// Limits on the shape of one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    /// Whether `__schema` and `__type` may be queried.
    pub introspection: bool,
}

/// A rejected request, with the limit named for clients and logs.
pub(crate) fn limit_error(message: String, limit: &str, value: usize) -> ServerError {
    let mut error = ServerError::new(message, None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "BAD_USER_INPUT");
    extensions.set("limit", limit);
    extensions.set("limitValue", i64::try_from(value).unwrap_or(i64::MAX));
    error
}

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// The maximum nesting of introspection list fields. The introspection query of
/// graphql-js 16, which GraphiQL sends, nests three (`types`, `fields`, `args`).
pub const MAX_INTROSPECTION_LIST_NESTING: usize = 3;

/// The fields of the introspection types that return lists of types, fields or values.
const INTROSPECTION_LISTS: [&str; 8] = [
    "types",
    "fields",
    "args",
    "inputFields",
    "interfaces",
    "possibleTypes",
    "enumValues",
    "directives",
];

/// Returns the deepest nesting of introspection list fields below `selection_set`.
/// `inside` is true when the walk is already below `__schema` or `__type`.
fn introspection_nesting(
    selection_set: &SelectionSet,
    fragments: &Fragments,
    inside: bool,
    guard: usize,
) -> usize {
    if guard == 0 {
        return usize::MAX / 2;
    }
    selection_set
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                let entering = matches!(name, "__schema" | "__type");
                let inside = inside || entering;
                let own = usize::from(inside && INTROSPECTION_LISTS.contains(&name));
                own + introspection_nesting(
                    &field.node.selection_set.node,
                    fragments,
                    inside,
                    guard - 1,
                )
            }
            Selection::InlineFragment(fragment) => introspection_nesting(
                &fragment.node.selection_set.node,
                fragments,
                inside,
                guard - 1,
            ),
            Selection::FragmentSpread(spread) => fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |fragment| {
                    introspection_nesting(
                        &fragment.node.selection_set.node,
                        fragments,
                        inside,
                        guard - 1,
                    )
                }),
        })
        .max()
        .unwrap_or(0)
}

/// Rejects a subscription that selects more than one root field, which the GraphQL
/// specification forbids (Single Root Field): each subscription is one event stream.
fn check_subscription_roots(document: &ExecutableDocument) -> Result<(), ServerError> {
    let operations: Vec<&OperationDefinition> = match &document.operations {
        DocumentOperations::Single(operation) => vec![&operation.node],
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| &operation.node)
            .collect(),
    };
    for operation in operations {
        if operation.ty != OperationType::Subscription {
            continue;
        }
        let mut names = Vec::new();
        root_fields(
            &operation.selection_set.node,
            &document.fragments,
            FRAGMENT_WALK_LIMIT,
            &mut names,
        );
        if names.len() > 1 {
            let mut error = ServerError::new(
                format!(
                    "a subscription selects exactly one root field; this one selects {} ({})",
                    names.len(),
                    names.join(", ")
                ),
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "GRAPHQL_VALIDATION_FAILED");
            return Err(error);
        }
    }
    Ok(())
}

/// Collects the response names of the fields at the root of `selection_set`, through
/// fragments; `guard` bounds the walk through fragment spreads.
fn root_fields(
    selection_set: &SelectionSet,
    fragments: &Fragments,
    guard: usize,
    names: &mut Vec<String>,
) {
    if guard == 0 {
        return;
    }
    for selection in &selection_set.items {
        match &selection.node {
            Selection::Field(field) => {
                let name = field.node.response_key().node.to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            Selection::InlineFragment(fragment) => {
                root_fields(
                    &fragment.node.selection_set.node,
                    fragments,
                    guard - 1,
                    names,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = fragments.get(&spread.node.fragment_name.node) {
                    root_fields(
                        &fragment.node.selection_set.node,
                        fragments,
                        guard - 1,
                        names,
                    );
                }
            }
        }
    }
}

/// The deepest field nesting below `selection_set`, not counting introspection fields.
/// `guard` bounds the walk through fragment spreads.
fn depth(selection_set: &SelectionSet, fragments: &Fragments, guard: usize) -> usize {
    if guard == 0 {
        return usize::MAX / 2;
    }
    selection_set
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) if field.node.name.node.starts_with("__") => 0,
            Selection::Field(field) => {
                1 + depth(&field.node.selection_set.node, fragments, guard - 1)
            }
            Selection::InlineFragment(fragment) => {
                depth(&fragment.node.selection_set.node, fragments, guard - 1)
            }
            Selection::FragmentSpread(spread) => fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |fragment| {
                    depth(&fragment.node.selection_set.node, fragments, guard - 1)
                }),
        })
        .max()
        .unwrap_or(0)
}

/// The number of aliased fields written in `selection_set`.
fn aliases(selection_set: &SelectionSet) -> usize {
    selection_set
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Whether any operation or fragment selects `__schema` or `__type` at its root.
fn introspects(document: &ExecutableDocument) -> bool {
    fn root_introspection(selection_set: &SelectionSet) -> bool {
        selection_set
            .items
            .iter()
            .any(|selection| match &selection.node {
                Selection::Field(field) => {
                    matches!(field.node.name.node.as_str(), "__schema" | "__type")
                }
                Selection::InlineFragment(fragment) => {
                    root_introspection(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(_) => false,
            })
    }
    let operations: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(operation) => vec![&operation.node.selection_set.node],
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| &operation.node.selection_set.node)
            .collect(),
    };
    operations.into_iter().any(root_introspection)
        || document
            .fragments
            .values()
            .any(|fragment| root_introspection(&fragment.node.selection_set.node))
}

/// How deep a walk through fragments goes before it counts the query as too deep.
const FRAGMENT_WALK_LIMIT: usize = 256;

impl QueryLimits {
    /// Checks a parsed document against the introspection switch, the depth and the
    /// aliases limits.
    pub fn check_document(self, document: &ExecutableDocument) -> Result<(), ServerError> {
        let limits = self;
        if !limits.introspection && introspects(document) {
            let mut error = ServerError::new(
                "introspection is turned off on this server (HEADWAY_INTROSPECTION); use the published schema",
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "FORBIDDEN");
            return Err(error);
        }
        check_subscription_roots(document)?;
        let operations: Vec<&SelectionSet> = match &document.operations {
            DocumentOperations::Single(operation) => vec![&operation.node.selection_set.node],
            DocumentOperations::Multiple(operations) => operations
                .values()
                .map(|operation| &operation.node.selection_set.node)
                .collect(),
        };
        let deepest = operations
            .iter()
            .map(|selection_set| depth(selection_set, &document.fragments, FRAGMENT_WALK_LIMIT))
            .max()
            .unwrap_or(0);
        if deepest > limits.max_depth {
            let shown = if deepest >= usize::MAX / 4 {
                "more than 256".to_owned()
            } else {
                deepest.to_string()
            };
            return Err(limit_error(
                format!(
                    "the query nests fields {shown} levels deep; the maximum depth is {} (HEADWAY_MAX_QUERY_DEPTH)",
                    limits.max_depth
                ),
                "maxQueryDepth",
                limits.max_depth,
            ));
        }
        let nesting = operations
            .iter()
            .map(|selection_set| {
                introspection_nesting(
                    selection_set,
                    &document.fragments,
                    false,
                    FRAGMENT_WALK_LIMIT,
                )
            })
            .max()
            .unwrap_or(0);
        if nesting > MAX_INTROSPECTION_LIST_NESTING {
            return Err(limit_error(
                format!(
                    "the introspection query nests list fields (types, fields, args and the like) {} levels deep; the maximum is {MAX_INTROSPECTION_LIST_NESTING}",
                    if nesting >= usize::MAX / 4 {
                        "more than 256".to_owned()
                    } else {
                        nesting.to_string()
                    }
                ),
                "maxIntrospectionListNesting",
                MAX_INTROSPECTION_LIST_NESTING,
            ));
        }
        let alias_count: usize = operations
            .iter()
            .map(|selection_set| aliases(selection_set))
            .sum::<usize>()
            + document
                .fragments
                .values()
                .map(|fragment| aliases(&fragment.node.selection_set.node))
                .sum::<usize>();
        if alias_count > limits.max_aliases {
            return Err(limit_error(
                format!(
                    "the query uses {alias_count} aliases; the maximum is {} (HEADWAY_MAX_ALIASES)",
                    limits.max_aliases
                ),
                "maxAliases",
                limits.max_aliases,
            ));
        }
        Ok(())
    }
}

impl QueryLimits {
    /// Checks the complexity that validation computed.
    pub fn check_complexity(self, complexity: usize) -> Result<(), ServerError> {
        let limit = self.max_complexity;
        if complexity > limit {
            return Err(limit_error(
                format!(
                    "the query's complexity is {complexity}; the maximum is {limit} (HEADWAY_MAX_QUERY_COMPLEXITY). Ask for smaller pages with first or last"
                ),
                "maxQueryComplexity",
                limit,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(query: &str) -> Result<(), ServerError> {
        check_subscription_roots(&async_graphql::parser::parse_query(query).unwrap())
    }

    fn nesting(query: &str) -> usize {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation expected");
        };
        introspection_nesting(
            &operation.node.selection_set.node,
            &document.fragments,
            false,
            FRAGMENT_WALK_LIMIT,
        )
    }

    #[test]
    fn introspection_list_nesting() {
        let standard = "{ __schema { types { ...FullType } directives { args { name } } } } fragment FullType on __Type { fields(includeDeprecated: true) { args { ...InputValue } type { ...TypeRef } } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues { name } possibleTypes { ...TypeRef } } fragment InputValue on __InputValue { type { ...TypeRef } } fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";
        assert_eq!(nesting(standard), 3);
        assert_eq!(nesting("{ viewer { role } }"), 0);
        assert_eq!(
            nesting(
                "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
            ),
            4
        );
        assert_eq!(
            nesting(
                "{ __type(name: \"Query\") { fields { type { fields { type { fields { name } } } } } } }"
            ),
            3
        );
    }

    #[test]
    fn subscriptions_select_one_root_field() {
        assert!(roots("subscription { progress { sequence } }").is_ok());
        assert!(roots("subscription { a: progress { sequence } a: progress { type } }").is_ok());
        assert!(roots("{ viewer { role } organization { name } }").is_ok());
        let error =
            roots("subscription { progress { sequence } activity { sequence } }").unwrap_err();
        assert!(
            error.message.contains("selects 2 (progress, activity)"),
            "{}",
            error.message
        );
        let through_fragment = "subscription { progress { sequence } ...More } fragment More on Subscription { activity { sequence } }";
        assert!(roots(through_fragment).is_err());
    }
}
