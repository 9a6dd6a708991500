//! Outbound webhooks: which events an endpoint hears, where it may point, how deliveries
//! are retried, and the endpoint's record.

use crate::error::{ErrorCode, ValidationError};
use crate::events::EventPayload;
use crate::ids::{EventId, OrganizationId, WebhookDeliveryId, WebhookEndpointId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The kinds of events an endpoint can subscribe to; the names match
/// [`EventPayload::type_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookEventType {
    CheckInCreated,
    KeyResultProgressChanged,
    ObjectiveProgressChanged,
    MilestoneReached,
    CommentCreated,
    StateChanged,
    KpiMeasurementRecorded,
}

impl WebhookEventType {
    pub const ALL: [Self; 7] = [
        Self::CheckInCreated,
        Self::KeyResultProgressChanged,
        Self::ObjectiveProgressChanged,
        Self::MilestoneReached,
        Self::CommentCreated,
        Self::StateChanged,
        Self::KpiMeasurementRecorded,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CheckInCreated => "CHECK_IN_CREATED",
            Self::KeyResultProgressChanged => "KEY_RESULT_PROGRESS_CHANGED",
            Self::ObjectiveProgressChanged => "OBJECTIVE_PROGRESS_CHANGED",
            Self::MilestoneReached => "MILESTONE_REACHED",
            Self::CommentCreated => "COMMENT_CREATED",
            Self::StateChanged => "STATE_CHANGED",
            Self::KpiMeasurementRecorded => "KPI_MEASUREMENT_RECORDED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The type of an event.
    pub fn of(payload: &EventPayload) -> Self {
        match payload {
            EventPayload::CheckInCreated { .. } => Self::CheckInCreated,
            EventPayload::KeyResultProgressChanged { .. } => Self::KeyResultProgressChanged,
            EventPayload::ObjectiveProgressChanged { .. } => Self::ObjectiveProgressChanged,
            EventPayload::MilestoneReached { .. } => Self::MilestoneReached,
            EventPayload::CommentCreated { .. } => Self::CommentCreated,
            EventPayload::StateChanged { .. } => Self::StateChanged,
            EventPayload::KpiMeasurementRecorded { .. } => Self::KpiMeasurementRecorded,
        }
    }
}

/// The event types of an endpoint: at least one, each once, in a fixed order.
pub fn event_types(
    mut types: Vec<WebhookEventType>,
) -> Result<Vec<WebhookEventType>, ValidationError> {
    if types.is_empty() {
        return Err(ValidationError::new(
            "eventTypes",
            ErrorCode::Blank,
            "must name at least one event type",
        ));
    }
    types.sort_unstable();
    types.dedup();
    Ok(types)
}

/// The maximum length of a webhook URL, in characters.
pub const MAX_URL_CHARS: usize = 2_000;

/// A validated endpoint URL: http or https, with a host, without credentials or fragment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        let invalid =
            |message: String| ValidationError::new("url", ErrorCode::InvalidFormat, message);
        let length = raw.chars().count();
        if length > MAX_URL_CHARS {
            return Err(ValidationError::new(
                "url",
                ErrorCode::TooLong,
                format!("is {length} characters long; the maximum is {MAX_URL_CHARS}"),
            ));
        }
        let url = url::Url::parse(raw)
            .map_err(|error| invalid(format!("is not an absolute URL ({error})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "uses the scheme \"{}\"; only http and https are allowed",
                url.scheme()
            )));
        }
        if url.host().is_none() {
            return Err(invalid("has no host".to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "must not carry credentials; authenticate the receiver with the signature"
                    .to_owned(),
            ));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not have a fragment (#...)".to_owned()));
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The literal IP address of the host, when the URL names one.
    pub fn ip_host(&self) -> Option<IpAddr> {
        match url::Url::parse(&self.0).ok()?.host()? {
            url::Host::Ipv4(address) => Some(IpAddr::V4(address)),
            url::Host::Ipv6(address) => Some(IpAddr::V6(address)),
            url::Host::Domain(_) => None,
        }
    }
}

/// The minimum and maximum length of a signing secret, in characters.
pub const SECRET_CHARS: std::ops::RangeInclusive<usize> = 24..=200;

/// A signing secret that an admin chose: 24 to 200 printable ASCII characters.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let length = raw.chars().count();
        if !SECRET_CHARS.contains(&length) {
            return Err(ValidationError::new(
                "secret",
                if length < *SECRET_CHARS.start() {
                    ErrorCode::OutOfRange
                } else {
                    ErrorCode::TooLong
                },
                format!(
                    "is {length} characters long; a secret has {} to {} characters",
                    SECRET_CHARS.start(),
                    SECRET_CHARS.end()
                ),
            ));
        }
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "secret",
                ErrorCode::InvalidFormat,
                "may only hold printable ASCII characters without spaces",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The kind of network an address belongs to, for refusing internal targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressClass {
    Public,
    /// 127.0.0.0/8 and ::1.
    Loopback,
    /// RFC 1918, shared address space (100.64.0.0/10) and IPv6 unique local addresses.
    Private,
    /// 169.254.0.0/16 (where cloud metadata services listen) and fe80::/10.
    LinkLocal,
    /// Unspecified, broadcast, multicast, documentation, benchmarking and other reserved
    /// ranges, which are never a webhook target.
    Reserved,
}

impl AddressClass {
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(address) => Self::of_v4(address),
            IpAddr::V6(address) => Self::of_v6(address),
        }
    }

    fn of_v4(address: Ipv4Addr) -> Self {
        let [a, b, c, _] = address.octets();
        if address.is_loopback() {
            Self::Loopback
        } else if address.is_private() || (a == 100 && (64..128).contains(&b)) {
            Self::Private
        } else if address.is_link_local() {
            Self::LinkLocal
        } else if address.is_unspecified()
            || address.is_broadcast()
            || address.is_multicast()
            || address.is_documentation()
            || a == 0
            || a >= 240
            || (a == 192 && b == 0 && c == 0)
            || (a == 198 && (18..20).contains(&b))
        {
            Self::Reserved
        } else {
            Self::Public
        }
    }

    fn of_v6(address: Ipv6Addr) -> Self {
        if let Some(mapped) = address.to_ipv4_mapped() {
            return Self::of_v4(mapped);
        }
        let first = address.segments()[0];
        if address.is_loopback() {
            Self::Loopback
        } else if first & 0xfe00 == 0xfc00 {
            Self::Private
        } else if first & 0xffc0 == 0xfe80 {
            Self::LinkLocal
        } else if address.is_unspecified()
            || address.is_multicast()
            || first == 0x2001 && address.segments()[1] == 0x0db8
            || first == 0x0064
        {
            Self::Reserved
        } else {
            Self::Public
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Reserved => "reserved",
        }
    }
}

/// The internal networks that webhooks may reach besides public addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllowedNetworks {
    pub loopback: bool,
    pub private: bool,
    pub link_local: bool,
}

impl AllowedNetworks {
    /// Accepts `address`, or returns the reason it is not allowed.
    pub fn check(self, address: IpAddr) -> Result<(), String> {
        let class = AddressClass::of(address);
        let allowed = match class {
            AddressClass::Public => true,
            AddressClass::Loopback => self.loopback,
            AddressClass::Private => self.private,
            AddressClass::LinkLocal => self.link_local,
            AddressClass::Reserved => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "{address} is a {} address, which webhooks may not reach{}",
                class.as_str(),
                if class == AddressClass::Reserved {
                    ""
                } else {
                    " unless HEADWAY_WEBHOOK_ALLOW_NETWORKS allows it"
                }
            ))
        }
    }
}

/// The retry schedule of failed deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles.
    pub base_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (from 1), scaled by `jitter` in [0, 1]:
    /// between half and all of the exponential delay, so that retries of many deliveries
    /// spread out.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        let full = self
            .base_delay
            .saturating_mul(1_u32 << exponent)
            .min(self.max_delay);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// The meaning of the response to one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptVerdict {
    Delivered,
    /// Time-outs, connection failures, 408, 429 and 5xx: tried again later.
    Retry,
    /// Other statuses, and targets that are not allowed: not tried again.
    GiveUp,
}

impl AttemptVerdict {
    /// The verdict on a response status, or on no response (`None`) at all.
    pub fn of(status: Option<u16>) -> Self {
        match status {
            None | Some(408 | 429 | 500..=599) => Self::Retry,
            Some(200..=299) => Self::Delivered,
            Some(_) => Self::GiveUp,
        }
    }
}

/// The cause of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryKind {
    /// An event from the outbox.
    Event,
    /// An admin asked to send an earlier delivery again.
    Redelivery,
    /// An admin tested the endpoint.
    Test,
}

impl DeliveryKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Event => "EVENT",
            Self::Redelivery => "REDELIVERY",
            Self::Test => "TEST",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Event, Self::Redelivery, Self::Test]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// The state of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    Succeeded,
    /// Given up on, after the last attempt or a response that is not retried.
    Failed,
}

impl DeliveryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

/// A registered endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub organization_id: OrganizationId,
    pub url: WebhookUrl,
    pub description: Option<String>,
    pub event_types: Vec<WebhookEventType>,
    pub enabled: bool,
    /// The reason the endpoint is disabled, when it is.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// One delivery of an event to an endpoint, with its latest attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub organization_id: OrganizationId,
    pub endpoint_id: WebhookEndpointId,
    pub kind: DeliveryKind,
    pub event_id: EventId,
    pub event_type: String,
    pub sequence: i64,
    /// The JSON body that is sent.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub response_status: Option<u16>,
    pub last_error: Option<String>,
    pub redelivery_of: Option<WebhookDeliveryId>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// One HTTP request of a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub number: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u32,
    pub response_status: Option<u16>,
    /// The start of the response body.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        for (address, class) in [
            ("8.8.8.8", AddressClass::Public),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.8.9.1", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("0.0.0.0", AddressClass::Reserved),
            ("255.255.255.255", AddressClass::Reserved),
            ("224.0.0.1", AddressClass::Reserved),
            ("192.0.2.10", AddressClass::Reserved),
            ("::1", AddressClass::Loopback),
            ("fd00::1", AddressClass::Private),
            ("fe80::1", AddressClass::LinkLocal),
            ("::", AddressClass::Reserved),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("2001:db8::1", AddressClass::Reserved),
            ("2606:4700::1111", AddressClass::Public),
        ] {
            assert_eq!(AddressClass::of(ip(address)), class, "{address}");
        }
    }

    #[test]
    fn only_allowed_networks_pass() {
        let strict = AllowedNetworks::default();
        assert!(strict.check(ip("8.8.8.8")).is_ok());
        let refusal = strict.check(ip("127.0.0.1")).unwrap_err();
        assert!(refusal.contains("loopback"), "{refusal}");
        assert!(strict.check(ip("169.254.169.254")).is_err());
        let loopback = AllowedNetworks {
            loopback: true,
            ..AllowedNetworks::default()
        };
        assert!(loopback.check(ip("127.0.0.1")).is_ok());
        assert!(loopback.check(ip("::1")).is_ok());
        assert!(loopback.check(ip("10.0.0.1")).is_err());
        let everything = AllowedNetworks {
            loopback: true,
            private: true,
            link_local: true,
        };
        assert!(everything.check(ip("0.0.0.0")).is_err());
    }

    #[test]
    fn urls_are_checked() {
        let url = WebhookUrl::parse(" https://hooks.example.com/headway?team=1 ").unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.com/headway?team=1");
        assert_eq!(url.ip_host(), None);
        assert_eq!(
            WebhookUrl::parse("http://127.0.0.1:9000/in")
                .unwrap()
                .ip_host(),
            Some(ip("127.0.0.1"))
        );
        for bad in [
            "ftp://example.com/",
            "not a url",
            "https://user:pw@example.com/",
            "https://example.com/#part",
            "file:///etc/passwd",
        ] {
            let error = WebhookUrl::parse(bad).unwrap_err();
            assert_eq!(error.field, "url", "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(
            WebhookUrl::parse(&long).unwrap_err().code,
            ErrorCode::TooLong
        );
    }

    #[test]
    fn secrets_are_checked() {
        assert!(WebhookSecret::parse("short").is_err());
        assert!(WebhookSecret::parse(&"x".repeat(201)).is_err());
        assert!(WebhookSecret::parse("with a space in the middle!!").is_err());
        let secret = WebhookSecret::parse("whsec_abcdefghijklmnopqrstuvwxyz").unwrap();
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter() {
        let policy = RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        };
        assert_eq!(policy.delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(policy.delay(4, 1.0), Duration::from_secs(8));
        assert_eq!(policy.delay(4, 0.0), Duration::from_secs(4));
        assert_eq!(policy.delay(10, 1.0), Duration::from_secs(60));
        assert_eq!(policy.delay(u32::MAX, 1.0), Duration::from_secs(60));
    }

    #[test]
    fn verdicts() {
        assert_eq!(AttemptVerdict::of(Some(204)), AttemptVerdict::Delivered);
        assert_eq!(AttemptVerdict::of(Some(500)), AttemptVerdict::Retry);
        assert_eq!(AttemptVerdict::of(Some(503)), AttemptVerdict::Retry);
        assert_eq!(AttemptVerdict::of(Some(429)), AttemptVerdict::Retry);
        assert_eq!(AttemptVerdict::of(None), AttemptVerdict::Retry);
        assert_eq!(AttemptVerdict::of(Some(404)), AttemptVerdict::GiveUp);
        assert_eq!(AttemptVerdict::of(Some(301)), AttemptVerdict::GiveUp);
    }

    #[test]
    fn event_types_are_deduplicated() {
        assert!(event_types(Vec::new()).is_err());
        assert_eq!(
            event_types(vec![
                WebhookEventType::StateChanged,
                WebhookEventType::CheckInCreated,
                WebhookEventType::StateChanged,
            ])
            .unwrap(),
            vec![
                WebhookEventType::CheckInCreated,
                WebhookEventType::StateChanged
            ]
        );
        for kind in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::from_name(kind.as_str()), Some(kind));
        }
    }
}
