use super::key_result::{CheckIn, KeyResult};
use super::load_one;
use super::objective::Objective;
use super::organization::User;
use crate::graphql::connection::{TotalCount, connection, id_cursor, page_request};
use crate::graphql::context::ContextExt;
use crate::graphql::error::store_failure;
use crate::graphql::ids::Typed;
use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, Object, Union};
use headway_domain::model::{self, CommentSubject as DomainSubject};

/// Feedback on an objective, key result or check-in.
#[derive(Clone)]
pub struct Comment(pub model::Comment);

/// What a comment is about.
#[derive(Union)]
pub enum CommentSubject {
    Objective(Objective),
    KeyResult(KeyResult),
    CheckIn(CheckIn),
}

#[Object]
impl Comment {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn body(&self) -> &str {
        self.0.body.as_str()
    }

    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.author_id {
            Some(author_id) => Ok(load_one(ctx, author_id).await?.map(User)),
            None => Ok(None),
        }
    }

    /// The record the comment is about.
    async fn subject(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CommentSubject>> {
        Ok(match self.0.subject {
            DomainSubject::Objective(id) => load_one(ctx, id)
                .await?
                .map(|row| CommentSubject::Objective(Objective(row))),
            DomainSubject::KeyResult(id) => load_one(ctx, id)
                .await?
                .map(|row| CommentSubject::KeyResult(KeyResult::from(row))),
            DomainSubject::CheckIn(id) => load_one(ctx, id)
                .await?
                .map(|row| CommentSubject::CheckIn(CheckIn(row))),
        })
    }

    /// Increases with every change; pass it as `expectedVersion` to detect concurrent edits.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }

    async fn archived_at(&self) -> Option<DateTime> {
        self.0.archived_at.map(Into::into)
    }
}

connection!(
    CommentConnection,
    CommentEdge,
    Comment,
    "A page of comments."
);

/// Lists the unarchived comments on a subject, oldest first.
pub async fn comments_connection(
    ctx: &Context<'_>,
    subject: DomainSubject,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<CommentConnection> {
    let organization_id = ctx.read_scope()?;
    let request = page_request(first, after, last, before)?;
    let store = ctx.store()?.clone();
    let page = store
        .comments_page(organization_id, subject, request)
        .await
        .map_err(store_failure)?;
    let total = TotalCount::deferred(move || {
        let store = store.clone();
        Box::pin(async move { store.count_comments(organization_id, subject).await })
    });
    Ok(CommentConnection::build(
        page,
        |comment| id_cursor(comment.id.as_uuid()),
        Comment,
        total,
    ))
}
