use crate::graphql::connection::connection;
use crate::graphql::connection::{TotalCount, page_request};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::store_failure;
use crate::graphql::ids::{Typed, encode_event_id};
use crate::graphql::scalars::DateTime;
use crate::graphql::subscription::Sequence;
use async_graphql::{Context, Enum, ID, Object};
use headway_domain::webhooks::{self, DeliveryKind, DeliveryStatus};
use headway_persistence::SortCursor;

/// The kinds of events an endpoint can receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum WebhookEventType {
    /// A check-in was recorded.
    CheckInCreated,
    /// A key result's value, progress or pace status changed.
    KeyResultProgressChanged,
    /// An objective's progress or pace status changed.
    ObjectiveProgressChanged,
    /// A key result or objective reached 25, 50, 75 or 100 %.
    MilestoneReached,
    /// A comment was written.
    CommentCreated,
    /// A cycle, objective or other record changed state.
    StateChanged,
    /// A KPI value was recorded.
    KpiMeasurementRecorded,
}

impl From<WebhookEventType> for webhooks::WebhookEventType {
    fn from(kind: WebhookEventType) -> Self {
        match kind {
            WebhookEventType::CheckInCreated => Self::CheckInCreated,
            WebhookEventType::KeyResultProgressChanged => Self::KeyResultProgressChanged,
            WebhookEventType::ObjectiveProgressChanged => Self::ObjectiveProgressChanged,
            WebhookEventType::MilestoneReached => Self::MilestoneReached,
            WebhookEventType::CommentCreated => Self::CommentCreated,
            WebhookEventType::StateChanged => Self::StateChanged,
            WebhookEventType::KpiMeasurementRecorded => Self::KpiMeasurementRecorded,
        }
    }
}

impl From<webhooks::WebhookEventType> for WebhookEventType {
    fn from(kind: webhooks::WebhookEventType) -> Self {
        match kind {
            webhooks::WebhookEventType::CheckInCreated => Self::CheckInCreated,
            webhooks::WebhookEventType::KeyResultProgressChanged => Self::KeyResultProgressChanged,
            webhooks::WebhookEventType::ObjectiveProgressChanged => Self::ObjectiveProgressChanged,
            webhooks::WebhookEventType::MilestoneReached => Self::MilestoneReached,
            webhooks::WebhookEventType::CommentCreated => Self::CommentCreated,
            webhooks::WebhookEventType::StateChanged => Self::StateChanged,
            webhooks::WebhookEventType::KpiMeasurementRecorded => Self::KpiMeasurementRecorded,
        }
    }
}

/// The reason an endpoint is disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum WebhookDisabledReason {
    /// An admin disabled it.
    DisabledByAdmin,
    /// It failed too many attempts in a row (HEADWAY_WEBHOOK_DISABLE_AFTER).
    TooManyFailures,
}

/// The cause of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum WebhookDeliveryKind {
    /// An event from the organization's event log.
    Event,
    /// An admin sent an earlier delivery again.
    Redelivery,
    /// An admin tested the endpoint.
    Test,
}

impl From<DeliveryKind> for WebhookDeliveryKind {
    fn from(kind: DeliveryKind) -> Self {
        match kind {
            DeliveryKind::Event => Self::Event,
            DeliveryKind::Redelivery => Self::Redelivery,
            DeliveryKind::Test => Self::Test,
        }
    }
}

/// The state of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum WebhookDeliveryStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    /// The endpoint responded with a 2xx status.
    Succeeded,
    /// Given up on: the last attempt failed, the endpoint responded with a status that is
    /// not retried (3xx, and 4xx except 408 and 429), or the target is not allowed.
    Failed,
}

impl From<DeliveryStatus> for WebhookDeliveryStatus {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Succeeded => Self::Succeeded,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

impl From<WebhookDeliveryStatus> for DeliveryStatus {
    fn from(status: WebhookDeliveryStatus) -> Self {
        match status {
            WebhookDeliveryStatus::Pending => Self::Pending,
            WebhookDeliveryStatus::Succeeded => Self::Succeeded,
            WebhookDeliveryStatus::Failed => Self::Failed,
        }
    }
}

/// A URL that receives signed event deliveries.
///
/// Each request is a POST with a JSON body and the headers `Headway-Event-Id`,
/// `Headway-Event-Type`, `Headway-Delivery-Id`, `Headway-Timestamp` (Unix seconds) and
/// `Headway-Signature: v1=<hex>`, the HMAC-SHA256 with the endpoint's secret over
/// `<timestamp>.<body>`. A retry keeps the event and delivery ids and signs a fresh
/// timestamp. An endpoint receives its deliveries in event sequence order.
#[derive(Clone)]
pub struct WebhookEndpoint(pub webhooks::WebhookEndpoint);

#[Object]
impl WebhookEndpoint {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn url(&self) -> &str {
        self.0.url.as_str()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The events it receives.
    async fn event_types(&self) -> Vec<WebhookEventType> {
        self.0.event_types.iter().copied().map(Into::into).collect()
    }

    /// Whether deliveries go out. A disabled endpoint keeps its pending deliveries, and
    /// when enabled again it receives the events it missed that are still kept.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    async fn disabled_reason(&self) -> Option<WebhookDisabledReason> {
        match self.0.disabled_reason.as_deref() {
            Some(headway_persistence::webhooks::TOO_MANY_FAILURES) => {
                Some(WebhookDisabledReason::TooManyFailures)
            }
            Some(_) => Some(WebhookDisabledReason::DisabledByAdmin),
            None => None,
        }
    }

    async fn disabled_at(&self) -> Option<DateTime> {
        self.0.disabled_at.map(Into::into)
    }

    /// Failed attempts since the last success.
    async fn consecutive_failures(&self) -> i32 {
        i32::try_from(self.0.consecutive_failures).unwrap_or(i32::MAX)
    }

    /// Increases with every change; pass it as `expectedVersion` to detect concurrent edits.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }

    /// When the endpoint was deleted.
    async fn deleted_at(&self) -> Option<DateTime> {
        self.0.archived_at.map(Into::into)
    }

    /// The delivery log, newest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<WebhookDeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<WebhookDeliveryConnection> {
        let organization_id = ctx.authorize(Permission::Administer)?.organization_id;
        let request = page_request(first, after, last, before)?;
        let store = ctx.store()?.clone();
        let endpoint_id = self.0.id;
        let status = status.map(DeliveryStatus::from);
        let page = store
            .webhook_deliveries_page(organization_id, endpoint_id, status, request)
            .await
            .map_err(store_failure)?;
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            Box::pin(async move {
                store
                    .count_webhook_deliveries(organization_id, endpoint_id, status)
                    .await
            })
        });
        Ok(WebhookDeliveryConnection::build(
            page,
            |delivery| SortCursor {
                time: Some(delivery.created_at),
                id: delivery.id.as_uuid(),
            },
            WebhookDelivery,
            total,
        ))
    }
}

connection!(
    WebhookEndpointConnection,
    WebhookEndpointEdge,
    WebhookEndpoint,
    "A page of webhook endpoints."
);

/// One event sent to one endpoint, with every attempt.
#[derive(Clone)]
pub struct WebhookDelivery(pub webhooks::WebhookDelivery);

#[Object]
impl WebhookDelivery {
    /// The global id, sent as `Headway-Delivery-Id`.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn endpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WebhookEndpoint>> {
        let organization_id = ctx.authorize(Permission::Administer)?.organization_id;
        let endpoints = ctx
            .store()?
            .webhook_endpoints_by_ids(organization_id, &[self.0.endpoint_id])
            .await
            .map_err(store_failure)?;
        Ok(endpoints.into_iter().next().map(WebhookEndpoint))
    }

    async fn kind(&self) -> WebhookDeliveryKind {
        self.0.kind.into()
    }

    /// The event's id, sent as `Headway-Event-Id`; receivers use it to drop duplicates.
    async fn event_id(&self) -> String {
        encode_event_id(self.0.event_id)
    }

    /// The event's type, such as CHECK_IN_CREATED; PING for a test.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// The event's sequence number in the organization; 0 for a test.
    async fn sequence(&self) -> Sequence {
        Sequence(self.0.sequence)
    }

    /// The JSON body that is sent.
    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.status.into()
    }

    /// How many attempts were made.
    async fn attempt_count(&self) -> i32 {
        i32::try_from(self.0.attempts).unwrap_or(i32::MAX)
    }

    /// When a pending delivery is tried next; null when it goes out as soon as it can.
    async fn next_attempt_at(&self) -> Option<DateTime> {
        self.0.next_attempt_at.map(Into::into)
    }

    async fn last_attempt_at(&self) -> Option<DateTime> {
        self.0.last_attempt_at.map(Into::into)
    }

    /// The HTTP status of the last response.
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status.map(i32::from)
    }

    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// The delivery that this one sends again.
    async fn redelivery_of(&self) -> Option<ID> {
        self.0.redelivery_of.map(Typed::to_global)
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When the delivery succeeded or was given up on.
    async fn completed_at(&self) -> Option<DateTime> {
        self.0.completed_at.map(Into::into)
    }

    /// Every attempt, first first.
    async fn attempts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WebhookAttempt>> {
        let organization_id = ctx.authorize(Permission::Administer)?.organization_id;
        let attempts = ctx
            .store()?
            .webhook_attempts(organization_id, self.0.id)
            .await
            .map_err(store_failure)?;
        Ok(attempts.into_iter().map(WebhookAttempt).collect())
    }
}

connection!(
    WebhookDeliveryConnection,
    WebhookDeliveryEdge,
    WebhookDelivery,
    "A page of webhook deliveries, newest first."
);

/// One HTTP request of a delivery.
pub struct WebhookAttempt(pub webhooks::WebhookAttempt);

#[Object]
impl WebhookAttempt {
    /// 1 for the first attempt.
    async fn number(&self) -> i32 {
        i32::try_from(self.0.number).unwrap_or(i32::MAX)
    }

    async fn started_at(&self) -> DateTime {
        self.0.started_at.into()
    }

    /// How long the request took, in milliseconds.
    async fn duration_ms(&self) -> i32 {
        i32::try_from(self.0.duration_ms).unwrap_or(i32::MAX)
    }

    /// The HTTP status of the response; null when none came.
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status.map(i32::from)
    }

    /// The first 1,024 bytes of the response body.
    async fn response_body(&self) -> Option<&str> {
        self.0.response_body.as_deref()
    }

    /// Why the attempt failed: a time-out, a connection error, a status, or a refused
    /// target.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}
