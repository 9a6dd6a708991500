//! Relay cursor connections.
//!
//! Every list is a connection with `edges { cursor node }`, `nodes`, `pageInfo` and
//! `totalCount`. `first` and `last` run from 1 to 100 (default 20) and the order is stable.
//! `totalCount` is counted only when a client selects it.

use super::error::{ApiError, store_failure};
use async_graphql::SimpleObject;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use headway_persistence::{Page, PageRequest, SortCursor, StoreError};
use std::sync::Arc;
use uuid::Uuid;

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;
/// The page size when a client asks for none.
pub const DEFAULT_PAGE_SIZE: i32 = 20;

/// Paging information of a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow the last edge.
    pub has_next_page: bool,
    /// Whether more items precede the first edge.
    pub has_previous_page: bool,
    /// The cursor of the first edge.
    pub start_cursor: Option<String>,
    /// The cursor of the last edge.
    pub end_cursor: Option<String>,
}

/// Encodes a list position as an opaque cursor.
pub fn encode_cursor(cursor: SortCursor) -> String {
    let time = cursor
        .time
        .map_or_else(String::new, |time| time.timestamp_micros().to_string());
    URL_SAFE_NO_PAD.encode(format!("c1:{time}:{}", cursor.id.simple()))
}

fn decode_cursor(argument: &str, text: &str) -> Result<SortCursor, ApiError> {
    let invalid = || {
        let shown: String = text.chars().take(80).collect();
        ApiError::bad_input(format!(
            "{argument}: \"{shown}\" is not a cursor of this list; pass a cursor from its edges or pageInfo"
        ))
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let decoded = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = decoded.splitn(3, ':');
    let (Some("c1"), Some(time), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let time = if time.is_empty() {
        None
    } else {
        let micros: i64 = time.parse().map_err(|_| invalid())?;
        Some(DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(invalid)?)
    };
    let id = Uuid::try_parse(id).map_err(|_| invalid())?;
    Ok(SortCursor { time, id })
}

fn page_size(argument: &str, value: Option<i32>) -> Result<Option<u64>, ApiError> {
    match value {
        None => Ok(None),
        Some(size) if (1..=MAX_PAGE_SIZE).contains(&size) => {
            Ok(Some(u64::try_from(size).unwrap_or(1)))
        }
        Some(size) => Err(ApiError::bad_input(format!(
            "{argument}: {size} is out of range; pages hold 1 to {MAX_PAGE_SIZE} items"
        ))),
    }
}

/// The paging arguments of a connection field, validated.
pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<PageRequest, ApiError> {
    let first = page_size("first", first)?;
    let last = page_size("last", last)?;
    if first.is_some() && last.is_some() {
        return Err(ApiError::bad_input(
            "first and last cannot be combined; page forward with first/after or backward with last/before",
        ));
    }
    let default = u64::try_from(DEFAULT_PAGE_SIZE).unwrap_or(20);
    Ok(PageRequest {
        after: after
            .as_deref()
            .map(|text| decode_cursor("after", text))
            .transpose()?,
        before: before
            .as_deref()
            .map(|text| decode_cursor("before", text))
            .transpose()?,
        first: if last.is_none() {
            Some(first.unwrap_or(default))
        } else {
            None
        },
        last,
    })
}

/// Pages a list that is already in memory and sorted by id.
pub fn page_in_memory<T>(items: Vec<T>, id: impl Fn(&T) -> Uuid, request: PageRequest) -> Page<T> {
    let mut items: Vec<T> = items
        .into_iter()
        .filter(|item| request.after.is_none_or(|after| id(item) > after.id))
        .filter(|item| request.before.is_none_or(|before| id(item) < before.id))
        .collect();
    let total = items.len();
    match (request.first, request.last) {
        (_, Some(last)) => {
            let keep = usize::try_from(last).unwrap_or(usize::MAX).min(total);
            let dropped = total - keep;
            items.drain(..dropped);
            Page {
                items,
                has_next_page: request.before.is_some(),
                has_previous_page: dropped > 0,
            }
        }
        (first, None) => {
            let keep = usize::try_from(first.unwrap_or(20))
                .unwrap_or(usize::MAX)
                .min(total);
            items.truncate(keep);
            Page {
                items,
                has_next_page: total > keep,
                has_previous_page: request.after.is_some(),
            }
        }
    }
}

/// A count that runs only when `totalCount` is selected.
#[derive(Clone)]
pub enum TotalCount {
    Known(u64),
    Deferred(Arc<dyn Fn() -> BoxFuture<'static, Result<u64, StoreError>> + Send + Sync>),
}

impl TotalCount {
    pub fn deferred<F>(count: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<u64, StoreError>> + Send + Sync + 'static,
    {
        Self::Deferred(Arc::new(count))
    }

    pub async fn resolve(&self) -> Result<i32, ApiError> {
        let count = match self {
            Self::Known(count) => *count,
            Self::Deferred(count) => count().await.map_err(store_failure)?,
        };
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

/// Declares a connection type and its edge type for a node type.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty, $description:literal) => {
        #[doc = $description]
        pub struct $connection {
            pub edges: Vec<$edge>,
            pub page_info: $crate::graphql::connection::PageInfo,
            pub total: $crate::graphql::connection::TotalCount,
        }

        /// An item of a list with its cursor.
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            /// The position of this item, for `after` and `before`.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        #[async_graphql::Object]
        impl $connection {
            /// The items of this page with their cursors.
            async fn edges(&self) -> &[$edge] {
                &self.edges
            }

            /// The items of this page.
            async fn nodes(&self) -> Vec<&$node> {
                self.edges.iter().map(|edge| &edge.node).collect()
            }

            /// Paging information.
            async fn page_info(&self) -> &$crate::graphql::connection::PageInfo {
                &self.page_info
            }

            /// The number of items in the whole list, across pages.
            async fn total_count(&self) -> async_graphql::Result<i32> {
                Ok(self.total.resolve().await?)
            }
        }

        impl $connection {
            /// Builds a connection from a page, the cursor of each item and the total.
            pub fn build<T>(
                page: headway_persistence::Page<T>,
                cursor: impl Fn(&T) -> headway_persistence::SortCursor,
                node: impl Fn(T) -> $node,
                total: $crate::graphql::connection::TotalCount,
            ) -> Self {
                let edges: Vec<$edge> = page
                    .items
                    .into_iter()
                    .map(|item| $edge {
                        cursor: $crate::graphql::connection::encode_cursor(cursor(&item)),
                        node: node(item),
                    })
                    .collect();
                let page_info = $crate::graphql::connection::PageInfo {
                    has_next_page: page.has_next_page,
                    has_previous_page: page.has_previous_page,
                    start_cursor: edges.first().map(|edge| edge.cursor.clone()),
                    end_cursor: edges.last().map(|edge| edge.cursor.clone()),
                };
                Self {
                    edges,
                    page_info,
                    total,
                }
            }
        }
    };
}

pub(crate) use connection;

/// The cursor of a record in a list sorted by id.
pub fn id_cursor(id: Uuid) -> SortCursor {
    SortCursor { time: None, id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let cursor = SortCursor {
            time: DateTime::<Utc>::from_timestamp_micros(1_700_000_000_123_456),
            id: Uuid::now_v7(),
        };
        assert_eq!(
            decode_cursor("after", &encode_cursor(cursor)).unwrap(),
            cursor
        );
        let plain = id_cursor(Uuid::now_v7());
        assert_eq!(
            decode_cursor("after", &encode_cursor(plain)).unwrap(),
            plain
        );
    }

    #[test]
    fn garbage_cursor_rejected() {
        let error = decode_cursor("after", "not-a-cursor").unwrap_err();
        assert!(error.message.starts_with("after:"));
    }

    #[test]
    fn page_size_bounds() {
        assert!(page_request(Some(100), None, None, None).is_ok());
        assert!(
            page_request(Some(101), None, None, None)
                .unwrap_err()
                .message
                .contains("100")
        );
        assert!(page_request(Some(0), None, None, None).is_err());
        assert!(page_request(Some(5), None, Some(5), None).is_err());
        assert_eq!(
            page_request(None, None, None, None).unwrap().first,
            Some(20)
        );
    }

    #[test]
    fn in_memory_paging() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let request = page_request(Some(2), None, None, None).unwrap();
        let page = page_in_memory(ids.clone(), |id| *id, request);
        assert_eq!(page.items, ids[..2]);
        assert!(page.has_next_page);
        let request = PageRequest {
            after: Some(id_cursor(ids[1])),
            ..page_request(Some(10), None, None, None).unwrap()
        };
        let page = page_in_memory(ids.clone(), |id| *id, request);
        assert_eq!(page.items, ids[2..]);
        assert!(!page.has_next_page);
        assert!(page.has_previous_page);
        let request = page_request(None, None, Some(2), None).unwrap();
        let page = page_in_memory(ids.clone(), |id| *id, request);
        assert_eq!(page.items, ids[3..]);
        assert!(page.has_previous_page);
    }
}
