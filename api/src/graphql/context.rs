//! What each request carries into the resolvers: its principal, loaders and fixed "now".

use super::error::{ApiError, store_failure};
use super::loaders::RequestLoaders;
use async_graphql::Context;
use chrono::{DateTime, Utc};
use headway_domain::access::{ApiToken, Scope};
use headway_domain::ids::{CycleId, OrganizationId, UserId};
use headway_domain::model::{Cycle, Membership, Organization, Role, User};
use headway_domain::progress::CycleWindow;
use headway_persistence::{Actor, Store};
use std::collections::HashMap;
use tokio::sync::OnceCell;

/// A signed-in user, with their membership in the organization the request acts on.
#[derive(Clone, Debug)]
pub struct UserPrincipal {
    pub user: User,
    /// `None` while the user belongs to no organization.
    pub membership: Option<Membership>,
    /// The organization of `membership`, as authentication read it.
    pub organization: Option<Organization>,
}

/// Who sends a request.
#[derive(Clone, Debug)]
pub enum Principal {
    /// No credentials: only `__typename` and introspection resolve.
    Anonymous,
    User(UserPrincipal),
    /// An integration with an API token of one organization.
    ApiToken(ApiToken),
}

impl Principal {
    pub fn organization_id(&self) -> Option<OrganizationId> {
        match self {
            Self::Anonymous => None,
            Self::ApiToken(token) => Some(token.organization_id),
            Self::User(principal) => principal
                .membership
                .as_ref()
                .map(|membership| membership.organization_id),
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Self::Anonymous | Self::ApiToken(_) => None,
            Self::User(principal) => principal
                .membership
                .as_ref()
                .map(|membership| membership.role),
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Self::Anonymous | Self::ApiToken(_) => None,
            Self::User(principal) => Some(principal.user.id),
        }
    }

    /// A short name of the principal's kind for logs and spans.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::User(_) => "user",
            Self::ApiToken(_) => "api_token",
        }
    }

    /// A key that identifies the principal for rate limiting.
    pub fn rate_key(&self) -> Option<String> {
        match self {
            Self::Anonymous => None,
            Self::User(principal) => Some(format!("user:{}", principal.user.id)),
            Self::ApiToken(token) => Some(format!("token:{}", token.id)),
        }
    }
}

/// What a resolver needs the principal to be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Read the organization's records.
    Read,
    /// Write objectives, key results, check-ins and comments.
    WritePlans,
    /// Record KPI measurements.
    RecordMeasurements,
    /// Record check-ins.
    CheckIn,
    /// Manage teams, cycles, KPIs, settings and members.
    Administer,
    /// Grant or take away the OWNER and ADMIN roles.
    ManageAdmins,
}

impl Permission {
    pub const fn required_role(self) -> Role {
        match self {
            Self::Read => Role::Viewer,
            Self::WritePlans | Self::RecordMeasurements | Self::CheckIn => Role::Member,
            Self::Administer => Role::Admin,
            Self::ManageAdmins => Role::Owner,
        }
    }

    /// The token scopes that grant the permission; an `ingest` token can record KPI
    /// measurements and check-ins and nothing else, and no token manages admins.
    pub const fn granting_scopes(self) -> &'static [Scope] {
        match self {
            Self::Read => &[Scope::Read, Scope::Write, Scope::Admin],
            Self::WritePlans => &[Scope::Write, Scope::Admin],
            Self::RecordMeasurements | Self::CheckIn => {
                &[Scope::Ingest, Scope::Write, Scope::Admin]
            }
            Self::Administer => &[Scope::Admin],
            Self::ManageAdmins => &[],
        }
    }
}

/// Per-request state, set by the HTTP layer before execution.
pub struct RequestState {
    pub principal: Principal,
    pub request_id: String,
    /// The request's time: every time-dependent figure of one response uses it. `None` for
    /// subscriptions, whose events each read the clock when they resolve.
    pub now: Option<DateTime<Utc>>,
    /// Whether records read once are reused for the rest of the request; off for
    /// subscriptions, which live long and must see changes.
    memoize: bool,
    organization: OnceCell<Organization>,
    /// Every cycle of the organization by id, read once per request: pace, expected
    /// progress and staleness need a cycle for each objective and key result, and an
    /// organization has few cycles.
    cycles: OnceCell<HashMap<CycleId, Cycle>>,
}

impl RequestState {
    pub fn new(principal: Principal, request_id: String, now: DateTime<Utc>) -> Self {
        // The organization that authentication read serves the whole request.
        let organization = match &principal {
            Principal::User(user) => user.organization.clone(),
            Principal::ApiToken(_) | Principal::Anonymous => None,
        };
        Self {
            principal,
            request_id,
            now: Some(now),
            memoize: true,
            organization: OnceCell::new_with(organization),
            cycles: OnceCell::new(),
        }
    }

    /// The state of a long-lived operation such as a subscription.
    pub fn live(principal: Principal, request_id: String) -> Self {
        Self {
            principal,
            request_id,
            now: None,
            memoize: false,
            organization: OnceCell::new(),
            cycles: OnceCell::new(),
        }
    }
}

/// Accessors for the schema- and request-wide data in a resolver's context.
pub trait ContextExt {
    fn state(&self) -> Result<&RequestState, ApiError>;
    fn store(&self) -> Result<&Store, ApiError>;
    fn loader(&self) -> Result<&RequestLoaders, ApiError>;

    /// Checks `permission` and returns the actor for a write.
    fn authorize(&self, permission: Permission) -> Result<Actor, ApiError>;

    /// Checks read access and returns the organization to read from.
    fn read_scope(&self) -> Result<OrganizationId, ApiError> {
        self.authorize(Permission::Read)
            .map(|actor| actor.organization_id)
    }

    /// The organization of the principal, without a permission check. Fields of records
    /// that a mutation returns use it, so that an `ingest` token sees what it changed.
    fn scope(&self) -> Result<OrganizationId, ApiError>;

    /// The request time, or the current time in a subscription.
    fn now(&self) -> Result<DateTime<Utc>, ApiError> {
        match self.state()?.now {
            Some(now) => Ok(now),
            None => Ok(self.store()?.now()),
        }
    }

    /// The organization the request acts on, read once per request.
    fn organization(&self) -> impl Future<Output = Result<Organization, ApiError>> + Send;

    /// A cycle of the organization with its window in the organization's time zone.
    fn cycle_window(
        &self,
        cycle_id: CycleId,
    ) -> impl Future<Output = Result<(Cycle, CycleWindow), ApiError>> + Send;
}

fn missing(what: &str) -> ApiError {
    tracing::error!(missing = what, "schema data missing");
    ApiError::internal()
}

impl ContextExt for Context<'_> {
    fn state(&self) -> Result<&RequestState, ApiError> {
        self.data::<RequestState>()
            .map_err(|_| missing("RequestState"))
    }

    fn store(&self) -> Result<&Store, ApiError> {
        self.data::<Store>().map_err(|_| missing("Store"))
    }

    fn loader(&self) -> Result<&RequestLoaders, ApiError> {
        self.data::<RequestLoaders>()
            .map_err(|_| missing("DataLoader"))
    }

    fn authorize(&self, permission: Permission) -> Result<Actor, ApiError> {
        match &self.state()?.principal {
            Principal::Anonymous => Err(ApiError::unauthenticated(
                "authentication required: send a bearer token in the Authorization header",
            )),
            Principal::ApiToken(token) => {
                let allowed = permission
                    .granting_scopes()
                    .iter()
                    .any(|scope| token.scopes.contains(*scope));
                if !allowed {
                    let needed: Vec<&str> = permission
                        .granting_scopes()
                        .iter()
                        .map(|scope| scope.as_str())
                        .collect();
                    let message = if needed.is_empty() {
                        "API tokens cannot do this; an OWNER must sign in".to_owned()
                    } else {
                        format!(
                            "this token's scopes ({}) do not allow this; it needs one of: {}",
                            token.scopes.to_text(),
                            needed.join(", ")
                        )
                    };
                    return Err(ApiError::forbidden(message));
                }
                Ok(Actor {
                    organization_id: token.organization_id,
                    user_id: None,
                    api_token_id: Some(token.id),
                })
            }
            Principal::User(user) => {
                let Some(membership) = &user.membership else {
                    return Err(ApiError::forbidden(
                        "you are not a member of any organization; create one with createOrganization or ask an admin to add you",
                    ));
                };
                let needed = permission.required_role();
                if !membership.role.includes(needed) {
                    return Err(ApiError::forbidden(format!(
                        "this needs the {} role or higher; your role is {}",
                        needed.as_str(),
                        membership.role.as_str()
                    )));
                }
                Ok(Actor::user(membership.organization_id, user.user.id))
            }
        }
    }

    fn scope(&self) -> Result<OrganizationId, ApiError> {
        match &self.state()?.principal {
            Principal::Anonymous => Err(ApiError::unauthenticated(
                "authentication required: send a bearer token in the Authorization header",
            )),
            principal => principal.organization_id().ok_or_else(|| {
                ApiError::forbidden(
                    "you are not a member of any organization; create one with createOrganization or ask an admin to add you",
                )
            }),
        }
    }

    async fn organization(&self) -> Result<Organization, ApiError> {
        let state = self.state()?;
        let organization_id = self.scope()?;
        let store = self.store()?;
        let read = || async move {
            store
                .organization(organization_id)
                .await
                .map_err(store_failure)?
                .ok_or_else(|| {
                    ApiError::forbidden("the organization of this request no longer exists")
                })
        };
        // A subscription lives for hours, so it reads the organization for every event.
        if !state.memoize {
            return read().await;
        }
        state.organization.get_or_try_init(read).await.cloned()
    }

    async fn cycle_window(&self, cycle_id: CycleId) -> Result<(Cycle, CycleWindow), ApiError> {
        let state = self.state()?;
        let organization_id = self.scope()?;
        let store = self.store()?;
        let time_zone = self.organization().await?.settings.time_zone;
        let cycle = if state.memoize {
            let cycles = state
                .cycles
                .get_or_try_init(|| async move {
                    let cycles = store
                        .cycles_of_organization(organization_id)
                        .await
                        .map_err(store_failure)?;
                    Ok::<_, ApiError>(cycles.into_iter().map(|cycle| (cycle.id, cycle)).collect())
                })
                .await?;
            cycles.get(&cycle_id).cloned()
        } else {
            store
                .cycles_by_ids(organization_id, &[cycle_id])
                .await
                .map_err(store_failure)?
                .into_iter()
                .next()
        };
        let cycle = cycle.ok_or_else(|| {
            tracing::error!(cycle_id = %cycle_id, "cycle of a record missing");
            ApiError::internal()
        })?;
        let window = CycleWindow::new(cycle.start_date, cycle.end_date, time_zone);
        Ok((cycle, window))
    }
}
