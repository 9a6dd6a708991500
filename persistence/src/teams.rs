//! Teams, their hierarchy and their members.

use crate::convert;
use crate::entities::{membership, team, team_member};
use crate::error::{StoreError, check_version};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::scoped::{self, OrganizationScoped};
use crate::tx::{WriteTx, changes_nothing};
use crate::{Actor, Store};
use headway_domain::alignment::{self, MAX_DEPTH};
use headway_domain::ids::{OrganizationId, TeamId, UserId};
use headway_domain::model::Team;
use headway_domain::values::{Description, ExternalKey, Name};
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct NewTeam {
    pub name: Name,
    pub description: Option<Description>,
    pub parent_id: Option<TeamId>,
    pub external_key: Option<ExternalKey>,
}

/// Changes to a team; an outer `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct TeamChanges {
    pub expected_version: Option<i32>,
    pub name: Option<Name>,
    pub description: Option<Option<Description>>,
    pub parent_id: Option<Option<TeamId>>,
    pub external_key: Option<Option<ExternalKey>>,
}

/// The parents of the team `parent_id`, nearest first, up to the maximum depth.
async fn team_ancestors<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    parent_id: Uuid,
) -> Result<Vec<TeamId>, StoreError> {
    let mut chain = Vec::new();
    let mut next = scoped::find_one::<team::Entity, _>(db, organization_id, parent_id)
        .await?
        .and_then(|row| row.parent_id);
    while let Some(id) = next {
        if chain.len() > MAX_DEPTH || chain.contains(&TeamId::from(id)) {
            break;
        }
        chain.push(TeamId::from(id));
        next = scoped::find_one::<team::Entity, _>(db, organization_id, id)
            .await?
            .and_then(|row| row.parent_id);
    }
    Ok(chain)
}

/// Checks that `parent_id` is an active team of the organization that `team` may sit below.
async fn validate_team_parent(
    tx: &WriteTx,
    team: Option<TeamId>,
    parent_id: TeamId,
) -> Result<(), StoreError> {
    let parent =
        scoped::find_one::<team::Entity, _>(&tx.db, tx.organization_id(), parent_id.as_uuid())
            .await?
            .ok_or_else(|| StoreError::not_found("parentId", "team"))?;
    if parent.archived_at.is_some() {
        return Err(ValidationError::new(
            "parentId",
            ErrorCode::Archived,
            "the parent team is archived",
        )
        .into());
    }
    let ancestors = team_ancestors(&tx.db, tx.organization_id(), parent.id).await?;
    alignment::validate_parent("parentId", team, parent_id, &ancestors)?;
    Ok(())
}

/// Checks that no other team of the organization uses `key`.
async fn ensure_team_key_free(
    tx: &WriteTx,
    key: &ExternalKey,
    except: Option<Uuid>,
) -> Result<(), StoreError> {
    let mut select = team::Entity::find_in(tx.organization_id())
        .filter(team::Column::ExternalKey.eq(key.as_str()));
    if let Some(except) = except {
        select = select.filter(team::Column::Id.ne(except));
    }
    if select.one(&tx.db).await?.is_some() {
        return Err(ValidationError::new(
            "externalKey",
            ErrorCode::Taken,
            format!("another team already uses the external key \"{key}\""),
        )
        .into());
    }
    Ok(())
}

/// Checks that `user_id` is a member of the organization. Errors name `field`.
pub(crate) async fn ensure_member<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    user_id: UserId,
    field: &str,
) -> Result<(), StoreError> {
    let member = membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
        .filter(membership::Column::UserId.eq(user_id.as_uuid()))
        .one(db)
        .await?;
    match member {
        Some(_) => Ok(()),
        None => Err(StoreError::not_found(field, "member")),
    }
}

/// Loads an active team for a write. Errors name `field`.
pub(crate) async fn active_team<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    team_id: TeamId,
    field: &str,
) -> Result<team::Model, StoreError> {
    let row = scoped::find_one::<team::Entity, _>(db, organization_id, team_id.as_uuid())
        .await?
        .ok_or_else(|| StoreError::not_found(field, "team"))?;
    if row.archived_at.is_some() {
        return Err(
            ValidationError::new(field, ErrorCode::Archived, "the team is archived").into(),
        );
    }
    Ok(row)
}

impl Store {
    pub async fn create_team(&self, actor: Actor, input: NewTeam) -> Result<Team, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        if let Some(parent_id) = input.parent_id {
            validate_team_parent(&tx, None, parent_id).await?;
        }
        if let Some(key) = &input.external_key {
            ensure_team_key_free(&tx, key, None).await?;
        }
        let row = team::ActiveModel {
            id: Set(TeamId::generate().as_uuid()),
            organization_id: Set(actor.organization_id.as_uuid()),
            name: Set(input.name.into_inner()),
            description: Set(input.description.map(Description::into_inner)),
            parent_id: Set(input.parent_id.map(Into::into)),
            external_key: Set(input.external_key.map(ExternalKey::into_inner)),
            version: Set(1),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            archived_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row("createTeam", "Team", row.id, None, Some(&row));
        tx.commit(self).await?;
        convert::team(row)
    }

    pub async fn update_team(
        &self,
        actor: Actor,
        team_id: TeamId,
        changes: TeamChanges,
    ) -> Result<Team, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = active_team(&tx.db, actor.organization_id, team_id, "id").await?;
        check_version(changes.expected_version, row.version)?;
        if let Some(Some(parent_id)) = changes.parent_id {
            validate_team_parent(&tx, Some(team_id), parent_id).await?;
        }
        if let Some(Some(key)) = &changes.external_key {
            ensure_team_key_free(&tx, key, Some(row.id)).await?;
        }
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        if let Some(name) = changes.name {
            update.name = Set(name.into_inner());
        }
        if let Some(description) = changes.description {
            update.description = Set(description.map(Description::into_inner));
        }
        if let Some(parent_id) = changes.parent_id {
            update.parent_id = Set(parent_id.map(Into::into));
        }
        if let Some(key) = changes.external_key {
            update.external_key = Set(key.map(ExternalKey::into_inner));
        }
        if changes_nothing(&before, &update) {
            tx.commit(self).await?;
            return convert::team(before);
        }
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row("updateTeam", "Team", row.id, Some(&before), Some(&row));
        tx.commit(self).await?;
        convert::team(row)
    }

    /// Archives a team. Its objectives and KPIs keep the link; archived teams take no new ones.
    pub async fn archive_team(
        &self,
        actor: Actor,
        team_id: TeamId,
        expected_version: Option<i32>,
    ) -> Result<Team, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = active_team(&tx.db, actor.organization_id, team_id, "id").await?;
        check_version(expected_version, row.version)?;
        let active_children = team::Entity::find_in(actor.organization_id)
            .filter(team::Column::ParentId.eq(row.id))
            .filter(team::Column::ArchivedAt.is_null())
            .one(&tx.db)
            .await?;
        if active_children.is_some() {
            return Err(ValidationError::new(
                "id",
                ErrorCode::Invalid,
                "the team has active child teams; archive or move them first",
            )
            .into());
        }
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.archived_at = Set(Some(tx.now));
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row("archiveTeam", "Team", row.id, Some(&before), Some(&row));
        tx.commit(self).await?;
        convert::team(row)
    }

    pub async fn add_team_member(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
    ) -> Result<Team, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = active_team(&tx.db, actor.organization_id, team_id, "teamId").await?;
        ensure_member(&tx.db, actor.organization_id, user_id, "userId").await?;
        let existing = team_member::Entity::find_by_id((row.id, user_id.as_uuid()))
            .one(&tx.db)
            .await?;
        if existing.is_none() {
            team_member::ActiveModel {
                team_id: Set(row.id),
                user_id: Set(user_id.as_uuid()),
                organization_id: Set(actor.organization_id.as_uuid()),
                created_at: Set(tx.now),
            }
            .insert(&tx.db)
            .await?;
            tx.audit(
                "addTeamMember",
                "Team",
                row.id,
                serde_json::json!({ "members": { "added": user_id.as_uuid() } }),
            );
        }
        tx.commit(self).await?;
        convert::team(row)
    }

    pub async fn remove_team_member(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
    ) -> Result<Team, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = active_team(&tx.db, actor.organization_id, team_id, "teamId").await?;
        let removed = team_member::Entity::delete_many()
            .filter(team_member::Column::TeamId.eq(row.id))
            .filter(team_member::Column::UserId.eq(user_id.as_uuid()))
            .exec(&tx.db)
            .await?;
        if removed.rows_affected == 0 {
            return Err(StoreError::not_found("userId", "team member"));
        }
        tx.audit(
            "removeTeamMember",
            "Team",
            row.id,
            serde_json::json!({ "members": { "removed": user_id.as_uuid() } }),
        );
        tx.commit(self).await?;
        convert::team(row)
    }

    pub async fn teams_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[TeamId],
    ) -> Result<Vec<Team>, StoreError> {
        let rows = scoped::find_many::<team::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        convert::all(rows, convert::team)
    }

    fn teams_select(
        organization_id: OrganizationId,
        parent: Option<Option<TeamId>>,
        include_archived: bool,
    ) -> sea_orm::Select<team::Entity> {
        let mut select = team::Entity::find_in(organization_id);
        match parent {
            Some(Some(parent_id)) => {
                select = select.filter(team::Column::ParentId.eq(parent_id.as_uuid()))
            }
            Some(None) => select = select.filter(team::Column::ParentId.is_null()),
            None => {}
        }
        if !include_archived {
            select = select.filter(team::Column::ArchivedAt.is_null());
        }
        select
    }

    /// Teams of the organization; `parent` selects root teams (`Some(None)`) or the children
    /// of one team.
    pub async fn teams_page(
        &self,
        organization_id: OrganizationId,
        parent: Option<Option<TeamId>>,
        include_archived: bool,
        request: PageRequest,
    ) -> Result<Page<Team>, StoreError> {
        let select = Self::teams_select(organization_id, parent, include_archived);
        page::paginate(&self.db, select, SortKey::Id(team::Column::Id), request)
            .await?
            .try_map(convert::team)
    }

    pub async fn count_teams(
        &self,
        organization_id: OrganizationId,
        parent: Option<Option<TeamId>>,
        include_archived: bool,
    ) -> Result<u64, StoreError> {
        page::count(
            &self.db,
            Self::teams_select(organization_id, parent, include_archived),
        )
        .await
    }

    /// The active child teams of each of `parent_ids`.
    pub async fn child_teams(
        &self,
        organization_id: OrganizationId,
        parent_ids: &[TeamId],
    ) -> Result<Vec<Team>, StoreError> {
        let rows = team::Entity::find_in(organization_id)
            .filter(team::Column::ParentId.is_in(parent_ids.iter().map(|id| id.as_uuid())))
            .filter(team::Column::ArchivedAt.is_null())
            .order_by_asc(team::Column::Id)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::team)
    }

    /// Pairs of (team, member) for each of `team_ids`.
    pub async fn team_members(
        &self,
        organization_id: OrganizationId,
        team_ids: &[TeamId],
    ) -> Result<Vec<(TeamId, UserId)>, StoreError> {
        let rows = team_member::Entity::find()
            .filter(team_member::Column::OrganizationId.eq(organization_id.as_uuid()))
            .filter(team_member::Column::TeamId.is_in(team_ids.iter().map(|id| id.as_uuid())))
            .order_by_asc(team_member::Column::CreatedAt)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (TeamId::from(row.team_id), UserId::from(row.user_id)))
            .collect())
    }

    /// Pairs of (member, team) for each of `user_ids`.
    pub async fn teams_of_users(
        &self,
        organization_id: OrganizationId,
        user_ids: &[UserId],
    ) -> Result<Vec<(UserId, TeamId)>, StoreError> {
        let rows = team_member::Entity::find()
            .filter(team_member::Column::OrganizationId.eq(organization_id.as_uuid()))
            .filter(team_member::Column::UserId.is_in(user_ids.iter().map(|id| id.as_uuid())))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (UserId::from(row.user_id), TeamId::from(row.team_id)))
            .collect())
    }
}
