//! Bearer-token authentication: JWTs from the organization's identity provider.
//!
//! The signature, algorithm, issuer and audience are checked by `jsonwebtoken`; `exp` and
//! `nbf` are checked here against the server's clock, so tests can check them at exact
//! instants. Users are provisioned from the claims on first sight.

use crate::graphql::context::{Principal, UserPrincipal};
use crate::graphql::error::{ApiError, store_failure};
use crate::graphql::ids::{Typed, decode};
use chrono::{DateTime, Duration, Utc};
use headway_domain::ids::OrganizationId;
use headway_domain::values::Email;
use headway_persistence::{Store, UserClaims};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The header that selects the organization of a user who belongs to several.
pub const ORGANIZATION_HEADER: &str = "x-headway-organization";

/// The claims Headway reads from an identity token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: i64,
    /// Not valid before, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The longest `sub` claim accepted, in bytes.
const MAX_SUBJECT_BYTES: usize = 255;

/// Checks identity tokens, and issues them in development mode.
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    leeway: Duration,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for HS256 tokens signed with `secret`.
    pub fn hs256(
        secret: &[u8],
        issuer: &str,
        audience: &str,
        leeway: Duration,
    ) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Time claims are checked against the server's clock in `verify`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Self {
            decoding: DecodingKey::from_secret(secret)?,
            encoding: EncodingKey::from_secret(secret)?,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway,
        })
    }

    /// Checks a token and returns its claims. The error message says what the client can fix
    /// without telling which check failed.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, ApiError> {
        let invalid =
            || ApiError::unauthenticated("the bearer token is invalid or expired; sign in again");
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| invalid())?;
        let claims = data.claims;
        let now_seconds = now.timestamp();
        let leeway = self.leeway.num_seconds();
        if claims.exp + leeway < now_seconds {
            return Err(invalid());
        }
        if claims.nbf.is_some_and(|nbf| nbf - leeway > now_seconds) {
            return Err(invalid());
        }
        if claims.sub.is_empty() || claims.sub.len() > MAX_SUBJECT_BYTES {
            return Err(invalid());
        }
        Ok(claims)
    }

    /// Signs a token for a user, valid for `ttl` from `now`.
    pub fn issue(
        &self,
        subject: &str,
        email: Option<&str>,
        name: Option<&str>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: (now + ttl).timestamp(),
            nbf: None,
            iat: Some(now.timestamp()),
            email: email.map(str::to_owned),
            name: name.map(str::to_owned),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }
}

/// Resolves the principal of a request from its `Authorization` and organization headers.
pub async fn authenticate(
    authenticator: &Authenticator,
    store: &Store,
    authorization: Option<&str>,
    organization: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Principal, ApiError> {
    let Some(authorization) = authorization else {
        return Ok(Principal::Anonymous);
    };
    let token = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated("the Authorization header must be \"Bearer <token>\"")
        })?;
    let claims = authenticator.verify(token, now)?;
    let user_claims = UserClaims {
        external_id: claims.sub,
        email: claims
            .email
            .as_deref()
            .and_then(|email| Email::parse(email).ok()),
        name: claims.name,
    };
    let user = store
        .provision_user(&user_claims)
        .await
        .map_err(store_failure)?;
    let memberships = store
        .memberships_of_user(user.id)
        .await
        .map_err(store_failure)?;

    let membership = match organization {
        Some(selected) => {
            let selected_id: OrganizationId = decode(&async_graphql::ID(selected.to_owned()))
                .map_err(|error| {
                    ApiError::bad_input(format!(
                        "the {ORGANIZATION_HEADER} header: {}",
                        error.message
                    ))
                })?;
            let membership = memberships
                .into_iter()
                .find(|membership| membership.organization_id == selected_id)
                .ok_or_else(|| {
                    ApiError::forbidden(format!(
                        "you are not a member of the organization {} named in the {ORGANIZATION_HEADER} header",
                        selected_id.to_global().as_str()
                    ))
                })?;
            Some(membership)
        }
        None => match memberships.len() {
            0 => None,
            1 => memberships.into_iter().next(),
            count => {
                return Err(ApiError::forbidden(format!(
                    "you belong to {count} organizations; name one in the {ORGANIZATION_HEADER} header"
                )));
            }
        },
    };
    Ok(Principal::User(UserPrincipal { user, membership }))
}
