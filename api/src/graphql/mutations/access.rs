use super::input::{self, payload, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::{UserError, user_result};
use crate::graphql::objects::access::{ApiToken, ApiTokenScope};
use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use headway_domain::access::Scopes;
use headway_domain::ids::ApiTokenId;
use headway_persistence::NewApiToken;

/// A token for an integration.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// What the token is for, such as "CRM sync"; at most 100 characters.
    pub name: String,
    /// What the token may do. `INGEST` alone allows recording KPI measurements and
    /// check-ins and nothing else.
    pub scopes: Vec<ApiTokenScope>,
    /// When the token stops working; it never expires when left out.
    pub expires_at: Option<DateTime>,
}

#[derive(InputObject)]
pub struct RevokeApiTokenInput {
    pub id: ID,
}

/// The result of createApiToken.
#[derive(SimpleObject)]
pub struct CreateApiTokenPayload {
    /// The token; null when the input was rejected.
    pub api_token: Option<ApiToken>,
    /// The secret to send as `Authorization: Bearer <token>`. It is shown only here, once:
    /// Headway keeps only its hash.
    pub token: Option<String>,
    /// Problems with the input; empty when the mutation succeeded.
    pub user_errors: Vec<UserError>,
}

payload!(RevokeApiTokenPayload, api_token: ApiToken, "The result of revokeApiToken.");

#[derive(Default)]
pub struct AccessMutations;

#[Object]
impl AccessMutations {
    /// Creates an API token for an integration and shows its secret once. Needs ADMIN.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> async_graphql::Result<CreateApiTokenPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let rejected = |errors| CreateApiTokenPayload {
            api_token: None,
            token: None,
            user_errors: errors,
        };
        let name = input::name("name", &input.name);
        let scopes = Scopes::new(input.scopes.into_iter().map(Into::into));
        let expires_at = input::optional(input.expires_at.as_ref(), |instant| {
            instant.get("expiresAt")
        });
        let (name, scopes, expires_at) = match (name, scopes, expires_at) {
            (Ok(name), Ok(scopes), Ok(expires_at)) => (name, scopes, expires_at),
            (name, scopes, expires_at) => {
                let errors = [name.err(), scopes.err(), expires_at.err()]
                    .into_iter()
                    .flatten()
                    .collect();
                return Ok(rejected(user_errors(errors)));
            }
        };
        let new = NewApiToken {
            name,
            scopes,
            expires_at,
        };
        Ok(
            match user_result(ctx.store()?.create_api_token(actor, new).await)? {
                Ok((token, secret)) => CreateApiTokenPayload {
                    api_token: Some(ApiToken(token)),
                    token: Some(secret),
                    user_errors: Vec::new(),
                },
                Err(errors) => rejected(errors),
            },
        )
    }

    /// Revokes an API token; requests with it fail from now on. Needs ADMIN.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiTokenInput,
    ) -> async_graphql::Result<RevokeApiTokenPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let token_id = match input::id::<ApiTokenId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(RevokeApiTokenPayload::rejected(user_errors(vec![error]))),
        };
        Ok(
            match user_result(ctx.store()?.revoke_api_token(actor, token_id).await)? {
                Ok(token) => RevokeApiTokenPayload::done(ApiToken(token)),
                Err(errors) => RevokeApiTokenPayload::rejected(errors),
            },
        )
    }
}
