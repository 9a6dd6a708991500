//! Limits what an API token without the `read` scope can select.
//!
//! Records that a mutation returns resolve without a read check, so that a writer reads
//! back what it changed. For an `ingest` token that would also expose the key result's
//! owner and objective through `createCheckIn { keyResult { … } }`. [`check`] therefore
//! examines the document of such a token before anything runs. The token may select root
//! fields, which check its scopes themselves. Below them it may select the mutation
//! payloads, user errors, and the scalar fields of the check-ins, measurements, key
//! results and KPIs it changes. A field that leads to other records (owners, objectives,
//! teams, or any list of those records, such as a KPI's key results) fails the whole
//! request with FORBIDDEN, so that nothing is written.

use super::context::{Permission, Principal, RequestState};
use super::error::ApiError;
use async_graphql::extensions::ExtensionContext;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::registry::Registry;
use async_graphql::{Pos, ServerResult};
use std::collections::HashSet;

/// Records a token without the `read` scope may read back: only their own fields, and
/// none of their lists, which lead to other records.
const RECORDS_READ_BACK: &[&str] = &["CheckIn", "KpiMeasurement", "KeyResult", "Kpi"];

/// Object types whose fields a token without the `read` scope may select, below the root.
const READABLE_WITHOUT_READ_SCOPE: &[&str] = &[
    "CreateCheckInPayload",
    "RecordCheckInsPayload",
    "RecordKpiMeasurementsPayload",
    "CheckInResult",
    "KpiMeasurementResult",
    "CheckIn",
    "KpiMeasurement",
    "UserError",
    "KeyResult",
    "Kpi",
];

fn lacks_read_scope(state: &RequestState) -> bool {
    match &state.principal {
        Principal::ApiToken(token) => !Permission::Read
            .granting_scopes()
            .iter()
            .any(|scope| token.scopes.contains(*scope)),
        Principal::Anonymous | Principal::User(_) => false,
    }
}

/// Strips list and non-null markers: `[CheckIn!]!` becomes `CheckIn`.
fn named_type(type_name: &str) -> &str {
    type_name.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

/// Walks a document's selections with the types the schema gives them.
struct Walk<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    /// Fragments already walked on a type, so that a fragment cycle ends; validation
    /// rejects such a document later.
    walked: HashSet<(&'a str, &'a str)>,
}

/// A field the token may not select, with its position in the document.
struct Denied {
    parent: String,
    field: String,
    /// The type the field returns, when the denial is at the operation's root.
    root_type: Option<String>,
    pos: Pos,
}

impl<'a> Walk<'a> {
    /// Checks whether a field of `parent` returning `field_type` (with list markers) may be
    /// selected below the root.
    fn readable(&self, parent: &str, field_type: &str) -> bool {
        let returned = named_type(field_type);
        if RECORDS_READ_BACK.contains(&parent) && field_type.contains('[') {
            return false;
        }
        READABLE_WITHOUT_READ_SCOPE.contains(&parent)
            && (READABLE_WITHOUT_READ_SCOPE.contains(&returned)
                || self
                    .registry
                    .types
                    .get(returned)
                    .is_some_and(async_graphql::registry::MetaType::is_leaf))
    }

    /// Checks the selections of `set` on the type `parent`; `root` marks the operation's
    /// own selection set.
    fn check(&mut self, parent: &'a str, set: &'a SelectionSet, root: bool) -> Result<(), Denied> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if name.starts_with("__") {
                        continue;
                    }
                    // An unknown field fails validation later, with its own message.
                    let Some(meta) = self
                        .registry
                        .types
                        .get(parent)
                        .and_then(|meta| meta.field_by_name(name))
                    else {
                        continue;
                    };
                    let returned = named_type(&meta.ty);
                    let has_selection = !field.node.selection_set.node.items.is_empty();
                    let root_denied = root
                        && has_selection
                        && !READABLE_WITHOUT_READ_SCOPE.contains(&returned)
                        && !self
                            .registry
                            .types
                            .get(returned)
                            .is_some_and(async_graphql::registry::MetaType::is_leaf);
                    if root_denied || (!root && !self.readable(parent, &meta.ty)) {
                        return Err(Denied {
                            parent: parent.to_owned(),
                            field: name.to_owned(),
                            root_type: root.then(|| returned.to_owned()),
                            pos: field.pos,
                        });
                    }
                    self.check(returned, &field.node.selection_set.node, false)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let Some(fragment) = self.document.fragments.get(name) else {
                        continue;
                    };
                    if self.walked.insert((name, parent)) {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.check(on, &fragment.node.selection_set.node, root)?;
                    }
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |condition| condition.node.on.node.as_str());
                    self.check(on, &inline.node.selection_set.node, root)?;
                }
            }
        }
        Ok(())
    }
}

/// Checks every operation of `document` for a token without the `read` scope.
fn check_document(registry: &Registry, document: &ExecutableDocument) -> Result<(), Denied> {
    let mut walk = Walk {
        registry,
        document,
        walked: HashSet::new(),
    };
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };
    for operation in operations {
        use async_graphql::parser::types::OperationType;
        let root = match operation.node.ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        if let Some(root) = root {
            walk.check(root, &operation.node.selection_set.node, true)?;
        }
    }
    Ok(())
}

/// Rejects a document that a token without the `read` scope may not run, before it runs.
pub fn check(ctx: &ExtensionContext<'_>, document: &ExecutableDocument) -> ServerResult<()> {
    let Some(state) = ctx.data_opt::<RequestState>() else {
        return Ok(());
    };
    if !lacks_read_scope(state) {
        return Ok(());
    }
    let scopes = match &state.principal {
        Principal::ApiToken(token) => token.scopes.to_text(),
        Principal::Anonymous | Principal::User(_) => String::new(),
    };
    check_document(&ctx.schema_env.registry, document).map_err(|denied| {
        let message = match &denied.root_type {
            Some(returned) => format!(
                "{} returns {returned}, which this token's scopes ({scopes}) cannot read; without the read scope a token calls createCheckIn, recordCheckIns or recordKpiMeasurements",
                denied.field
            ),
            None => format!(
                "{}.{} needs the read scope; without it a token selects only mutation payloads, user errors and the scalar fields of the check-ins, measurements, key results and KPIs it changes",
                denied.parent, denied.field
            ),
        };
        let error: async_graphql::Error = ApiError::forbidden(message).into();
        error.into_server_error(denied.pos)
    })
}
