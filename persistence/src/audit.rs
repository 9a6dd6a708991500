//! The field changes of audit entries, in the API's terms.
//!
//! Each audited table has a table of its columns: the API field name a column shows as
//! (camelCase, as in the GraphQL schema), and whether its value is a reference that shows as
//! a global id such as `obj_0191f4c2a8e37c2c9f1d6b0e5a4d3c2b`. Bookkeeping columns that the
//! API does not expose (version, updated_at, milestones, leases and the like) are left out.

use crate::entities::{
    api_token, check_in, comment, cycle, key_result, kpi, membership, objective, organization,
    team, webhook_delivery, webhook_endpoint,
};
pub use headway_domain::ids::IdKind;
use headway_domain::ids::{EventId, event_global_id};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The form of one column in an audit entry's changes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Field {
    /// Shown under the API name with the stored value.
    Plain(&'static str),
    /// A UUID reference, shown under the API name as a global id of the kind.
    Id(&'static str, IdKind),
    /// An outbox event's UUID, shown under the API name as its `evt_` id.
    Event(&'static str),
    /// Comma-separated text, shown under the API name as a list of strings.
    CommaList(&'static str),
    /// JSON text, shown under the API name as the JSON value it holds.
    JsonText(&'static str),
    /// A column that the API does not expose; left out.
    Internal,
}

/// A table row whose changes the audit log records.
pub(crate) trait Audited: Serialize {
    /// Every column of the table, by its name in the database.
    const FIELDS: &'static [(&'static str, Field)];
}

/// Maps the row's fields to the API's names and values, in table order.
fn api_fields<M: Audited>(row: &M) -> Vec<(&'static str, Value)> {
    let Some(Value::Object(columns)) = serde_json::to_value(row).ok() else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    for (column, field) in M::FIELDS {
        let Some(value) = columns.get(*column) else {
            continue;
        };
        let shown = match *field {
            Field::Plain(name) => (name, value.clone()),
            Field::Id(name, kind) => (name, uuid_value(value, |uuid| kind.global_id(uuid))),
            Field::Event(name) => (
                name,
                uuid_value(value, |uuid| event_global_id(EventId::from_uuid(uuid))),
            ),
            Field::CommaList(name) => (name, comma_list_value(value)),
            Field::JsonText(name) => (name, json_text_value(value)),
            Field::Internal => continue,
        };
        fields.push(shown);
    }
    fields
}

/// Formats a stored UUID as an id with `format`, or keeps a value that is no UUID.
fn uuid_value(value: &Value, format: impl FnOnce(Uuid) -> String) -> Value {
    match value.as_str().and_then(|text| Uuid::parse_str(text).ok()) {
        Some(uuid) => Value::String(format(uuid)),
        None => value.clone(),
    }
}

fn comma_list_value(value: &Value) -> Value {
    match value.as_str() {
        Some("") => Value::Array(Vec::new()),
        Some(text) => text.split(',').map(Value::from).collect(),
        None => value.clone(),
    }
}

fn json_text_value(value: &Value) -> Value {
    value
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| value.clone())
}

/// Lists the fields that differ between two versions of a row, as
/// `{ "field": { "old": …, "new": … } }` with the API's field names and global ids. A missing
/// `before` lists the new row's fields that are set; a missing `after` lists the removed
/// row's fields that were set.
pub(crate) fn changed_fields<M: Audited>(before: Option<&M>, after: Option<&M>) -> Value {
    let before = before.map(api_fields).unwrap_or_default();
    let after = after.map(api_fields).unwrap_or_default();
    let value_in = |fields: &[(&'static str, Value)], name: &str| {
        fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value.clone())
            .unwrap_or(Value::Null)
    };
    let mut names: Vec<&'static str> = after.iter().map(|(name, _)| *name).collect();
    for (name, _) in &before {
        if !names.contains(name) {
            names.push(name);
        }
    }
    let mut changes = serde_json::Map::new();
    for name in names {
        let old = value_in(&before, name);
        let new = value_in(&after, name);
        if old != new {
            changes.insert(
                name.to_owned(),
                serde_json::json!({ "old": old, "new": new }),
            );
        }
    }
    Value::Object(changes)
}

use Field::{CommaList, Event, Id, Internal, JsonText, Plain};

impl Audited for organization::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("name", Plain("name")),
        ("time_zone", Plain("timeZone")),
        ("check_in_cadence_days", Plain("checkInCadenceDays")),
        ("objective_limit", Plain("objectiveLimit")),
        ("key_result_limit", Plain("keyResultLimit")),
        ("enforce_limits", Plain("enforceLimits")),
        ("event_sequence", Internal),
        ("version", Internal),
        ("created_at", Internal),
        ("updated_at", Internal),
        ("archived_at", Plain("archivedAt")),
    ];
}

impl Audited for membership::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("user_id", Id("userId", IdKind::User)),
        ("role", Plain("role")),
        ("version", Internal),
        ("created_at", Internal),
        ("updated_at", Internal),
    ];
}

impl Audited for team::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("name", Plain("name")),
        ("description", Plain("description")),
        ("parent_id", Id("parentId", IdKind::Team)),
        ("external_key", Plain("externalKey")),
        ("version", Internal),
        ("created_at", Internal),
        ("updated_at", Internal),
        ("archived_at", Plain("archivedAt")),
    ];
}

impl Audited for cycle::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("name", Plain("name")),
        ("start_date", Plain("startDate")),
        ("end_date", Plain("endDate")),
        ("parent_id", Id("parentId", IdKind::Cycle)),
        ("state", Plain("state")),
        ("version", Internal),
        ("created_at", Internal),
        ("updated_at", Internal),
        ("archived_at", Plain("archivedAt")),
    ];
}

impl Audited for objective::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("cycle_id", Id("cycleId", IdKind::Cycle)),
        ("team_id", Id("teamId", IdKind::Team)),
        ("owner_id", Id("ownerId", IdKind::User)),
        ("parent_id", Id("parentId", IdKind::Objective)),
        ("title", Plain("title")),
        ("description", Plain("description")),
        ("kind", Plain("kind")),
        ("state", Plain("state")),
        ("progress_source", Plain("progressSource")),
        ("weight", Plain("weight")),
        ("progress", Plain("progress")),
        ("milestones", Internal),
        ("score", Plain("score")),
        ("version", Internal),
        ("created_at", Internal),
        ("updated_at", Internal),
        ("copied_from_id", Id("copiedFromId", IdKind::Objective)),
    ];
}

impl Audited for key_result::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("objective_id", Id("objectiveId", IdKind::Objective)),
        ("owner_id", Id("ownerId", IdKind::User)),
        ("title", Plain("title")),
        ("description", Plain("description")),
        ("kind", Plain("type")),
        ("unit", Plain("unit")),
        ("currency_code", Plain("currencyCode")),
        ("start_value", Plain("startValue")),
        ("target_value", Plain("targetValue")),
        ("current_value", Plain("currentValue")),
        ("progress_ratio", Plain("progressRatio")),
        ("weight", Plain("weight")),
        ("kpi_id", Id("kpiId", IdKind::Kpi)),
        ("manual_grade", Plain("manualGrade")),
        ("grade_note", Plain("gradeNote")),
        ("score", Plain("score")),
        ("current_check_in_id", Id("lastCheckInId", IdKind::CheckIn)),
        ("current_observed_at", Internal),
        ("latest_confidence", Plain("latestConfidence")),
        ("milestones", Internal),
        ("external_key", Plain("externalKey")),
        ("version", Internal),
        ("created_at", Internal),
        ("updated_at", Internal),
        ("archived_at", Plain("archivedAt")),
    ];
}

impl Audited for check_in::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("key_result_id", Id("keyResultId", IdKind::KeyResult)),
        ("value", Plain("value")),
        ("confidence", Plain("confidence")),
        ("comment", Plain("comment")),
        ("author_id", Id("authorId", IdKind::User)),
        // The entry's own `apiTokenId` names the token that recorded the check-in.
        ("api_token_id", Internal),
        ("source", Plain("source")),
        ("observed_at", Plain("observedAt")),
        ("created_at", Internal),
    ];
}

impl Audited for kpi::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("name", Plain("name")),
        ("description", Plain("description")),
        ("unit", Plain("unit")),
        ("currency_code", Plain("currencyCode")),
        ("direction", Plain("direction")),
        ("target_value", Plain("targetValue")),
        ("warning_value", Plain("warningValue")),
        ("range_low", Plain("rangeLow")),
        ("range_high", Plain("rangeHigh")),
        ("warning_margin", Plain("warningMargin")),
        ("frequency", Plain("frequency")),
        ("owner_id", Id("ownerId", IdKind::User)),
        ("team_id", Id("teamId", IdKind::Team)),
        ("external_key", Plain("externalKey")),
        ("latest_value", Plain("latestValue")),
        ("latest_observed_at", Plain("latestObservedAt")),
        ("version", Internal),
        ("created_at", Internal),
        ("updated_at", Internal),
        ("archived_at", Plain("archivedAt")),
    ];
}

impl Audited for comment::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("objective_id", Id("objectiveId", IdKind::Objective)),
        ("key_result_id", Id("keyResultId", IdKind::KeyResult)),
        ("check_in_id", Id("checkInId", IdKind::CheckIn)),
        ("author_id", Id("authorId", IdKind::User)),
        ("body", Plain("body")),
        ("version", Internal),
        ("created_at", Internal),
        ("updated_at", Internal),
        ("archived_at", Plain("archivedAt")),
    ];
}

impl Audited for api_token::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("name", Plain("name")),
        ("lookup", Internal),
        ("secret_hash", Internal),
        ("scopes", CommaList("scopes")),
        ("created_by", Id("createdById", IdKind::User)),
        ("created_at", Internal),
        ("expires_at", Plain("expiresAt")),
        ("last_used_at", Internal),
        ("revoked_at", Plain("revokedAt")),
    ];
}

impl Audited for webhook_endpoint::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("url", Plain("url")),
        ("description", Plain("description")),
        ("secret", Internal),
        ("previous_secret", Internal),
        ("previous_secret_expires_at", Internal),
        ("event_types", JsonText("eventTypes")),
        ("enabled", Plain("enabled")),
        ("disabled_reason", Plain("disabledReason")),
        ("disabled_at", Plain("disabledAt")),
        ("consecutive_failures", Plain("consecutiveFailures")),
        ("cursor", Internal),
        ("lease_owner", Internal),
        ("lease_until", Internal),
        ("version", Internal),
        ("created_by", Id("createdById", IdKind::User)),
        ("created_at", Internal),
        ("updated_at", Internal),
        ("archived_at", Plain("deletedAt")),
    ];
}

impl Audited for webhook_delivery::Model {
    const FIELDS: &'static [(&'static str, Field)] = &[
        ("id", Internal),
        ("organization_id", Internal),
        ("endpoint_id", Id("endpointId", IdKind::WebhookEndpoint)),
        ("kind", Plain("kind")),
        ("event_id", Event("eventId")),
        ("event_type", Plain("eventType")),
        ("sequence", Plain("sequence")),
        // The event's body, a copy of the outbox event; left out for its size.
        ("body", Internal),
        ("status", Plain("status")),
        ("attempts", Plain("attemptCount")),
        ("next_attempt_at", Plain("nextAttemptAt")),
        ("last_attempt_at", Plain("lastAttemptAt")),
        ("response_status", Plain("responseStatus")),
        ("last_error", Plain("lastError")),
        ("redelivery_of", Id("redeliveryOf", IdKind::WebhookDelivery)),
        ("created_at", Internal),
        ("completed_at", Plain("completedAt")),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    /// Returns the columns of `E` missing from its audit table `fields`.
    fn unlisted<E: EntityTrait>(fields: &[(&str, Field)]) -> Vec<String> {
        E::Column::iter()
            .map(|column| column.as_str().to_owned())
            .filter(|column| !fields.iter().any(|(listed, _)| listed == column))
            .collect()
    }

    #[test]
    fn every_column_is_listed() {
        let missing = [
            (
                "organizations",
                unlisted::<organization::Entity>(organization::Model::FIELDS),
            ),
            (
                "memberships",
                unlisted::<membership::Entity>(membership::Model::FIELDS),
            ),
            ("teams", unlisted::<team::Entity>(team::Model::FIELDS)),
            ("cycles", unlisted::<cycle::Entity>(cycle::Model::FIELDS)),
            (
                "objectives",
                unlisted::<objective::Entity>(objective::Model::FIELDS),
            ),
            (
                "key_results",
                unlisted::<key_result::Entity>(key_result::Model::FIELDS),
            ),
            (
                "check_ins",
                unlisted::<check_in::Entity>(check_in::Model::FIELDS),
            ),
            ("kpis", unlisted::<kpi::Entity>(kpi::Model::FIELDS)),
            (
                "comments",
                unlisted::<comment::Entity>(comment::Model::FIELDS),
            ),
            (
                "api_tokens",
                unlisted::<api_token::Entity>(api_token::Model::FIELDS),
            ),
            (
                "webhook_endpoints",
                unlisted::<webhook_endpoint::Entity>(webhook_endpoint::Model::FIELDS),
            ),
            (
                "webhook_deliveries",
                unlisted::<webhook_delivery::Entity>(webhook_delivery::Model::FIELDS),
            ),
        ];
        for (table, columns) in missing {
            assert!(
                columns.is_empty(),
                "{table} has columns without an audit field: {columns:?}"
            );
        }
    }

    fn team_row(name: &str, parent_id: Option<Uuid>) -> team::Model {
        let now = chrono::Utc::now();
        team::Model {
            id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            name: name.to_owned(),
            description: None,
            parent_id,
            external_key: None,
            version: 1,
            created_at: now,
            updated_at: now,
            archived_at: None,
        }
    }

    #[test]
    fn changes_use_api_names_and_global_ids() {
        let parent = Uuid::now_v7();
        let before = team_row("Sales", None);
        let mut after = before.clone();
        after.name = "Revenue".to_owned();
        after.parent_id = Some(parent);
        after.version = 2;
        after.updated_at = chrono::Utc::now();

        let changes = changed_fields(Some(&before), Some(&after));
        assert_eq!(
            changes,
            serde_json::json!({
                "name": { "old": "Sales", "new": "Revenue" },
                "parentId": { "old": null, "new": format!("team_{}", parent.simple()) },
            })
        );
    }

    #[test]
    fn removal_lists_old_values() {
        let row = team_row("Sales", None);
        let changes = changed_fields(Some(&row), None);
        assert_eq!(
            changes,
            serde_json::json!({ "name": { "old": "Sales", "new": null } })
        );
    }

    #[test]
    fn creation_lists_set_fields_only() {
        let row = team_row("Sales", None);
        let changes = changed_fields(None, Some(&row));
        assert_eq!(
            changes,
            serde_json::json!({ "name": { "old": null, "new": "Sales" } })
        );
    }

    #[test]
    fn scopes_show_as_a_list() {
        assert_eq!(
            comma_list_value(&Value::from("READ,INGEST")),
            serde_json::json!(["READ", "INGEST"])
        );
        assert_eq!(comma_list_value(&Value::from("")), serde_json::json!([]));
    }
}
