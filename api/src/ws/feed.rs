//! Shared subscription feeds: subscribers that would receive the same messages share one
//! execution.
//!
//! Each event of a subscription is resolved and serialized once per feed instead of once
//! per subscriber, which is what keeps the latency of a check-in low when thousands of
//! dashboards watch the same records. Two subscriptions share a feed when they run the same
//! document with the same variables and operation name, in the same organization, for
//! principals that read the same: users of the same role, or API tokens with the same
//! scopes. No field reachable from a subscription's events depends on the user beyond
//! role or scopes. A field that did would need its subscriptions to run unshared.
//!
//! Subscriptions that resume with `after` replay their own history first, so they run on
//! their own, as do queries and mutations sent over the socket.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Request, Response, ServerError, Value, Variables};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use headway_domain::ids::OrganizationId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use tokio::sync::broadcast;
use tracing::Instrument as _;

use crate::graphql::context::Principal;

/// How many messages a subscriber of a feed may fall behind before it loses its place.
pub const FEED_CAPACITY: usize = 1_024;

/// A message of a feed to its subscribers.
#[derive(Debug)]
pub enum FeedItem {
    /// A result without errors, serialized as the payload of a `next` message.
    Payload(String),
    /// A result with errors, which each subscriber tags with its own connection's id.
    Response(Response),
    /// The errors that ended the operation before its first result.
    Failed(Vec<ServerError>),
    /// The operation ended.
    Done,
}

/// The identity of a feed: subscriptions with equal keys share it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FeedKey {
    organization_id: Option<OrganizationId>,
    /// The principal's read access: its role, or its token's scopes.
    audience: String,
    query: String,
    operation_name: Option<String>,
    variables: String,
}

/// One shared execution and its subscribers.
pub struct Feed {
    sender: broadcast::Sender<Arc<FeedItem>>,
    task: tokio::task::AbortHandle,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A subscriber's place in a feed. Dropping the last one of a feed stops its execution.
pub struct Subscriber {
    _feed: Arc<Feed>,
    pub receiver: BoxStream<'static, Result<Arc<FeedItem>, u64>>,
}

/// The feeds of this replica.
#[derive(Default)]
pub struct Feeds {
    feeds: Arc<Mutex<HashMap<FeedKey, Weak<Feed>>>>,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeds").finish_non_exhaustive()
    }
}

impl Feeds {
    /// The key under which `request`, whose parsed `document` is given, may share a feed,
    /// or `None` when it must run alone.
    fn key(
        principal: &Principal,
        request: &Request,
        document: Option<&ExecutableDocument>,
    ) -> Option<FeedKey> {
        let audience = match principal {
            Principal::User(user) => format!("user {:?}", user.membership.as_ref()?.role),
            Principal::ApiToken(token) => format!("token {:?}", token.scopes),
            Principal::Anonymous => return None,
        };
        if !shareable(document?, request) {
            return None;
        }
        Some(FeedKey {
            organization_id: principal.organization_id(),
            audience,
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).ok()?,
        })
    }

    /// Joins the feed of `request`, starting it with `start` when none runs. Gives the
    /// request back when it must run on its own.
    pub fn join(
        &self,
        principal: &Principal,
        request: Request,
        document: Option<&ExecutableDocument>,
        start: impl FnOnce(Request) -> BoxStream<'static, Response>,
    ) -> Result<Subscriber, Box<Request>> {
        let Some(key) = Self::key(principal, &request, document) else {
            return Err(Box::new(request));
        };
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        let feed = match feeds.get(&key).and_then(Weak::upgrade) {
            Some(feed) => feed,
            None => {
                let (sender, _) = broadcast::channel(FEED_CAPACITY);
                let task = actix_web::rt::spawn(
                    run(
                        start(request),
                        sender.clone(),
                        self.feeds.clone(),
                        key.clone(),
                    )
                    .instrument(tracing::info_span!("graphql.subscription.feed")),
                );
                let feed = Arc::new(Feed {
                    sender,
                    task: task.abort_handle(),
                });
                feeds.retain(|_, feed| feed.strong_count() > 0);
                feeds.insert(key, Arc::downgrade(&feed));
                feed
            }
        };
        // Subscribing under the lock: the feed leaves the map before its last message, so
        // every subscriber it still had receives that message.
        let receiver = tokio_stream::wrappers::BroadcastStream::new(feed.sender.subscribe())
            .map(|item| {
                item.map_err(
                    |tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(skipped)| {
                        skipped
                    },
                )
            })
            .boxed();
        Ok(Subscriber {
            _feed: feed,
            receiver,
        })
    }

    /// Counts the feeds that are running.
    pub fn running(&self) -> usize {
        self.feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|feed| feed.strong_count() > 0)
            .count()
    }
}

/// Runs a feed's operation and sends each result to its subscribers.
async fn run(
    mut responses: BoxStream<'static, Response>,
    sender: broadcast::Sender<Arc<FeedItem>>,
    feeds: Arc<Mutex<HashMap<FeedKey, Weak<Feed>>>>,
    key: FeedKey,
) {
    let mut first = true;
    let last = loop {
        let Some(response) = responses.next().await else {
            break FeedItem::Done;
        };
        if first && super::fails_before_start(&response) {
            break FeedItem::Failed(response.errors);
        }
        first = false;
        if !response.errors.is_empty() {
            let _ = sender.send(Arc::new(FeedItem::Response(response)));
            continue;
        }
        match serde_json::to_string(&response) {
            Ok(payload) => {
                let _ = sender.send(Arc::new(FeedItem::Payload(payload)));
            }
            Err(error) => tracing::warn!(%error, "failed to serialize a subscription result"),
        }
    };
    {
        // A feed of the same key may have replaced this one after its last subscriber left.
        let mut feeds = feeds.lock().unwrap_or_else(PoisonError::into_inner);
        let ours = feeds
            .get(&key)
            .and_then(Weak::upgrade)
            .is_some_and(|feed| feed.sender.same_channel(&sender));
        if ours {
            feeds.remove(&key);
        }
    }
    let _ = sender.send(Arc::new(last));
}

/// Checks whether the selected operation of `document` is a subscription that does not
/// resume.
fn shareable(document: &ExecutableDocument, request: &Request) -> bool {
    let operation = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
            Some(operation) => operation,
            None => return false,
        },
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            match operations.values().next() {
                Some(operation) => operation,
                None => return false,
            }
        }
        (DocumentOperations::Multiple(_), None) => return false,
    };
    operation.node.ty == OperationType::Subscription
        && !resumes(
            document,
            &request.variables,
            &operation.node.selection_set.node,
            0,
        )
}

/// Checks whether a field of `selection`, or of a fragment it spreads, takes an `after`
/// other than null.
fn resumes(
    document: &ExecutableDocument,
    variables: &Variables,
    selection: &SelectionSet,
    depth: usize,
) -> bool {
    // Fragments may spread each other, so a document nested deeper than this is not shared.
    if depth > 32 {
        return true;
    }
    selection.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            field.node.arguments.iter().any(|(name, value)| {
                name.node == "after"
                    && value
                        .node
                        .clone()
                        .into_const_with(|variable| {
                            Ok::<_, std::convert::Infallible>(
                                variables.get(&variable).cloned().unwrap_or_default(),
                            )
                        })
                        .is_ok_and(|value| value != Value::Null)
            }) || resumes(
                document,
                variables,
                &field.node.selection_set.node,
                depth + 1,
            )
        }
        Selection::InlineFragment(fragment) => resumes(
            document,
            variables,
            &fragment.node.selection_set.node,
            depth + 1,
        ),
        Selection::FragmentSpread(spread) => document
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|fragment| {
                resumes(
                    document,
                    variables,
                    &fragment.node.selection_set.node,
                    depth + 1,
                )
            }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(query: &str, variables: serde_json::Value) -> Request {
        Request::new(query).variables(Variables::from_json(variables))
    }

    fn shares(query: &str, variables: serde_json::Value) -> bool {
        let request = request(query, variables);
        let document = async_graphql::parser::parse_query(&request.query).unwrap();
        shareable(&document, &request)
    }

    #[test]
    fn subscriptions_share_unless_they_resume() {
        let query = "subscription($after: Sequence) { progress(after: $after) { sequence } }";
        assert!(shares("subscription { progress { sequence } }", json!({})));
        assert!(shares(query, json!({})));
        assert!(shares(query, json!({ "after": null })));
        assert!(!shares(query, json!({ "after": 7 })));
        assert!(shares(
            "subscription { progress(after: null) { sequence } }",
            json!({})
        ));
        assert!(!shares(
            "subscription { progress(after: 3) { sequence } }",
            json!({})
        ));
        assert!(!shares(
            "subscription { ...Live } fragment Live on Subscription { progress(after: 3) { sequence } }",
            json!({})
        ));
    }

    #[test]
    fn queries_and_mutations_never_share() {
        assert!(!shares("{ viewer { role } }", json!({})));
        assert!(!shares(
            "mutation { archiveObjective(input: { id: \"x\" }) { userErrors { message } } }",
            json!({})
        ));
        let two = "query A { viewer { role } } subscription B { progress { sequence } }";
        let mut named = request(two, json!({}));
        named = named.operation_name("B");
        let document = async_graphql::parser::parse_query(&named.query).unwrap();
        assert!(shareable(&document, &named));
        assert!(!shares(two, json!({})));
    }
}
