use super::comment::Comment;
use super::cycle::Cycle;
use super::key_result::{CheckIn, KeyResult};
use super::kpi::{Kpi, KpiMeasurement};
use super::load_one;
use super::objective::Objective;
use super::organization::{Membership, Organization, User};
use super::team::Team;
use super::webhook::{WebhookDelivery, WebhookEndpoint};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::store_failure;
use crate::graphql::ids::{GlobalId, NodeKind};
use async_graphql::{Context, ID, Interface};
use headway_domain::ids::{
    CheckInId, CommentId, CycleId, KeyResultId, KpiId, KpiMeasurementId, MembershipId, ObjectiveId,
    TeamId, UserId, WebhookDeliveryId, WebhookEndpointId,
};

/// A record with a global id, which `node` and `nodes` resolve.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The global id."))]
pub enum Node {
    Organization(Organization),
    User(User),
    Membership(Membership),
    Team(Team),
    Cycle(Cycle),
    Objective(Objective),
    KeyResult(KeyResult),
    CheckIn(CheckIn),
    Kpi(Kpi),
    KpiMeasurement(KpiMeasurement),
    Comment(Comment),
    WebhookEndpoint(WebhookEndpoint),
    WebhookDelivery(WebhookDelivery),
}

/// Resolves a global id in the request's organization; ids of other organizations resolve
/// to `None` like ids that do not exist.
pub async fn resolve_node(ctx: &Context<'_>, id: GlobalId) -> async_graphql::Result<Option<Node>> {
    let organization_id = ctx.read_scope()?;
    Ok(match id.kind {
        NodeKind::Organization if organization_id.as_uuid() == id.uuid => {
            Some(Node::Organization(Organization(ctx.organization().await?)))
        }
        NodeKind::Organization => None,
        // Tokens and audit entries are read through their admin-only lists.
        NodeKind::ApiToken | NodeKind::AuditEntry => None,
        NodeKind::User => load_one(ctx, UserId::from(id.uuid))
            .await?
            .map(|row| Node::User(User(row))),
        NodeKind::Membership => load_one(ctx, MembershipId::from(id.uuid))
            .await?
            .map(|row| Node::Membership(Membership(row))),
        NodeKind::Team => load_one(ctx, TeamId::from(id.uuid))
            .await?
            .map(|row| Node::Team(Team(row))),
        NodeKind::Cycle => load_one(ctx, CycleId::from(id.uuid))
            .await?
            .map(|row| Node::Cycle(Cycle(row))),
        NodeKind::Objective => load_one(ctx, ObjectiveId::from(id.uuid))
            .await?
            .map(|row| Node::Objective(Objective(row))),
        NodeKind::KeyResult => load_one(ctx, KeyResultId::from(id.uuid))
            .await?
            .map(|row| Node::KeyResult(KeyResult::from(row))),
        NodeKind::CheckIn => load_one(ctx, CheckInId::from(id.uuid))
            .await?
            .map(|row| Node::CheckIn(CheckIn(row))),
        NodeKind::Kpi => load_one(ctx, KpiId::from(id.uuid))
            .await?
            .map(|row| Node::Kpi(Kpi(row))),
        NodeKind::KpiMeasurement => load_one(ctx, KpiMeasurementId::from(id.uuid))
            .await?
            .map(|row| Node::KpiMeasurement(KpiMeasurement(row))),
        NodeKind::Comment => load_one(ctx, CommentId::from(id.uuid))
            .await?
            .map(|row| Node::Comment(Comment(row))),
        // Webhooks are for admins; to others their ids read like missing ones.
        NodeKind::WebhookEndpoint | NodeKind::WebhookDelivery
            if ctx.authorize(Permission::Administer).is_err() =>
        {
            None
        }
        NodeKind::WebhookEndpoint => ctx
            .store()?
            .webhook_endpoints_by_ids(organization_id, &[WebhookEndpointId::from(id.uuid)])
            .await
            .map_err(store_failure)?
            .into_iter()
            .next()
            .map(|row| Node::WebhookEndpoint(WebhookEndpoint(row))),
        NodeKind::WebhookDelivery => ctx
            .store()?
            .webhook_deliveries_by_ids(organization_id, &[WebhookDeliveryId::from(id.uuid)])
            .await
            .map_err(store_failure)?
            .into_iter()
            .next()
            .map(|row| Node::WebhookDelivery(WebhookDelivery(row))),
    })
}
