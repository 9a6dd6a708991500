//! Organizations and their settings.

use crate::convert;
use crate::entities::{audit_entry, membership, organization};
use crate::error::StoreError;
use crate::tx::{WriteTx, changes_nothing};
use crate::{Actor, Store};
use headway_domain::ids::{MembershipId, OrganizationId, UserId};
use headway_domain::model::{Membership, Organization, OrganizationSettings, Role};
use headway_domain::values::{CheckInCadence, CountLimit, Name, TimeZone};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, TransactionTrait};

#[derive(Clone, Debug)]
pub struct NewOrganization {
    pub name: Name,
    pub time_zone: TimeZone,
}

/// Changes to an organization; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct OrganizationChanges {
    pub expected_version: Option<i32>,
    pub name: Option<Name>,
    pub time_zone: Option<TimeZone>,
    pub check_in_cadence: Option<CheckInCadence>,
    pub objective_limit: Option<CountLimit>,
    pub key_result_limit: Option<CountLimit>,
    pub enforce_limits: Option<bool>,
}

fn cadence_days(settings: &OrganizationSettings) -> i32 {
    i32::try_from(settings.check_in_cadence.days()).unwrap_or(i32::MAX)
}

fn limit(value: CountLimit) -> i32 {
    i32::try_from(value.get()).unwrap_or(i32::MAX)
}

impl Store {
    /// Creates an organization with `owner` as its first OWNER.
    pub async fn create_organization(
        &self,
        owner: UserId,
        input: NewOrganization,
    ) -> Result<(Organization, Membership), StoreError> {
        let now = self.now();
        let settings = OrganizationSettings {
            time_zone: input.time_zone,
            ..OrganizationSettings::default()
        };
        let id = OrganizationId::generate();
        let db = self.db.begin().await?;
        let row = organization::ActiveModel {
            id: Set(id.as_uuid()),
            name: Set(input.name.into_inner()),
            time_zone: Set(settings.time_zone.name().to_owned()),
            check_in_cadence_days: Set(cadence_days(&settings)),
            objective_limit: Set(limit(settings.objective_limit)),
            key_result_limit: Set(limit(settings.key_result_limit)),
            enforce_limits: Set(settings.enforce_limits),
            event_sequence: Set(0),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            archived_at: Set(None),
        }
        .insert(&db)
        .await?;
        let membership = membership::ActiveModel {
            id: Set(MembershipId::generate().as_uuid()),
            organization_id: Set(id.as_uuid()),
            user_id: Set(owner.as_uuid()),
            role: Set(Role::Owner.as_str().to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&db)
        .await?;
        audit_entry::ActiveModel {
            id: Set(headway_domain::ids::AuditEntryId::generate().as_uuid()),
            organization_id: Set(id.as_uuid()),
            user_id: Set(Some(owner.as_uuid())),
            api_token_id: Set(None),
            action: Set("createOrganization".to_owned()),
            record_type: Set("Organization".to_owned()),
            record_id: Set(id.as_uuid()),
            changes: Set(crate::tx::changed_fields(None, Some(&row)).to_string()),
            occurred_at: Set(now),
        }
        .insert(&db)
        .await?;
        db.commit().await?;
        Ok((
            convert::organization(row)?,
            convert::membership(membership)?,
        ))
    }

    /// Reads an organization; archived organizations read as missing.
    pub async fn organization(
        &self,
        organization_id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        let row = organization::Entity::find_by_id(organization_id.as_uuid())
            .one(&self.db)
            .await?;
        row.filter(|row| row.archived_at.is_none())
            .map(convert::organization)
            .transpose()
    }

    pub async fn update_organization(
        &self,
        actor: Actor,
        changes: OrganizationChanges,
    ) -> Result<Organization, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let current = tx.organization.clone();
        if let Some(expected) = changes.expected_version
            && expected != current.version
        {
            return Err(StoreError::version_conflict(expected, current.version));
        }
        let row = organization::Entity::find_by_id(actor.organization_id.as_uuid())
            .one(&tx.db)
            .await?
            .ok_or(StoreError::OrganizationNotFound)?;
        let before = row.clone();
        let mut update = row.into_active_model();
        if let Some(name) = changes.name {
            update.name = Set(name.into_inner());
        }
        if let Some(time_zone) = changes.time_zone {
            update.time_zone = Set(time_zone.name().to_owned());
        }
        if let Some(cadence) = changes.check_in_cadence {
            update.check_in_cadence_days = Set(i32::try_from(cadence.days()).unwrap_or(i32::MAX));
        }
        if let Some(objective_limit) = changes.objective_limit {
            update.objective_limit = Set(limit(objective_limit));
        }
        if let Some(key_result_limit) = changes.key_result_limit {
            update.key_result_limit = Set(limit(key_result_limit));
        }
        if let Some(enforce) = changes.enforce_limits {
            update.enforce_limits = Set(enforce);
        }
        if changes_nothing(&before, &update) {
            tx.commit(self).await?;
            return convert::organization(before);
        }
        update.version = Set(current.version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "updateOrganization",
            "Organization",
            row.id,
            Some(&before),
            Some(&row),
        );
        tx.commit(self).await?;
        convert::organization(row)
    }
}

impl Store {
    /// Archives the organization: its members and tokens lose access at once. The data stays
    /// in the database.
    pub async fn archive_organization(
        &self,
        actor: Actor,
        expected_version: Option<i32>,
    ) -> Result<Organization, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        if let Some(expected) = expected_version
            && expected != tx.organization.version
        {
            return Err(StoreError::version_conflict(
                expected,
                tx.organization.version,
            ));
        }
        let row = organization::Entity::find_by_id(actor.organization_id.as_uuid())
            .one(&tx.db)
            .await?
            .ok_or(StoreError::OrganizationNotFound)?;
        let before = row.clone();
        let version = row.version;
        let mut update = row.into_active_model();
        update.archived_at = Set(Some(tx.now));
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "archiveOrganization",
            "Organization",
            row.id,
            Some(&before),
            Some(&row),
        );
        tx.commit(self).await?;
        convert::organization(row)
    }

    /// Whether any organization exists; the first embedded start seeds a demo when none does.
    pub async fn has_organizations(&self) -> Result<bool, StoreError> {
        Ok(organization::Entity::find().one(&self.db).await?.is_some())
    }
}
