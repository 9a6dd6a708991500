//! Outbound webhooks: endpoints, their deliveries and each delivery's attempts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn organization_key(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_organization"))
        .from(table, "organization_id")
        .to("organizations", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_endpoints")
                    .col(pk_uuid("id"))
                    .col(uuid("organization_id"))
                    .col(text("url"))
                    .col(text_null("description"))
                    // The signing secret is needed in clear to sign; it is never returned.
                    .col(text("secret"))
                    // A JSON list of event type names.
                    .col(text("event_types"))
                    .col(boolean("enabled"))
                    .col(text_null("disabled_reason"))
                    .col(timestamp_with_time_zone_null("disabled_at"))
                    .col(integer("consecutive_failures"))
                    // The organization's event sequence up to which deliveries are queued.
                    .col(big_integer("cursor"))
                    // The replica that sends this endpoint's deliveries, and until when.
                    .col(text_null("lease_owner"))
                    .col(timestamp_with_time_zone_null("lease_until"))
                    .col(integer("version"))
                    .col(uuid_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("archived_at"))
                    .foreign_key(&mut organization_key("webhook_endpoints"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_endpoints_organization_id")
                    .table("webhook_endpoints")
                    .col("organization_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .col(pk_uuid("id"))
                    .col(uuid("organization_id"))
                    .col(uuid("endpoint_id"))
                    // EVENT, REDELIVERY or TEST.
                    .col(text("kind"))
                    .col(uuid("event_id"))
                    .col(text("event_type"))
                    // The event's sequence; deliveries of an endpoint go out in this order.
                    .col(big_integer("sequence"))
                    .col(text("body"))
                    // PENDING, SUCCEEDED or FAILED.
                    .col(text("status"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("last_attempt_at"))
                    .col(integer_null("response_status"))
                    .col(text_null("last_error"))
                    .col(uuid_null("redelivery_of"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("completed_at"))
                    .foreign_key(&mut organization_key("webhook_deliveries"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_endpoint")
                            .from("webhook_deliveries", "endpoint_id")
                            .to("webhook_endpoints", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_deliveries_endpoint_status_sequence")
                    .table("webhook_deliveries")
                    .col("endpoint_id")
                    .col("status")
                    .col("sequence")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_deliveries_status_next_attempt_at")
                    .table("webhook_deliveries")
                    .col("status")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("webhook_attempts")
                    .col(pk_uuid("id"))
                    .col(uuid("organization_id"))
                    .col(uuid("delivery_id"))
                    .col(integer("number"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(integer("duration_ms"))
                    .col(integer_null("response_status"))
                    // The start of the response body, for the delivery log.
                    .col(text_null("response_body"))
                    .col(text_null("error"))
                    .foreign_key(&mut organization_key("webhook_attempts"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_attempts_delivery")
                            .from("webhook_attempts", "delivery_id")
                            .to("webhook_deliveries", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_attempts_delivery_id")
                    .table("webhook_attempts")
                    .col("delivery_id")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "webhook_attempts",
            "webhook_deliveries",
            "webhook_endpoints",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
