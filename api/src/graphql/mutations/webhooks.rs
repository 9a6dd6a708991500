use super::input::{self, Parsed, parse_all, payload, record_input, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::{ApiError, UserError, user_result};
use crate::graphql::ids::encode_event_id;
use crate::graphql::objects::webhook::{WebhookDelivery, WebhookEndpoint, WebhookEventType};
use crate::webhooks::{Outgoing, Sender, check_target, test_body};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use headway_domain::ids::{EventId, WebhookDeliveryId, WebhookEndpointId};
use headway_domain::webhooks::{self, AttemptVerdict, WebhookSecret, WebhookUrl};
use headway_domain::{ErrorCode, ValidationError};
use headway_persistence::webhooks::{NewWebhookEndpoint, QueuedEvent, WebhookEndpointChanges};
use rand::RngCore;
use std::sync::Arc;

/// An endpoint to register.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// The http or https URL that receives deliveries; at most 2,000 characters, without
    /// credentials, with a port from 1 to 65535 when it names one. Private, loopback and
    /// link-local targets are refused unless HEADWAY_WEBHOOK_ALLOW_NETWORKS allows them.
    pub url: String,
    /// At most 10,000 characters.
    pub description: Option<String>,
    /// The signing secret: 24 to 200 printable ASCII characters. Left out, Headway generates
    /// one and returns it once in the payload.
    pub secret: Option<String>,
    /// The events to receive; at least one.
    pub event_types: Vec<WebhookEventType>,
    /// Whether deliveries go out from now on.
    #[graphql(default = true)]
    pub enabled: bool,
}

/// Changes to an endpoint; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub id: ID,
    pub url: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    /// A new signing secret of the admin's choice. For 24 hours after the change, deliveries
    /// carry two signatures, `v1=<new>,v1=<old>`, so that receivers switch without rejecting
    /// any; then only the new one.
    pub secret: MaybeUndefined<String>,
    /// Whether Headway generates a new secret and returns it once in the payload. The old
    /// secret also signs for 24 hours, as with `secret`.
    #[graphql(default = false)]
    pub regenerate_secret: bool,
    pub event_types: MaybeUndefined<Vec<WebhookEventType>>,
    /// Enabling an endpoint clears its failure count; it then receives the events it missed
    /// that are still kept.
    pub enabled: MaybeUndefined<bool>,
    /// Fails with a CONFLICT user error when the endpoint is at another version.
    pub expected_version: Option<i32>,
}

record_input!(DeleteWebhookEndpointInput, "The endpoint to delete.");

#[derive(InputObject)]
pub struct TestWebhookEndpointInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct RedeliverWebhookDeliveryInput {
    /// The delivery to send again.
    pub id: ID,
}

/// The result of createWebhookEndpoint and updateWebhookEndpoint.
#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    /// The endpoint; null when the input was rejected.
    pub webhook_endpoint: Option<WebhookEndpoint>,
    /// The secret that Headway generated, shown only here, once; null when the admin chose
    /// the secret or kept the old one.
    pub secret: Option<String>,
    /// Problems with the input; empty when the mutation succeeded.
    pub user_errors: Vec<UserError>,
}

impl WebhookEndpointPayload {
    fn rejected(errors: Vec<UserError>) -> Self {
        Self {
            webhook_endpoint: None,
            secret: None,
            user_errors: errors,
        }
    }
}

payload!(
    DeleteWebhookEndpointPayload,
    webhook_endpoint: WebhookEndpoint,
    "The result of deleteWebhookEndpoint."
);
payload!(
    WebhookDeliveryPayload,
    delivery: WebhookDelivery,
    "The result of testWebhookEndpoint and redeliverWebhookDelivery."
);

/// Generates a random secret: `whsec_` and 32 random bytes in base64url.
fn generate_secret() -> Result<WebhookSecret, ValidationError> {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    WebhookSecret::parse(&format!("whsec_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn event_types(
    types: Vec<WebhookEventType>,
) -> Result<Vec<webhooks::WebhookEventType>, ValidationError> {
    webhooks::event_types(types.into_iter().map(Into::into).collect())
}

/// Returns the port text of a URL's authority, such as `70000` in `http://host:70000/in`.
fn port_text(raw: &str) -> Option<&str> {
    let (_, rest) = raw.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, after)| after);
    let after_host = match host_and_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.1,
        None => host_and_port.find(':').map(|at| &host_and_port[at..])?,
    };
    after_host.strip_prefix(':')
}

/// Rejects a URL whose port is 0, larger than 65535 or not a number.
fn check_port(raw: &str) -> Result<(), ValidationError> {
    let raw = raw.trim();
    let port = match url::Url::parse(raw) {
        Err(url::ParseError::InvalidPort) => port_text(raw).unwrap_or_default().to_owned(),
        Ok(url) if url.port() == Some(0) => "0".to_owned(),
        _ => return Ok(()),
    };
    Err(ValidationError::new(
        "url",
        ErrorCode::OutOfRange,
        format!(
            "has the port \"{port}\", but a port must be a number from 1 to 65535, or left out for the scheme's default"
        ),
    ))
}

/// Parses a URL and checks that it may be a target.
async fn target(raw: &str, sender: &Sender) -> Result<WebhookUrl, ValidationError> {
    check_port(raw)?;
    let url = WebhookUrl::parse(raw)?;
    check_target(&url, sender.allowed_networks())
        .await
        .map_err(|reason| ValidationError::new("url", ErrorCode::Invalid, reason))?;
    Ok(url)
}

fn sender<'a>(ctx: &'a Context<'_>) -> Result<&'a Arc<Sender>, ApiError> {
    ctx.data::<Arc<Sender>>().map_err(|_| {
        tracing::error!("the schema lacks the webhook sender");
        ApiError::internal()
    })
}

impl CreateWebhookEndpointInput {
    async fn parse(self, sender: &Sender) -> Parsed<(NewWebhookEndpoint, bool)> {
        let url = target(&self.url, sender).await;
        let generated = self.secret.is_none();
        parse_all! {
            url = url;
            description = input::description("description", self.description.as_deref());
            secret = match self.secret.as_deref() {
                Some(raw) => WebhookSecret::parse(raw),
                None => generate_secret(),
            };
            event_types = event_types(self.event_types);
        }
        Ok((
            NewWebhookEndpoint {
                url,
                description,
                secret,
                event_types,
                enabled: self.enabled,
            },
            generated,
        ))
    }
}

impl UpdateWebhookEndpointInput {
    async fn parse(
        self,
        sender: &Sender,
    ) -> Parsed<(WebhookEndpointId, WebhookEndpointChanges, bool)> {
        let url = match self.url {
            MaybeUndefined::Value(raw) => target(&raw, sender).await.map(Some),
            other => input::settable("url", other, |_: String| Ok(None)).map(Option::flatten),
        };
        let regenerate = self.regenerate_secret;
        let secret = input::settable("secret", self.secret, Ok);
        parse_all! {
            id = input::id::<WebhookEndpointId>("id", &self.id);
            url = url;
            description = input::maybe_description("description", self.description);
            secret = match (secret, regenerate) {
                (Err(error), _) => Err(error),
                (Ok(Some(_)), true) => Err(ValidationError::new(
                    "secret",
                    ErrorCode::Invalid,
                    "send either secret or regenerateSecret: true, not both",
                )),
                (Ok(Some(raw)), false) => WebhookSecret::parse(&raw).map(Some),
                (Ok(None), true) => generate_secret().map(Some),
                (Ok(None), false) => Ok(None),
            };
            event_types = input::settable("eventTypes", self.event_types, event_types);
            enabled = input::settable("enabled", self.enabled, Ok);
        }
        Ok((
            id,
            WebhookEndpointChanges {
                url,
                description,
                secret,
                event_types,
                enabled,
                expected_version: self.expected_version,
            },
            regenerate,
        ))
    }
}

#[derive(Default)]
pub struct WebhookMutations;

#[Object]
impl WebhookMutations {
    /// Registers a webhook endpoint, which receives the chosen events committed from now
    /// on. Needs ADMIN.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let (new, generated) = match input.parse(sender(ctx)?).await {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(WebhookEndpointPayload::rejected(user_errors(errors))),
        };
        let secret = generated.then(|| new.secret.as_str().to_owned());
        Ok(
            match user_result(ctx.store()?.create_webhook_endpoint(actor, new).await)? {
                Ok(endpoint) => WebhookEndpointPayload {
                    webhook_endpoint: Some(WebhookEndpoint(endpoint)),
                    secret,
                    user_errors: Vec::new(),
                },
                Err(errors) => WebhookEndpointPayload::rejected(errors),
            },
        )
    }

    /// Changes, disables, enables or rotates the secret of an endpoint. Needs ADMIN.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let (id, changes, regenerated) = match input.parse(sender(ctx)?).await {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(WebhookEndpointPayload::rejected(user_errors(errors))),
        };
        let secret = changes
            .secret
            .as_ref()
            .filter(|_| regenerated)
            .map(|secret| secret.as_str().to_owned());
        Ok(
            match user_result(
                ctx.store()?
                    .update_webhook_endpoint(actor, id, changes)
                    .await,
            )? {
                Ok(endpoint) => WebhookEndpointPayload {
                    webhook_endpoint: Some(WebhookEndpoint(endpoint)),
                    secret,
                    user_errors: Vec::new(),
                },
                Err(errors) => WebhookEndpointPayload::rejected(errors),
            },
        )
    }

    /// Deletes an endpoint: nothing more goes out to it. Needs ADMIN.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookEndpointInput,
    ) -> async_graphql::Result<DeleteWebhookEndpointPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let id = match input::id::<WebhookEndpointId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => {
                return Ok(DeleteWebhookEndpointPayload::rejected(user_errors(vec![
                    error,
                ])));
            }
        };
        Ok(
            match user_result(
                ctx.store()?
                    .delete_webhook_endpoint(actor, id, input.expected_version)
                    .await,
            )? {
                Ok(endpoint) => DeleteWebhookEndpointPayload::done(WebhookEndpoint(endpoint)),
                Err(errors) => DeleteWebhookEndpointPayload::rejected(errors),
            },
        )
    }

    /// Sends a signed PING to an endpoint now, also a disabled one, and returns the logged
    /// delivery with the response. Needs ADMIN.
    async fn test_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: TestWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookDeliveryPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let id = match input::id::<WebhookEndpointId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(WebhookDeliveryPayload::rejected(user_errors(vec![error]))),
        };
        let store = ctx.store()?;
        let claimed = match user_result(
            store
                .webhook_endpoint_for_test(actor.organization_id, id)
                .await,
        )? {
            Ok(claimed) => claimed,
            Err(errors) => return Ok(WebhookDeliveryPayload::rejected(errors)),
        };
        let event_id = EventId::generate();
        let delivery_id = WebhookDeliveryId::generate();
        let event_id_text = encode_event_id(event_id);
        let body = test_body(&event_id_text, &claimed.endpoint, chrono::Utc::now()).to_string();
        let (record, verdict) = sender(ctx)?
            .send(&Outgoing {
                url: &claimed.endpoint.url,
                secret: &claimed.secret,
                previous_secret: claimed.previous_secret.as_deref(),
                delivery_id: crate::graphql::ids::Typed::to_global(delivery_id).as_str(),
                event_id: &event_id_text,
                event_type: "PING",
                body: &body,
            })
            .await;
        let event = QueuedEvent {
            event_id,
            event_type: "PING".to_owned(),
            sequence: 0,
            body,
        };
        Ok(
            match user_result(
                store
                    .record_test_delivery(
                        actor,
                        id,
                        delivery_id,
                        event,
                        record,
                        verdict == AttemptVerdict::Delivered,
                    )
                    .await,
            )? {
                Ok(delivery) => WebhookDeliveryPayload::done(WebhookDelivery(delivery)),
                Err(errors) => WebhookDeliveryPayload::rejected(errors),
            },
        )
    }

    /// Sends a finished delivery again, with the same event id and body, ahead of the
    /// endpoint's other pending deliveries. Needs ADMIN.
    async fn redeliver_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        input: RedeliverWebhookDeliveryInput,
    ) -> async_graphql::Result<WebhookDeliveryPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let id = match input::id::<WebhookDeliveryId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(WebhookDeliveryPayload::rejected(user_errors(vec![error]))),
        };
        Ok(
            match user_result(ctx.store()?.redeliver_webhook(actor, id).await)? {
                Ok(delivery) => WebhookDeliveryPayload::done(WebhookDelivery(delivery)),
                Err(errors) => WebhookDeliveryPayload::rejected(errors),
            },
        )
    }
}
