//! Choosing the response media type from the request's `Accept` header.

/// The media type of GraphQL responses that GraphQL over HTTP defines.
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const APPLICATION_JSON: &str = "application/json";

/// The media type a GraphQL response is sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphqlResponseJson,
    /// `application/json`: status 200 for every well-formed request.
    Json,
}

impl ResponseType {
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// One entry of an `Accept` header.
struct Range<'a> {
    media_type: &'a str,
    quality: f32,
}

fn parse_ranges(accept: &str) -> Vec<Range<'_>> {
    accept
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let media_type = parts.next()?.trim();
            if media_type.is_empty() {
                return None;
            }
            let mut quality = 1.0;
            for parameter in parts {
                if let Some((name, value)) = parameter.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    quality = value.trim().parse().unwrap_or(0.0);
                }
            }
            Some(Range {
                media_type,
                quality,
            })
        })
        .collect()
}

fn quality_of(ranges: &[Range<'_>], media_type: &str) -> f32 {
    let (kind, _) = media_type.split_once('/').unwrap_or((media_type, ""));
    ranges
        .iter()
        .filter(|range| {
            range.media_type.eq_ignore_ascii_case(media_type)
                || range.media_type == "*/*"
                || range
                    .media_type
                    .strip_suffix("/*")
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(kind))
        })
        .map(|range| range.quality)
        .fold(0.0, f32::max)
}

/// Picks the response type for an `Accept` header; `None` when neither JSON type is
/// acceptable (406).
///
/// Without an `Accept` header the response is `application/json`, as GraphQL over HTTP
/// asks for clients that predate `application/graphql-response+json`. When both types are
/// acceptable with the same quality, `application/graphql-response+json` wins.
pub fn choose(accept: Option<&str>) -> Option<ResponseType> {
    let Some(accept) = accept.map(str::trim).filter(|accept| !accept.is_empty()) else {
        return Some(ResponseType::Json);
    };
    let ranges = parse_ranges(accept);
    let graphql = quality_of(&ranges, GRAPHQL_RESPONSE_JSON);
    let json = quality_of(&ranges, APPLICATION_JSON);
    let explicit_graphql = ranges.iter().any(|range| {
        range.media_type.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON) && range.quality > 0.0
    });
    if graphql <= 0.0 && json <= 0.0 {
        return None;
    }
    if explicit_graphql && graphql >= json {
        Some(ResponseType::GraphqlResponseJson)
    } else if json > 0.0 {
        Some(ResponseType::Json)
    } else {
        Some(ResponseType::GraphqlResponseJson)
    }
}

/// Whether a browser asks for HTML before JSON, as it does when it opens a URL.
pub fn wants_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let ranges = parse_ranges(accept);
    ranges
        .iter()
        .any(|range| range.media_type.eq_ignore_ascii_case("text/html") && range.quality > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_accept_is_json() {
        assert_eq!(choose(None), Some(ResponseType::Json));
        assert_eq!(choose(Some("")), Some(ResponseType::Json));
    }

    #[test]
    fn explicit_graphql_response_wins() {
        assert_eq!(
            choose(Some(GRAPHQL_RESPONSE_JSON)),
            Some(ResponseType::GraphqlResponseJson)
        );
        assert_eq!(
            choose(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(ResponseType::GraphqlResponseJson)
        );
        assert_eq!(
            choose(Some("application/json, application/graphql-response+json")),
            Some(ResponseType::GraphqlResponseJson)
        );
    }

    #[test]
    fn json_preferred_by_quality() {
        assert_eq!(
            choose(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(ResponseType::Json)
        );
    }

    #[test]
    fn wildcards_are_json() {
        assert_eq!(choose(Some("*/*")), Some(ResponseType::Json));
        assert_eq!(choose(Some("application/*")), Some(ResponseType::Json));
    }

    #[test]
    fn unacceptable_types() {
        assert_eq!(choose(Some("text/html")), None);
        assert_eq!(choose(Some("application/xml")), None);
        assert_eq!(choose(Some("application/json;q=0")), None);
    }

    #[test]
    fn browser_wants_html() {
        assert!(wants_html(Some(
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!wants_html(Some("application/json")));
    }
}
