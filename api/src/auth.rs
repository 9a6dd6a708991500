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

/// The longest bearer credential accepted, in bytes; a header this large is not a token.
const MAX_TOKEN_BYTES: usize = 8_192;

/// A key that verifies signatures of one algorithm.
#[derive(Clone)]
struct VerificationKey {
    /// The key id that tokens name in their `kid` header, for keys from a JWKS file.
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The algorithms that Headway accepts; `none` and every other algorithm are rejected.
const SUPPORTED: [Algorithm; 3] = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];

/// Where verification keys come from.
#[derive(Clone, Debug, Default)]
pub struct KeySources {
    /// An HS256 shared secret.
    pub secret: Option<Vec<u8>>,
    /// A PEM public key (RSA or P-256) with its algorithm.
    pub public_key: Option<(Vec<u8>, Algorithm)>,
    /// A JWKS document with public keys and their key ids.
    pub jwks: Option<String>,
}

/// Checks identity tokens, and issues them where an HS256 secret is configured.
#[derive(Clone)]
pub struct Authenticator {
    keys: Vec<VerificationKey>,
    encoding: Option<EncodingKey>,
    issuer: String,
    audience: String,
    leeway: Duration,
    /// Accepted values of the `typ` header, lower-case.
    types: Vec<String>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// The `typ` header values accepted by default: plain JWTs and OAuth access tokens.
pub const DEFAULT_TOKEN_TYPES: [&str; 2] = ["JWT", "at+jwt"];

fn jwk_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
    match (&jwk.common.key_algorithm, &jwk.algorithm) {
        (Some(KeyAlgorithm::RS256), _) => Some(Algorithm::RS256),
        (Some(KeyAlgorithm::ES256), _) => Some(Algorithm::ES256),
        (Some(_), _) => None,
        (None, AlgorithmParameters::RSA(_)) => Some(Algorithm::RS256),
        (None, AlgorithmParameters::EllipticCurve(parameters))
            if parameters.curve == EllipticCurve::P256 =>
        {
            Some(Algorithm::ES256)
        }
        (None, _) => None,
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
        Self::new(
            KeySources {
                secret: Some(secret.to_vec()),
                ..KeySources::default()
            },
            issuer,
            audience,
            leeway,
            &DEFAULT_TOKEN_TYPES,
        )
    }

    /// An authenticator for the keys of `sources`; at least one key must be configured.
    pub fn new(
        sources: KeySources,
        issuer: &str,
        audience: &str,
        leeway: Duration,
        types: &[&str],
    ) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        let mut encoding = None;
        if let Some(secret) = &sources.secret {
            keys.push(VerificationKey {
                kid: None,
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(secret)?,
            });
            encoding = Some(EncodingKey::from_secret(secret)?);
        }
        if let Some((pem, algorithm)) = &sources.public_key {
            let key = match algorithm {
                Algorithm::RS256 => DecodingKey::from_rsa_pem(pem)?,
                Algorithm::ES256 => DecodingKey::from_ec_pem(pem)?,
                other => {
                    anyhow::bail!("{other:?} is not supported for public keys; use RS256 or ES256")
                }
            };
            keys.push(VerificationKey {
                kid: None,
                algorithm: *algorithm,
                key,
            });
        }
        if let Some(jwks) = &sources.jwks {
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks)
                .map_err(|error| anyhow::anyhow!("the JWKS file is not a JWK set: {error}"))?;
            for jwk in &set.keys {
                let Some(algorithm) = jwk_algorithm(jwk) else {
                    tracing::warn!(kid = ?jwk.common.key_id, "skipped a JWKS key that is neither RS256 nor ES256 on P-256");
                    continue;
                };
                keys.push(VerificationKey {
                    kid: jwk.common.key_id.clone(),
                    algorithm,
                    key: DecodingKey::from_jwk(jwk)?,
                });
            }
        }
        if keys.is_empty() {
            anyhow::bail!(
                "no token verification key is configured: set HEADWAY_JWT_SECRET, HEADWAY_JWT_PUBLIC_KEY_FILE or HEADWAY_JWKS_FILE"
            );
        }
        Ok(Self {
            keys,
            encoding,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway,
            types: types.iter().map(|kind| kind.to_ascii_lowercase()).collect(),
        })
    }

    /// Checks a token and returns its claims. The error message says what the client can fix
    /// without telling which check failed.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, ApiError> {
        let invalid =
            || ApiError::unauthenticated("the bearer token is invalid or expired; sign in again");
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid());
        }
        // An unknown algorithm such as `none` fails to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        // Explicit typing (RFC 8725, section 3.11) keeps other kinds of JWT from passing as
        // access tokens.
        let typed = header
            .typ
            .as_deref()
            .is_some_and(|kind| self.types.contains(&kind.to_ascii_lowercase()));
        if !typed || !SUPPORTED.contains(&header.alg) {
            return Err(invalid());
        }
        // Only keys made for the token's algorithm are tried, so that an RSA public key can
        // never serve as an HMAC secret.
        let candidates = self.keys.iter().filter(|key| {
            key.algorithm == header.alg
                && match (&header.kid, &key.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    _ => true,
                }
        });
        let mut claims = None;
        for key in candidates {
            let mut validation = Validation::new(key.algorithm);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            // Time claims are checked against the server's clock below.
            validation.validate_exp = false;
            validation.validate_nbf = false;
            if let Ok(data) = jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                claims = Some(data.claims);
                break;
            }
        }
        let claims = claims.ok_or_else(invalid)?;
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

    /// Signs an HS256 token for a user, valid for `ttl` from `now`.
    pub fn issue(
        &self,
        subject: &str,
        email: Option<&str>,
        name: Option<&str>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let encoding = self.encoding.as_ref().ok_or_else(|| {
            anyhow::anyhow!("issuing tokens needs an HS256 secret (HEADWAY_JWT_SECRET)")
        })?;
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
            encoding,
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
    if headway_persistence::api_tokens::is_api_token(token) {
        return match store
            .authenticate_api_token(token)
            .await
            .map_err(store_failure)?
        {
            Some(api_token) => Ok(Principal::ApiToken(api_token)),
            None => Err(ApiError::unauthenticated(
                "the API token is invalid, expired or revoked; ask an admin for a new one",
            )),
        };
    }
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

    let selected = match organization {
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
                .find(|(membership, _)| membership.organization_id == selected_id)
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
    let (membership, organization) = selected.unzip();
    Ok(Principal::User(UserPrincipal {
        user,
        membership,
        organization,
    }))
}
