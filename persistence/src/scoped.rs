//! Lookups that always filter by organization, so that an id of another organization reads
//! exactly like one that does not exist.

use crate::entities::{
    activity_entry, check_in, comment, cycle, key_result, kpi, kpi_measurement, objective, team,
    webhook_attempt, webhook_delivery, webhook_endpoint,
};
use headway_domain::ids::OrganizationId;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Select};
use uuid::Uuid;

/// An entity whose rows belong to one organization each.
pub(crate) trait OrganizationScoped: EntityTrait {
    fn organization_column() -> Self::Column;
    fn id_column() -> Self::Column;

    /// Every row of the organization.
    fn find_in(organization_id: OrganizationId) -> Select<Self> {
        Self::find().filter(Self::organization_column().eq(organization_id.as_uuid()))
    }
}

macro_rules! scoped {
    ($($module:ident),+) => {
        $(
            impl OrganizationScoped for $module::Entity {
                fn organization_column() -> Self::Column {
                    $module::Column::OrganizationId
                }

                fn id_column() -> Self::Column {
                    $module::Column::Id
                }
            }
        )+
    };
}

scoped!(
    team,
    cycle,
    objective,
    key_result,
    check_in,
    kpi,
    kpi_measurement,
    comment,
    webhook_endpoint,
    webhook_delivery,
    webhook_attempt,
    activity_entry
);

/// The row with `id` in the organization, if any.
pub(crate) async fn find_one<E, C>(
    db: &C,
    organization_id: OrganizationId,
    id: Uuid,
) -> Result<Option<E::Model>, DbErr>
where
    E: OrganizationScoped,
    C: ConnectionTrait,
{
    E::find_in(organization_id)
        .filter(E::id_column().eq(id))
        .one(db)
        .await
}

/// The rows among `ids` in the organization, in no particular order.
pub(crate) async fn find_many<E, C>(
    db: &C,
    organization_id: OrganizationId,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<E::Model>, DbErr>
where
    E: OrganizationScoped,
    C: ConnectionTrait,
{
    let ids: Vec<Uuid> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    E::find_in(organization_id)
        .filter(E::id_column().is_in(ids))
        .all(db)
        .await
}
