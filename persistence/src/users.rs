//! Users, provisioned from identity claims, and their memberships.

use crate::convert;
use crate::entities::{membership, organization, user};
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest, SortKey};
use crate::tx::{WriteTx, changes_nothing};
use crate::{Actor, Store};
use headway_domain::ids::{MembershipId, OrganizationId, UserId};
use headway_domain::model::{Membership, Organization, Role, User};
use headway_domain::values::{Email, Name};
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, JoinType, QueryFilter, QuerySelect,
};
use uuid::Uuid;

/// What an identity token says about its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserClaims {
    /// The identity provider's subject (`sub`).
    pub external_id: String,
    pub email: Option<Email>,
    pub name: Option<String>,
}

/// A person to add to an organization, who may not have signed in yet.
#[derive(Clone, Debug)]
pub struct NewMember {
    pub email: Email,
    pub name: Option<Name>,
    pub role: Role,
}

/// The longest display name kept from identity claims; longer names are cut.
const MAX_CLAIMED_NAME_CHARS: usize = 200;

fn display_name(claims: &UserClaims) -> String {
    let name = claims
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            name.chars()
                .filter(|c| !c.is_control())
                .take(MAX_CLAIMED_NAME_CHARS)
                .collect()
        })
        .or_else(|| claims.email.as_ref().map(|email| email.as_str().to_owned()));
    name.unwrap_or_else(|| {
        claims
            .external_id
            .chars()
            .take(MAX_CLAIMED_NAME_CHARS)
            .collect()
    })
}

impl Store {
    /// Finds or creates the user of an identity token.
    ///
    /// A new subject first claims an invited user with the same e-mail address who has not
    /// signed in yet; otherwise a user is created. Name and e-mail follow the latest claims.
    pub async fn provision_user(&self, claims: &UserClaims) -> Result<User, StoreError> {
        let now = self.now();
        let name = display_name(claims);
        let email = claims.email.as_ref().map(|email| email.as_str().to_owned());
        if let Some(row) = user::Entity::find()
            .filter(user::Column::ExternalId.eq(claims.external_id.as_str()))
            .one(&self.db)
            .await?
        {
            if row.name == name && (email.is_none() || row.email == email) {
                return convert::user(row);
            }
            let mut update = row.into_active_model();
            update.name = Set(name);
            if email.is_some() {
                update.email = Set(email);
            }
            update.updated_at = Set(now);
            return convert::user(update.update(&self.db).await?);
        }
        if let Some(email) = &email {
            let invited = user::Entity::find()
                .filter(user::Column::Email.eq(email.as_str()))
                .filter(user::Column::ExternalId.is_null())
                .one(&self.db)
                .await?;
            if let Some(invited) = invited {
                let mut update = invited.into_active_model();
                update.external_id = Set(Some(claims.external_id.clone()));
                update.name = Set(name.clone());
                update.updated_at = Set(now);
                match update.update(&self.db).await {
                    Ok(row) => return convert::user(row),
                    Err(error) if StoreError::is_unique_violation(&error) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        let row = user::ActiveModel {
            id: Set(UserId::generate().as_uuid()),
            external_id: Set(Some(claims.external_id.clone())),
            email: Set(email),
            name: Set(name),
            created_at: Set(now),
            updated_at: Set(now),
        };
        // Two first requests of one user may race; the loser reads the winner's row.
        user::Entity::insert(row)
            .on_conflict(
                OnConflict::column(user::Column::ExternalId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        let row = user::Entity::find()
            .filter(user::Column::ExternalId.eq(claims.external_id.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a provisioned user vanished".to_owned()))?;
        convert::user(row)
    }

    /// Lists every membership of a user in an organization that is not archived, with the
    /// organization, in one statement.
    pub async fn memberships_of_user(
        &self,
        user_id: UserId,
    ) -> Result<Vec<(Membership, Organization)>, StoreError> {
        let organization_of_membership = membership::Entity::belongs_to(organization::Entity)
            .from(membership::Column::OrganizationId)
            .to(organization::Column::Id)
            .into();
        let rows = membership::Entity::find()
            .join(JoinType::InnerJoin, organization_of_membership)
            .filter(membership::Column::UserId.eq(user_id.as_uuid()))
            .filter(organization::Column::ArchivedAt.is_null())
            .select_also(organization::Entity)
            .all(&self.db)
            .await?;
        let mut memberships = Vec::with_capacity(rows.len());
        for (membership, organization) in rows {
            // The inner join returns an organization for every row.
            if let Some(organization) = organization {
                memberships.push((
                    convert::membership(membership)?,
                    convert::organization(organization)?,
                ));
            }
        }
        Ok(memberships)
    }

    /// The users among `ids` who are members of the organization.
    pub async fn users_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[UserId],
    ) -> Result<Vec<User>, StoreError> {
        let member_ids: Vec<Uuid> = membership::Entity::find()
            .select_only()
            .column(membership::Column::UserId)
            .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
            .filter(membership::Column::UserId.is_in(ids.iter().map(|id| id.as_uuid())))
            .into_tuple()
            .all(&self.db)
            .await?;
        if member_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = user::Entity::find()
            .filter(user::Column::Id.is_in(member_ids))
            .all(&self.db)
            .await?;
        convert::all(rows, convert::user)
    }

    pub async fn memberships_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[MembershipId],
    ) -> Result<Vec<Membership>, StoreError> {
        let rows = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
            .filter(membership::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
            .all(&self.db)
            .await?;
        convert::all(rows, convert::membership)
    }

    /// The membership of `user_id` in the organization, if any.
    pub async fn membership(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
            .filter(membership::Column::UserId.eq(user_id.as_uuid()))
            .one(&self.db)
            .await?
            .map(convert::membership)
            .transpose()
    }

    pub async fn memberships_page(
        &self,
        organization_id: OrganizationId,
        request: PageRequest,
    ) -> Result<Page<Membership>, StoreError> {
        let select = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()));
        page::paginate(
            &self.db,
            select,
            SortKey::Id(membership::Column::Id),
            request,
        )
        .await?
        .try_map(convert::membership)
    }

    pub async fn count_memberships(
        &self,
        organization_id: OrganizationId,
    ) -> Result<u64, StoreError> {
        let select = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()));
        page::count(&self.db, select).await
    }

    /// Adds a person to the organization by e-mail address. A person who never signed in
    /// becomes an invited user whom their first sign-in with that address claims.
    pub async fn add_member(
        &self,
        actor: Actor,
        input: NewMember,
    ) -> Result<Membership, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(input.email.as_str()))
            .one(&tx.db)
            .await?;
        let user_id = match existing {
            Some(row) => row.id,
            None => {
                let name = input
                    .name
                    .map_or_else(|| input.email.as_str().to_owned(), Name::into_inner);
                user::ActiveModel {
                    id: Set(UserId::generate().as_uuid()),
                    external_id: Set(None),
                    email: Set(Some(input.email.as_str().to_owned())),
                    name: Set(name),
                    created_at: Set(tx.now),
                    updated_at: Set(tx.now),
                }
                .insert(&tx.db)
                .await?
                .id
            }
        };
        let already = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(actor.organization_id.as_uuid()))
            .filter(membership::Column::UserId.eq(user_id))
            .one(&tx.db)
            .await?;
        if already.is_some() {
            return Err(ValidationError::new(
                "email",
                ErrorCode::Taken,
                format!(
                    "{} is already a member of the organization",
                    input.email.as_str()
                ),
            )
            .into());
        }
        let row = membership::ActiveModel {
            id: Set(MembershipId::generate().as_uuid()),
            organization_id: Set(actor.organization_id.as_uuid()),
            user_id: Set(user_id),
            role: Set(input.role.as_str().to_owned()),
            version: Set(1),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row("addMember", "Membership", row.id, None, Some(&row));
        tx.commit(self).await?;
        convert::membership(row)
    }

    async fn locked_membership(
        tx: &WriteTx,
        membership_id: MembershipId,
    ) -> Result<membership::Model, StoreError> {
        membership::Entity::find_by_id(membership_id.as_uuid())
            .filter(membership::Column::OrganizationId.eq(tx.organization_id().as_uuid()))
            .one(&tx.db)
            .await?
            .ok_or_else(|| StoreError::not_found("membershipId", "membership"))
    }

    async fn ensure_another_owner(tx: &WriteTx, leaving: Uuid) -> Result<(), StoreError> {
        let owners = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(tx.organization_id().as_uuid()))
            .filter(membership::Column::Role.eq(Role::Owner.as_str()))
            .filter(membership::Column::Id.ne(leaving))
            .count(&tx.db)
            .await?;
        if owners == 0 {
            return Err(ValidationError::new(
                "membershipId",
                ErrorCode::Invalid,
                "this is the organization's last OWNER; make another member OWNER first",
            )
            .into());
        }
        Ok(())
    }

    pub async fn change_member_role(
        &self,
        actor: Actor,
        membership_id: MembershipId,
        role: Role,
        expected_version: Option<i32>,
    ) -> Result<Membership, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = Self::locked_membership(&tx, membership_id).await?;
        if let Some(expected) = expected_version
            && expected != row.version
        {
            return Err(StoreError::version_conflict(expected, row.version));
        }
        if row.role == Role::Owner.as_str() && role != Role::Owner {
            Self::ensure_another_owner(&tx, row.id).await?;
        }
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.role = Set(role.as_str().to_owned());
        if changes_nothing(&before, &update) {
            tx.commit(self).await?;
            return convert::membership(before);
        }
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "updateMemberRole",
            "Membership",
            row.id,
            Some(&before),
            Some(&row),
        );
        tx.commit(self).await?;
        convert::membership(row)
    }

    /// Removes a member from the organization. The user keeps their other memberships.
    pub async fn remove_member(
        &self,
        actor: Actor,
        membership_id: MembershipId,
    ) -> Result<Membership, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = Self::locked_membership(&tx, membership_id).await?;
        if row.role == Role::Owner.as_str() {
            Self::ensure_another_owner(&tx, row.id).await?;
        }
        let removed = convert::membership(row.clone())?;
        crate::entities::team_member::Entity::delete_many()
            .filter(
                crate::entities::team_member::Column::OrganizationId
                    .eq(actor.organization_id.as_uuid()),
            )
            .filter(crate::entities::team_member::Column::UserId.eq(row.user_id))
            .exec(&tx.db)
            .await?;
        membership::Entity::delete_by_id(row.id)
            .exec(&tx.db)
            .await?;
        tx.audit_row("removeMember", "Membership", row.id, Some(&row), None);
        tx.commit(self).await?;
        Ok(removed)
    }
}

use sea_orm::PaginatorTrait as _;
