//! The OKR practice: where a rolled-over objective came from, and the lasting activity feed.
//!
//! The outbox keeps events only for resuming subscribers and for webhooks. Check-ins,
//! comments, milestones and state changes also go to `activity_entries`, which keeps them
//! for the activity feed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn index(name: &str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table("activity_entries");
    for column in columns {
        index.col(*column);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("objectives")
                    .add_column(uuid_null("copied_from_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_objectives_copied_from_id")
                    .table("objectives")
                    .col("copied_from_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("activity_entries")
                    .col(pk_uuid("id"))
                    .col(uuid("organization_id"))
                    .col(big_integer("sequence"))
                    .col(text("event_type"))
                    .col(text("payload"))
                    .col(uuid_null("team_id"))
                    .col(uuid_null("cycle_id"))
                    .col(uuid_null("objective_id"))
                    .col(uuid_null("key_result_id"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_activity_entries_organization")
                            .from("activity_entries", "organization_id")
                            .to("organizations", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "ix_activity_entries_organization_id_occurred_at",
                &["organization_id", "occurred_at", "id"][..],
            ),
            (
                "ix_activity_entries_objective_id_occurred_at",
                &["objective_id", "occurred_at", "id"][..],
            ),
            (
                "ix_activity_entries_team_id_occurred_at",
                &["team_id", "occurred_at", "id"][..],
            ),
        ] {
            manager.create_index(index(name, columns)).await?;
        }
        // Activity that the outbox still keeps starts the feed.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO activity_entries (id, organization_id, sequence, event_type, payload, team_id, cycle_id, objective_id, key_result_id, occurred_at) \
                 SELECT id, organization_id, sequence, event_type, payload, team_id, cycle_id, objective_id, key_result_id, occurred_at FROM events WHERE topic = 'ACTIVITY'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("activity_entries")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_objectives_copied_from_id")
                    .table("objectives")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("objectives")
                    .drop_column("copied_from_id")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
