//! A GraphQL client for Headway and the HS256 tokens it accepts.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

/// The claims Headway reads from an identity token.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iss: &'a str,
    aud: &'a str,
    exp: i64,
    email: &'a str,
    name: &'a str,
}

/// Signs an HS256 token for `subject` that is valid for two days.
pub fn sign_token(
    secret: &str,
    issuer: &str,
    audience: &str,
    subject: &str,
    name: &str,
) -> Result<String> {
    let email = format!("{subject}@bench.example.com");
    let claims = Claims {
        sub: subject,
        iss: issuer,
        aud: audience,
        exp: chrono::Utc::now().timestamp() + 2 * 24 * 3600,
        email: &email,
        name,
    };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .context("failed to build the HS256 signing key")?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )
    .context("failed to sign a token")
}

/// Returns a random secret of `length` letters and digits.
pub fn random_secret(length: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// Sends GraphQL requests to one endpoint with one bearer token.
#[derive(Clone, Debug)]
pub struct Api {
    pub client: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl Api {
    pub fn new(client: reqwest::Client, url: String, token: String) -> Self {
        Self { client, url, token }
    }

    /// Sends a request and returns its `data`; GraphQL errors and other statuses than 200
    /// fail.
    pub async fn request(&self, query: &str, variables: Value) -> Result<Value> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json")
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .with_context(|| format!("the request to {} failed", self.url))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("the response of {} is not JSON", self.url))?;
        if status != reqwest::StatusCode::OK {
            bail!("{} returned status {status}: {body}", self.url);
        }
        if let Some(errors) = body.get("errors") {
            bail!("{} returned errors: {errors}", self.url);
        }
        Ok(body.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Runs a mutation whose payload is `data[field]` and must have no user errors.
    pub async fn mutate(&self, field: &str, query: &str, variables: Value) -> Result<Value> {
        let data = self.request(query, variables).await?;
        let payload = data.get(field).cloned().unwrap_or(Value::Null);
        check_user_errors(field, &payload)?;
        Ok(payload)
    }
}

/// Fails when a mutation payload lists user errors.
pub fn check_user_errors(field: &str, payload: &Value) -> Result<()> {
    match payload.get("userErrors").and_then(Value::as_array) {
        Some(errors) if errors.is_empty() => Ok(()),
        Some(errors) => bail!(
            "{field} rejected the input: {}",
            Value::from(errors.clone())
        ),
        None => bail!("{field} returned no userErrors list: {payload}"),
    }
}

/// Returns the string at a JSON pointer, failing with the document when it is missing.
pub fn string_at(value: &Value, pointer: &str) -> Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string at {pointer} in {value}"))
}

/// Returns the UUID in a Headway global id such as `obj_0191f4c2a8e37c2c9f1d6b0e5a4d3c2b`.
pub fn global_id_uuid(id: &str) -> Result<uuid::Uuid> {
    let (_, hex) = id
        .rsplit_once('_')
        .with_context(|| format!("{id} is not a Headway global id"))?;
    uuid::Uuid::parse_str(hex).with_context(|| format!("{id} does not end in a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_id_decodes_to_uuid() {
        let id = global_id_uuid("obj_0191f4c2a8e37c2c9f1d6b0e5a4d3c2b").unwrap();
        assert_eq!(id.to_string(), "0191f4c2-a8e3-7c2c-9f1d-6b0e5a4d3c2b");
    }

    #[test]
    fn global_id_without_prefix_is_rejected() {
        assert!(global_id_uuid("0191f4c2").is_err());
    }

    #[test]
    fn token_has_three_parts() {
        let token = sign_token(&random_secret(48), "headway", "headway-api", "ada", "Ada").unwrap();
        assert_eq!(token.split('.').count(), 3);
    }

    #[test]
    fn user_errors_fail_the_payload() {
        let failed = json!({ "userErrors": [{ "message": "blank" }] });
        assert!(check_user_errors("createTeam", &failed).is_err());
        assert!(check_user_errors("createTeam", &json!({ "userErrors": [] })).is_ok());
        assert!(check_user_errors("createTeam", &json!({})).is_err());
    }
}
