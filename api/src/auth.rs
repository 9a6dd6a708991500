//! Bearer-token authentication: JWTs from the organization's identity provider.
//!
//! The signature, algorithm, issuer and audience are checked by `jsonwebtoken`; `exp` and
//! `nbf` are checked here against the server's clock, so tests can check them at exact
//! instants. Users are provisioned from the claims on first sight.

use crate::graphql::context::{Principal, UserPrincipal};
use crate::graphql::error::{ApiError, store_failure};
use crate::graphql::ids::{Typed, decode};
use actix_web::http::header::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use headway_domain::ids::OrganizationId;
use headway_domain::model::{Membership, Organization};
use headway_domain::values::Email;
use headway_persistence::{Store, UserClaims};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The header that selects the organization of a user who belongs to several.
pub const ORGANIZATION_HEADER: &str = "x-headway-organization";

/// [`ORGANIZATION_HEADER`] as messages spell it.
const ORGANIZATION_HEADER_TITLE: &str = "X-Headway-Organization";

/// The maximum number of organizations that the error for a user who names none lists.
const MAX_LISTED_ORGANIZATIONS: usize = 10;

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

/// Builds the error for a token that fails a check other than its time claims, and logs the
/// check at debug level. The client's message names no check, so that it helps no one
/// forge a token.
fn rejected(reason: &str) -> ApiError {
    tracing::debug!(reason, "rejected a bearer token");
    ApiError::unauthenticated(
        "the bearer token is invalid; get a new one from your identity provider and send it instead",
    )
}

/// Describes a `jsonwebtoken` error for the debug log. JSON errors keep only their category
/// and position, because their text can quote claim values.
fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::Json(error) => format!(
            "claims are not the expected JSON ({:?} at column {})",
            error.classify(),
            error.column()
        ),
        ErrorKind::Base64(_) => "a part is not base64url".to_owned(),
        ErrorKind::Utf8(_) => "a part is not UTF-8".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Formats seconds since the Unix epoch as an RFC 3339 instant in UTC.
fn instant_text(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0).map_or_else(
        || format!("{seconds} seconds after the Unix epoch"),
        |instant| instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
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

    /// Checks a token and returns its claims.
    ///
    /// A token whose signature checks out but that expired or is not valid yet gets a message
    /// with the time, so that a client knows to refresh it. Every other fault gets the same
    /// message, and the precise reason goes to the debug log.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, ApiError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(rejected(&format!("longer than {MAX_TOKEN_BYTES} bytes")));
        }
        // An unknown algorithm such as `none` fails to parse here.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| rejected(&format!("invalid header: {}", reason(error.kind()))))?;
        // Explicit typing (RFC 8725, section 3.11) keeps other kinds of JWT, and tokens
        // without a `typ` header, from passing as access tokens.
        let Some(kind) = header.typ.as_deref() else {
            return Err(rejected("no typ header"));
        };
        if !self.types.contains(&kind.to_ascii_lowercase()) {
            return Err(rejected(&format!(
                "typ {kind:?} is not one of HEADWAY_JWT_TYPES"
            )));
        }
        if !SUPPORTED.contains(&header.alg) {
            return Err(rejected(&format!("unsupported algorithm {:?}", header.alg)));
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
        let mut failure = format!("no {:?} key with kid {:?}", header.alg, header.kid);
        for key in candidates {
            let mut validation = Validation::new(key.algorithm);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            // Time claims are checked against the server's clock below.
            validation.validate_exp = false;
            validation.validate_nbf = false;
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(error) => failure = reason(error.kind()),
            }
        }
        let claims = claims.ok_or_else(|| rejected(&failure))?;

        // The signature is valid from here on, so telling the client about the token's
        // times reveals nothing that the token does not say itself.
        let now_seconds = now.timestamp();
        let leeway = self.leeway.num_seconds();
        if claims.exp.saturating_add(leeway) < now_seconds {
            tracing::debug!(exp = claims.exp, "rejected a bearer token: expired");
            return Err(ApiError::unauthenticated(format!(
                "the bearer token expired at {}; get a new one from your identity provider and send it instead",
                instant_text(claims.exp)
            )));
        }
        if let Some(nbf) = claims.nbf
            && nbf.saturating_sub(leeway) > now_seconds
        {
            tracing::debug!(nbf, "rejected a bearer token: not valid yet");
            return Err(ApiError::unauthenticated(format!(
                "the bearer token is not valid before {}, and the server's time is {}; wait until then, or check the clock of the identity provider that issued it",
                instant_text(nbf),
                instant_text(now_seconds)
            )));
        }
        if claims.sub.is_empty() || claims.sub.len() > MAX_SUBJECT_BYTES {
            return Err(rejected(&format!(
                "sub claim of {} bytes; it must have 1 to {MAX_SUBJECT_BYTES}",
                claims.sub.len()
            )));
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
        if subject.trim().is_empty() || subject.len() > MAX_SUBJECT_BYTES {
            anyhow::bail!(
                "the subject {subject:?} is invalid: it must have 1 to {MAX_SUBJECT_BYTES} bytes and not only whitespace"
            );
        }
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

/// The credentials that a request's headers carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialHeaders {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The [`ORGANIZATION_HEADER`] header.
    pub organization: Option<String>,
}

/// Reads the `Authorization` and [`ORGANIZATION_HEADER`] headers of a request.
///
/// A header sent more than once is rejected with `BAD_USER_INPUT`, because which copy
/// counts would be a guess. A value with bytes outside visible ASCII is rejected too,
/// `UNAUTHENTICATED` for `Authorization` and `BAD_USER_INPUT` for the organization.
pub fn credential_headers(headers: &HeaderMap) -> Result<CredentialHeaders, ApiError> {
    Ok(CredentialHeaders {
        authorization: single_header(headers, "authorization", "Authorization")?,
        organization: single_header(headers, ORGANIZATION_HEADER, ORGANIZATION_HEADER_TITLE)?,
    })
}

fn single_header(headers: &HeaderMap, name: &str, title: &str) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(name);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let count = 1 + values.count();
    if count > 1 {
        return Err(ApiError::bad_input(format!(
            "the request has {count} {title} headers; send it once"
        )));
    }
    match value.to_str() {
        Ok(text) => Ok(Some(text.to_owned())),
        Err(_) => Err(invalid_header_text(title)),
    }
}

/// Checks whether `text` contains only visible ASCII, spaces and tabs, as a header value
/// that carries credentials must.
fn is_header_text(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte == b'\t' || (b' '..=b'~').contains(&byte))
}

fn invalid_header_text(title: &str) -> ApiError {
    let message = format!(
        "invalid {title} header: it contains characters other than visible ASCII; send the value exactly as issued"
    );
    if title == ORGANIZATION_HEADER_TITLE {
        ApiError::bad_input(message)
    } else {
        ApiError::unauthenticated(message)
    }
}

/// Extracts the token from an `Authorization` value. The scheme `Bearer` matches in any
/// case, as RFC 7235 section 2.1 specifies, and spaces or tabs separate it from the token.
fn bearer_token(authorization: &str) -> Result<&str, ApiError> {
    if !is_header_text(authorization) {
        return Err(invalid_header_text("Authorization"));
    }
    let value = authorization.trim_matches([' ', '\t']);
    let (scheme, token) = value
        .split_once([' ', '\t'])
        .map_or((value, ""), |(scheme, token)| {
            (scheme, token.trim_matches([' ', '\t']))
        });
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthenticated(
            "invalid Authorization header: it must be \"Bearer <token>\"",
        ));
    }
    Ok(token)
}

/// Resolves the principal of an API token, telling the holder of its secret whether it
/// expired or was revoked.
async fn authenticate_api_token(store: &Store, token: &str) -> Result<Principal, ApiError> {
    use headway_persistence::api_tokens::ApiTokenCheck;
    let next_step = "ask an admin for a new one";
    match store
        .authenticate_api_token(token)
        .await
        .map_err(store_failure)?
    {
        ApiTokenCheck::Valid(api_token) => Ok(Principal::ApiToken(api_token)),
        ApiTokenCheck::Unknown => Err(ApiError::unauthenticated(format!(
            "the API token is invalid; check that it was copied whole, or {next_step}"
        ))),
        ApiTokenCheck::Expired(at) => Err(ApiError::unauthenticated(format!(
            "the API token expired at {}; {next_step}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))),
        ApiTokenCheck::Revoked(at) => Err(ApiError::unauthenticated(format!(
            "the API token was revoked at {}; {next_step}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))),
    }
}

/// Resolves the principal of a request from its `Authorization` and organization header
/// values, which come from HTTP headers ([`credential_headers`]) or a WebSocket
/// `connection_init` payload.
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
    let token = bearer_token(authorization)?;
    if headway_persistence::api_tokens::is_api_token(token) {
        return authenticate_api_token(store, token).await;
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
    let selected = select_membership(memberships, organization)?;
    let (membership, organization) = selected.unzip();
    Ok(Principal::User(UserPrincipal {
        user,
        membership,
        organization,
    }))
}

/// Picks the membership that a request acts in: the one that the organization header names,
/// or the only one. A user with several memberships and no header gets an error that lists
/// them.
fn select_membership(
    memberships: Vec<(Membership, Organization)>,
    organization: Option<&str>,
) -> Result<Option<(Membership, Organization)>, ApiError> {
    if let Some(selected) = organization {
        if !is_header_text(selected) {
            return Err(invalid_header_text(ORGANIZATION_HEADER_TITLE));
        }
        let selected_id: OrganizationId =
            decode(&async_graphql::ID(selected.to_owned())).map_err(|error| {
                ApiError::bad_input(format!(
                    "the {ORGANIZATION_HEADER_TITLE} header: {}",
                    error.message
                ))
            })?;
        let membership = memberships
            .into_iter()
            .find(|(membership, _)| membership.organization_id == selected_id)
            .ok_or_else(|| {
                ApiError::forbidden(format!(
                    "you are not a member of the organization {} named in the {ORGANIZATION_HEADER_TITLE} header",
                    selected_id.to_global().as_str()
                ))
            })?;
        return Ok(Some(membership));
    }
    if memberships.len() <= 1 {
        return Ok(memberships.into_iter().next());
    }
    let count = memberships.len();
    let mut listed: Vec<String> = memberships
        .iter()
        .take(MAX_LISTED_ORGANIZATIONS)
        .map(|(_, organization)| {
            format!(
                "{} ({})",
                organization.id.to_global().as_str(),
                organization.name
            )
        })
        .collect();
    if count > MAX_LISTED_ORGANIZATIONS {
        listed.push(format!("and {} more", count - MAX_LISTED_ORGANIZATIONS));
    }
    Err(ApiError::forbidden(format!(
        "you belong to {count} organizations: {}; send the id of one of them in the {ORGANIZATION_HEADER_TITLE} header",
        listed.join(", ")
    )))
}
