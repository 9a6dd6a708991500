use super::input::{self, Parsed, parse_all, payload, user_errors};
use crate::graphql::context::{ContextExt, Permission, Principal};
use crate::graphql::error::{ApiError, user_result};
use crate::graphql::objects::enums::Role;
use crate::graphql::objects::organization::{Membership, Organization};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use headway_domain::ValidationError;
use headway_domain::ids::MembershipId;
use headway_domain::values::{CheckInCadence, CountLimit, Email, Name, TimeZone};
use headway_persistence::{NewMember, NewOrganization, OrganizationChanges};

/// A new organization; its creator becomes its first OWNER.
#[derive(InputObject)]
pub struct CreateOrganizationInput {
    /// At most 100 characters.
    pub name: String,
    /// The IANA time zone in which cycles start and end.
    #[graphql(default = "UTC")]
    pub time_zone: String,
}

/// Changes to the organization's name and settings. Left-out fields stay as they are, and
/// none of them can be cleared, so null is rejected.
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    /// Fails with a CONFLICT user error when the organization is at another version.
    pub expected_version: Option<i32>,
    pub name: MaybeUndefined<String>,
    /// The IANA time zone, such as `Europe/Berlin`.
    pub time_zone: MaybeUndefined<String>,
    /// How often owners are expected to check in, in days (1 to 90).
    pub check_in_cadence_days: MaybeUndefined<i32>,
    /// Objectives per owner per cycle (1 to 100).
    pub objective_limit: MaybeUndefined<i32>,
    /// Key results per objective (1 to 100).
    pub key_result_limit: MaybeUndefined<i32>,
    /// Whether exceeding a limit rejects the change instead of warning.
    pub enforce_limits: MaybeUndefined<bool>,
}

/// A person to add by e-mail address. Someone who has never signed in is invited: their
/// first sign-in with that address joins them.
#[derive(InputObject)]
pub struct AddMemberInput {
    pub email: String,
    /// The display name until the person signs in.
    pub name: Option<String>,
    #[graphql(default_with = "Role::Member")]
    pub role: Role,
}

#[derive(InputObject)]
pub struct UpdateMemberRoleInput {
    pub membership_id: ID,
    pub role: Role,
    /// Fails with a CONFLICT user error when the membership is at another version.
    pub expected_version: Option<i32>,
}

#[derive(InputObject)]
pub struct RemoveMemberInput {
    pub membership_id: ID,
}

/// The organization to archive.
#[derive(InputObject)]
pub struct ArchiveOrganizationInput {
    /// Fails with a CONFLICT user error when the organization is at another version.
    pub expected_version: Option<i32>,
}

payload!(ArchiveOrganizationPayload, organization: Organization, "The result of archiveOrganization.");
payload!(CreateOrganizationPayload, organization: Organization, "The result of createOrganization.");
payload!(UpdateOrganizationPayload, organization: Organization, "The result of updateOrganization.");
payload!(AddMemberPayload, membership: Membership, "The result of addMember.");
payload!(UpdateMemberRolePayload, membership: Membership, "The result of updateMemberRole.");
payload!(RemoveMemberPayload, membership: Membership, "The result of removeMember: the membership as it was.");

fn count_setting(
    field: &str,
    value: MaybeUndefined<i32>,
    parse: fn(i64) -> Result<CountLimit, ValidationError>,
) -> Result<Option<CountLimit>, ValidationError> {
    input::settable(field, value, |value| {
        parse(i64::from(value)).map_err(|error| error.in_field(field))
    })
}

impl CreateOrganizationInput {
    fn parse(&self) -> Parsed<NewOrganization> {
        parse_all! {
            name = input::name("name", &self.name);
            time_zone = TimeZone::parse(&self.time_zone).map_err(|error| error.in_field("timeZone"));
        }
        Ok(NewOrganization { name, time_zone })
    }
}

impl UpdateOrganizationInput {
    fn parse(self) -> Parsed<OrganizationChanges> {
        parse_all! {
            name = input::settable("name", self.name, |raw| input::name("name", &raw));
            time_zone = input::settable("timeZone", self.time_zone, |raw| {
                TimeZone::parse(&raw).map_err(|error| error.in_field("timeZone"))
            });
            check_in_cadence = input::settable("checkInCadenceDays", self.check_in_cadence_days, |days| {
                CheckInCadence::new(i64::from(days)).map_err(|error| error.in_field("checkInCadenceDays"))
            });
            objective_limit = count_setting("objectiveLimit", self.objective_limit, CountLimit::new);
            key_result_limit = count_setting("keyResultLimit", self.key_result_limit, CountLimit::new);
            enforce_limits = input::settable("enforceLimits", self.enforce_limits, Ok);
        }
        Ok(OrganizationChanges {
            expected_version: self.expected_version,
            name,
            time_zone,
            check_in_cadence,
            objective_limit,
            key_result_limit,
            enforce_limits,
        })
    }
}

impl AddMemberInput {
    fn parse(&self) -> Parsed<NewMember> {
        parse_all! {
            email = Email::parse(&self.email).map_err(|error| error.in_field("email"));
            name = input::optional(self.name.as_deref(), |raw| Name::parse(raw).map_err(|error| error.in_field("name")));
        }
        Ok(NewMember {
            email,
            name,
            role: self.role.into(),
        })
    }
}

/// Checks that the actor may grant or take away `role`: OWNER and ADMIN need an OWNER.
fn role_permission(role: headway_domain::model::Role) -> Permission {
    match role {
        headway_domain::model::Role::Owner | headway_domain::model::Role::Admin => {
            Permission::ManageAdmins
        }
        _ => Permission::Administer,
    }
}

#[derive(Default)]
pub struct OrganizationMutations;

#[Object]
impl OrganizationMutations {
    /// Creates an organization with the signed-in user as its OWNER.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> async_graphql::Result<CreateOrganizationPayload> {
        let principal = match &ctx.state()?.principal {
            Principal::User(principal) => principal,
            Principal::ApiToken(_) => {
                return Err(ApiError::forbidden(
                    "API tokens cannot create organizations; a person must sign in",
                )
                .into());
            }
            Principal::Anonymous => {
                return Err(ApiError::unauthenticated(
                    "authentication required: send a bearer token in the Authorization header",
                )
                .into());
            }
        };
        let new = match input.parse() {
            Ok(new) => new,
            Err(errors) => return Ok(CreateOrganizationPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .create_organization(principal.user.id, new)
                    .await,
            )? {
                Ok((organization, _)) => {
                    CreateOrganizationPayload::done(Organization(organization))
                }
                Err(errors) => CreateOrganizationPayload::rejected(errors),
            },
        )
    }

    /// Changes the organization's name and settings. Needs ADMIN.
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> async_graphql::Result<UpdateOrganizationPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let changes = match input.parse() {
            Ok(changes) => changes,
            Err(errors) => return Ok(UpdateOrganizationPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.update_organization(actor, changes).await)? {
                Ok(organization) => UpdateOrganizationPayload::done(Organization(organization)),
                Err(errors) => UpdateOrganizationPayload::rejected(errors),
            },
        )
    }

    /// Archives the organization: every member and API token loses access at once. Needs OWNER.
    async fn archive_organization(
        &self,
        ctx: &Context<'_>,
        input: ArchiveOrganizationInput,
    ) -> async_graphql::Result<ArchiveOrganizationPayload> {
        let actor = ctx.authorize(Permission::ManageAdmins)?;
        Ok(
            match user_result(
                ctx.store()?
                    .archive_organization(actor, input.expected_version)
                    .await,
            )? {
                Ok(organization) => ArchiveOrganizationPayload::done(Organization(organization)),
                Err(errors) => ArchiveOrganizationPayload::rejected(errors),
            },
        )
    }

    /// Adds a person to the organization. Needs ADMIN, and OWNER to add an ADMIN or OWNER.
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        input: AddMemberInput,
    ) -> async_graphql::Result<AddMemberPayload> {
        let actor = ctx.authorize(role_permission(input.role.into()))?;
        let new = match input.parse() {
            Ok(new) => new,
            Err(errors) => return Ok(AddMemberPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.add_member(actor, new).await)? {
                Ok(membership) => AddMemberPayload::done(Membership(membership)),
                Err(errors) => AddMemberPayload::rejected(errors),
            },
        )
    }

    /// Changes a member's role. Needs ADMIN, and OWNER when OWNER or ADMIN is granted or
    /// taken away. The last OWNER cannot step down.
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        input: UpdateMemberRoleInput,
    ) -> async_graphql::Result<UpdateMemberRolePayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let membership_id = match input::id::<MembershipId>("membershipId", &input.membership_id) {
            Ok(id) => id,
            Err(error) => return Ok(UpdateMemberRolePayload::rejected(user_errors(vec![error]))),
        };
        let store = ctx.store()?;
        let current = store
            .memberships_by_ids(actor.organization_id, &[membership_id])
            .await
            .map_err(crate::graphql::error::store_failure)?;
        let new_role = input.role.into();
        let old_role = current.first().map(|membership| membership.role);
        let touches_admins = [Some(new_role), old_role]
            .into_iter()
            .flatten()
            .any(|role| role_permission(role) == Permission::ManageAdmins);
        if touches_admins {
            ctx.authorize(Permission::ManageAdmins)?;
        }
        Ok(
            match user_result(
                store
                    .change_member_role(actor, membership_id, new_role, input.expected_version)
                    .await,
            )? {
                Ok(membership) => UpdateMemberRolePayload::done(Membership(membership)),
                Err(errors) => UpdateMemberRolePayload::rejected(errors),
            },
        )
    }

    /// Removes a member. Needs ADMIN, and OWNER to remove an ADMIN or OWNER.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveMemberInput,
    ) -> async_graphql::Result<RemoveMemberPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let membership_id = match input::id::<MembershipId>("membershipId", &input.membership_id) {
            Ok(id) => id,
            Err(error) => return Ok(RemoveMemberPayload::rejected(user_errors(vec![error]))),
        };
        let store = ctx.store()?;
        let current = store
            .memberships_by_ids(actor.organization_id, &[membership_id])
            .await
            .map_err(crate::graphql::error::store_failure)?;
        if current
            .first()
            .is_some_and(|membership| role_permission(membership.role) == Permission::ManageAdmins)
        {
            ctx.authorize(Permission::ManageAdmins)?;
        }
        Ok(
            match user_result(store.remove_member(actor, membership_id).await)? {
                Ok(membership) => RemoveMemberPayload::done(Membership(membership)),
                Err(errors) => RemoveMemberPayload::rejected(errors),
            },
        )
    }
}
