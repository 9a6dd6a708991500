//! sea-orm entities, one module per table. Rows never leave this crate: [`crate::convert`]
//! maps them to domain values.
//!
//! Decimal columns are `String`, because SQLite has no exact decimal type.

macro_rules! entity {
    ($module:ident, $table:literal, { $($field:tt)* }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($field)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(organization, "organizations", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub time_zone: String,
    pub check_in_cadence_days: i32,
    pub objective_limit: i32,
    pub key_result_limit: i32,
    pub enforce_limits: bool,
    pub event_sequence: i64,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
});

entity!(user, "users", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
});

entity!(membership, "memberships", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
});

entity!(team, "teams", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<Uuid>,
    pub external_key: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
});

entity!(team_member, "team_members", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub team_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub created_at: DateTimeUtc,
});

entity!(cycle, "cycles", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub start_date: Date,
    pub end_date: Date,
    pub parent_id: Option<Uuid>,
    pub state: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
});

entity!(objective, "objectives", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub cycle_id: Uuid,
    pub team_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub kind: String,
    pub state: String,
    pub progress_source: String,
    pub weight: String,
    pub progress: String,
    pub milestones: i16,
    pub score: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub copied_from_id: Option<Uuid>,
});

entity!(key_result, "key_results", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub objective_id: Uuid,
    pub owner_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub kind: String,
    pub unit: String,
    pub currency_code: Option<String>,
    pub start_value: String,
    pub target_value: String,
    pub current_value: String,
    pub progress_ratio: String,
    pub weight: String,
    pub kpi_id: Option<Uuid>,
    pub manual_grade: Option<String>,
    pub grade_note: Option<String>,
    pub score: Option<String>,
    pub current_check_in_id: Option<Uuid>,
    pub current_observed_at: Option<DateTimeUtc>,
    pub latest_confidence: Option<i16>,
    pub milestones: i16,
    pub external_key: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
});

entity!(check_in, "check_ins", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub key_result_id: Uuid,
    pub value: String,
    pub confidence: Option<i16>,
    pub comment: Option<String>,
    pub author_id: Option<Uuid>,
    pub api_token_id: Option<Uuid>,
    pub source: String,
    pub observed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
});

entity!(kpi, "kpis", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub unit: String,
    pub currency_code: Option<String>,
    pub direction: String,
    pub target_value: Option<String>,
    pub warning_value: Option<String>,
    pub range_low: Option<String>,
    pub range_high: Option<String>,
    pub warning_margin: Option<String>,
    pub frequency: String,
    pub owner_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub external_key: Option<String>,
    pub latest_value: Option<String>,
    pub latest_observed_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
});

entity!(kpi_measurement, "kpi_measurements", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub kpi_id: Uuid,
    pub observed_at: DateTimeUtc,
    pub value: String,
    pub source: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
});

entity!(comment, "comments", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub objective_id: Option<Uuid>,
    pub key_result_id: Option<Uuid>,
    pub check_in_id: Option<Uuid>,
    pub author_id: Option<Uuid>,
    pub body: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
});

entity!(event, "events", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub sequence: i64,
    pub event_type: String,
    pub topic: String,
    pub payload: String,
    pub team_id: Option<Uuid>,
    pub cycle_id: Option<Uuid>,
    pub objective_id: Option<Uuid>,
    pub key_result_id: Option<Uuid>,
    pub kpi_id: Option<Uuid>,
    pub occurred_at: DateTimeUtc,
});

entity!(idempotency_key, "idempotency_keys", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub operation: String,
    pub fingerprint: String,
    pub result: String,
    pub created_at: DateTimeUtc,
});

entity!(api_token, "api_tokens", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub lookup: String,
    pub secret_hash: String,
    pub scopes: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
});

entity!(audit_entry, "audit_entries", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user_id: Option<Uuid>,
    pub api_token_id: Option<Uuid>,
    pub action: String,
    pub record_type: String,
    pub record_id: Uuid,
    pub changes: String,
    pub occurred_at: DateTimeUtc,
});

entity!(webhook_endpoint, "webhook_endpoints", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Kept out of the audit log's serialized rows.
    #[serde(skip_serializing)]
    pub secret: String,
    /// The secret before the latest change, which also signs until
    /// `previous_secret_expires_at`; kept out of the audit log like `secret`.
    #[serde(skip_serializing)]
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub event_types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTimeUtc>,
    pub consecutive_failures: i32,
    pub cursor: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub version: i32,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
});

entity!(webhook_delivery, "webhook_deliveries", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub endpoint_id: Uuid,
    pub kind: String,
    pub event_id: Uuid,
    pub event_type: String,
    pub sequence: i64,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub redelivery_of: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
});

entity!(webhook_attempt, "webhook_attempts", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub delivery_id: Uuid,
    pub number: i32,
    pub started_at: DateTimeUtc,
    pub duration_ms: i32,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
});

entity!(activity_entry, "activity_entries", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub sequence: i64,
    pub event_type: String,
    pub payload: String,
    pub team_id: Option<Uuid>,
    pub cycle_id: Option<Uuid>,
    pub objective_id: Option<Uuid>,
    pub key_result_id: Option<Uuid>,
    pub occurred_at: DateTimeUtc,
});
