//! The core tables: tenants, people, plans, measurements, the event outbox and idempotency keys.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn created_updated(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone("updated_at"))
}

fn belongs_to_organization(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_organization"))
        .from(table, "organization_id")
        .to("organizations", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn reference(
    table: &'static str,
    column: &'static str,
    target: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .to_owned()
}

fn index(table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement
        .name(format!("ix_{table}_{}", columns.join("_")))
        .table(table);
    for column in columns {
        statement.col(*column);
    }
    statement.to_owned()
}

fn unique_index(table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut statement = index(table, columns);
    statement
        .name(format!("ux_{table}_{}", columns.join("_")))
        .unique();
    statement
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("organizations")
                        .col(pk_uuid("id"))
                        .col(text("name"))
                        .col(text("time_zone"))
                        .col(integer("check_in_cadence_days"))
                        .col(integer("objective_limit"))
                        .col(integer("key_result_limit"))
                        .col(boolean("enforce_limits"))
                        .col(big_integer("event_sequence").default(0))
                        .col(integer("version")),
                )
                .col(timestamp_with_time_zone_null("archived_at"))
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("users")
                        .col(pk_uuid("id"))
                        .col(text_null("external_id"))
                        .col(text_null("email"))
                        .col(text("name")),
                )
                .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index("users", &["external_id"]))
            .await?;
        manager.create_index(index("users", &["email"])).await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("memberships")
                        .col(pk_uuid("id"))
                        .col(uuid("organization_id"))
                        .col(uuid("user_id"))
                        .col(text("role"))
                        .col(integer("version")),
                )
                .foreign_key(&mut belongs_to_organization("memberships"))
                .foreign_key(&mut reference("memberships", "user_id", "users"))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index("memberships", &["organization_id", "user_id"]))
            .await?;
        manager
            .create_index(index("memberships", &["user_id"]))
            .await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("teams")
                        .col(pk_uuid("id"))
                        .col(uuid("organization_id"))
                        .col(text("name"))
                        .col(text_null("description"))
                        .col(uuid_null("parent_id"))
                        .col(text_null("external_key"))
                        .col(integer("version")),
                )
                .col(timestamp_with_time_zone_null("archived_at"))
                .foreign_key(&mut belongs_to_organization("teams"))
                .foreign_key(&mut reference("teams", "parent_id", "teams"))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index("teams", &["organization_id", "parent_id"]))
            .await?;
        manager
            .create_index(unique_index("teams", &["organization_id", "external_key"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("team_members")
                    .col(uuid("team_id"))
                    .col(uuid("user_id"))
                    .col(uuid("organization_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("team_id").col("user_id"))
                    .foreign_key(&mut belongs_to_organization("team_members"))
                    .foreign_key(&mut reference("team_members", "team_id", "teams"))
                    .foreign_key(&mut reference("team_members", "user_id", "users"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("team_members", &["user_id"]))
            .await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("cycles")
                        .col(pk_uuid("id"))
                        .col(uuid("organization_id"))
                        .col(text("name"))
                        .col(date("start_date"))
                        .col(date("end_date"))
                        .col(uuid_null("parent_id"))
                        .col(text("state"))
                        .col(integer("version")),
                )
                .col(timestamp_with_time_zone_null("archived_at"))
                .foreign_key(&mut belongs_to_organization("cycles"))
                .foreign_key(&mut reference("cycles", "parent_id", "cycles"))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index("cycles", &["organization_id", "start_date"]))
            .await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("kpis")
                        .col(pk_uuid("id"))
                        .col(uuid("organization_id"))
                        .col(text("name"))
                        .col(text_null("description"))
                        .col(text("unit"))
                        .col(text_null("currency_code"))
                        .col(text("direction"))
                        .col(text_null("target_value"))
                        .col(text_null("warning_value"))
                        .col(text_null("range_low"))
                        .col(text_null("range_high"))
                        .col(text_null("warning_margin"))
                        .col(text("frequency"))
                        .col(uuid_null("owner_id"))
                        .col(uuid_null("team_id"))
                        .col(text_null("external_key"))
                        .col(text_null("latest_value"))
                        .col(timestamp_with_time_zone_null("latest_observed_at"))
                        .col(integer("version")),
                )
                .col(timestamp_with_time_zone_null("archived_at"))
                .foreign_key(&mut belongs_to_organization("kpis"))
                .foreign_key(&mut reference("kpis", "owner_id", "users"))
                .foreign_key(&mut reference("kpis", "team_id", "teams"))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index("kpis", &["organization_id", "external_key"]))
            .await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("kpi_measurements")
                        .col(pk_uuid("id"))
                        .col(uuid("organization_id"))
                        .col(uuid("kpi_id"))
                        .col(timestamp_with_time_zone("observed_at"))
                        .col(text("value"))
                        .col(text("source")),
                )
                .foreign_key(&mut belongs_to_organization("kpi_measurements"))
                .foreign_key(&mut reference("kpi_measurements", "kpi_id", "kpis"))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index("kpi_measurements", &["kpi_id", "observed_at"]))
            .await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("objectives")
                        .col(pk_uuid("id"))
                        .col(uuid("organization_id"))
                        .col(uuid("cycle_id"))
                        .col(uuid_null("team_id"))
                        .col(uuid_null("owner_id"))
                        .col(uuid_null("parent_id"))
                        .col(text("title"))
                        .col(text_null("description"))
                        .col(text("kind"))
                        .col(text("state"))
                        .col(text("progress_source"))
                        .col(text("weight"))
                        .col(text("progress"))
                        .col(small_integer("milestones"))
                        .col(text_null("score"))
                        .col(integer("version")),
                )
                .foreign_key(&mut belongs_to_organization("objectives"))
                .foreign_key(&mut reference("objectives", "cycle_id", "cycles"))
                .foreign_key(&mut reference("objectives", "team_id", "teams"))
                .foreign_key(&mut reference("objectives", "owner_id", "users"))
                .foreign_key(&mut reference("objectives", "parent_id", "objectives"))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index("objectives", &["organization_id", "cycle_id"]))
            .await?;
        manager
            .create_index(index("objectives", &["parent_id"]))
            .await?;
        manager
            .create_index(index("objectives", &["organization_id", "owner_id"]))
            .await?;
        manager
            .create_index(index("objectives", &["organization_id", "team_id"]))
            .await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("key_results")
                        .col(pk_uuid("id"))
                        .col(uuid("organization_id"))
                        .col(uuid("objective_id"))
                        .col(uuid_null("owner_id"))
                        .col(text("title"))
                        .col(text_null("description"))
                        .col(text("kind"))
                        .col(text("unit"))
                        .col(text_null("currency_code"))
                        .col(text("start_value"))
                        .col(text("target_value"))
                        .col(text("current_value"))
                        .col(text("progress_ratio"))
                        .col(text("weight"))
                        .col(uuid_null("kpi_id"))
                        .col(text_null("manual_grade"))
                        .col(text_null("grade_note"))
                        .col(text_null("score"))
                        .col(uuid_null("current_check_in_id"))
                        .col(timestamp_with_time_zone_null("current_observed_at"))
                        .col(small_integer_null("latest_confidence"))
                        .col(small_integer("milestones"))
                        .col(text_null("external_key"))
                        .col(integer("version")),
                )
                .col(timestamp_with_time_zone_null("archived_at"))
                .foreign_key(&mut belongs_to_organization("key_results"))
                .foreign_key(&mut reference("key_results", "objective_id", "objectives"))
                .foreign_key(&mut reference("key_results", "owner_id", "users"))
                .foreign_key(&mut reference("key_results", "kpi_id", "kpis"))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index("key_results", &["objective_id"]))
            .await?;
        manager
            .create_index(index("key_results", &["kpi_id"]))
            .await?;
        manager
            .create_index(unique_index(
                "key_results",
                &["organization_id", "external_key"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("check_ins")
                    .col(pk_uuid("id"))
                    .col(uuid("organization_id"))
                    .col(uuid("key_result_id"))
                    .col(text("value"))
                    .col(small_integer_null("confidence"))
                    .col(text_null("comment"))
                    .col(uuid_null("author_id"))
                    .col(uuid_null("api_token_id"))
                    .col(text("source"))
                    .col(timestamp_with_time_zone("observed_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut belongs_to_organization("check_ins"))
                    .foreign_key(&mut reference("check_ins", "key_result_id", "key_results"))
                    .foreign_key(&mut reference("check_ins", "author_id", "users"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("check_ins", &["key_result_id", "observed_at"]))
            .await?;

        manager
            .create_table(
                created_updated(
                    Table::create()
                        .table("comments")
                        .col(pk_uuid("id"))
                        .col(uuid("organization_id"))
                        .col(uuid_null("objective_id"))
                        .col(uuid_null("key_result_id"))
                        .col(uuid_null("check_in_id"))
                        .col(uuid_null("author_id"))
                        .col(text("body"))
                        .col(integer("version")),
                )
                .col(timestamp_with_time_zone_null("archived_at"))
                .foreign_key(&mut belongs_to_organization("comments"))
                .foreign_key(&mut reference("comments", "objective_id", "objectives"))
                .foreign_key(&mut reference("comments", "key_result_id", "key_results"))
                .foreign_key(&mut reference("comments", "check_in_id", "check_ins"))
                .foreign_key(&mut reference("comments", "author_id", "users"))
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index("comments", &["objective_id"]))
            .await?;
        manager
            .create_index(index("comments", &["key_result_id"]))
            .await?;
        manager
            .create_index(index("comments", &["check_in_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("events")
                    .col(pk_uuid("id"))
                    .col(uuid("organization_id"))
                    .col(big_integer("sequence"))
                    .col(text("event_type"))
                    .col(text("topic"))
                    .col(text("payload"))
                    .col(uuid_null("team_id"))
                    .col(uuid_null("cycle_id"))
                    .col(uuid_null("objective_id"))
                    .col(uuid_null("key_result_id"))
                    .col(uuid_null("kpi_id"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .foreign_key(&mut belongs_to_organization("events"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index("events", &["organization_id", "sequence"]))
            .await?;
        manager
            .create_index(index("events", &["occurred_at"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(uuid("organization_id"))
                    .col(text("key"))
                    .col(text("operation"))
                    .col(text("fingerprint"))
                    .col(text("result"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("organization_id").col("key"))
                    .foreign_key(&mut belongs_to_organization("idempotency_keys"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "idempotency_keys",
            "events",
            "comments",
            "check_ins",
            "key_results",
            "objectives",
            "kpi_measurements",
            "kpis",
            "cycles",
            "team_members",
            "teams",
            "memberships",
            "users",
            "organizations",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
