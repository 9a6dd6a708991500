use super::input::{self, Parsed, parse_all, payload, record_input, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::user_result;
use crate::graphql::ids::{GlobalId, NodeKind};
use crate::graphql::objects::comment::Comment;
use async_graphql::{Context, ID, InputObject, Object};
use headway_domain::ids::CommentId;
use headway_domain::model::CommentSubject;
use headway_domain::values::CommentBody;
use headway_domain::{ErrorCode, ValidationError};
use headway_persistence::{CommentChanges, NewComment};

#[derive(InputObject)]
pub struct CreateCommentInput {
    /// The objective, key result or check-in the comment is about.
    pub subject_id: ID,
    /// 1 to 10,000 characters.
    pub body: String,
}

#[derive(InputObject)]
pub struct UpdateCommentInput {
    pub id: ID,
    /// Fails with a CONFLICT user error when the comment is at another version.
    pub expected_version: Option<i32>,
    /// 1 to 10,000 characters.
    pub body: String,
}

record_input!(ArchiveCommentInput, "The comment to archive.");

payload!(CommentPayload, comment: Comment, "The result of createComment, updateComment and archiveComment.");

fn subject(id: &ID) -> Result<CommentSubject, ValidationError> {
    let shown: String = id.as_str().chars().take(80).collect();
    match GlobalId::decode(id.as_str()) {
        Some(GlobalId {
            kind: NodeKind::Objective,
            uuid,
        }) => Ok(CommentSubject::Objective(uuid.into())),
        Some(GlobalId {
            kind: NodeKind::KeyResult,
            uuid,
        }) => Ok(CommentSubject::KeyResult(uuid.into())),
        Some(GlobalId {
            kind: NodeKind::CheckIn,
            uuid,
        }) => Ok(CommentSubject::CheckIn(uuid.into())),
        _ => Err(ValidationError::new(
            "subjectId",
            ErrorCode::InvalidFormat,
            format!("\"{shown}\" is not the id of an objective, key result or check-in"),
        )),
    }
}

fn body(raw: &str) -> Result<CommentBody, ValidationError> {
    CommentBody::parse(raw).map_err(|error| error.in_field("body"))
}

impl CreateCommentInput {
    fn parse(&self) -> Parsed<NewComment> {
        parse_all! {
            subject = subject(&self.subject_id);
            body = body(&self.body);
        }
        Ok(NewComment { subject, body })
    }
}

impl UpdateCommentInput {
    fn parse(&self) -> Parsed<(CommentId, CommentChanges)> {
        parse_all! {
            id = input::id::<CommentId>("id", &self.id);
            body = body(&self.body);
        }
        Ok((
            id,
            CommentChanges {
                expected_version: self.expected_version,
                body,
            },
        ))
    }
}

#[derive(Default)]
pub struct CommentMutations;

#[Object]
impl CommentMutations {
    /// Comments on an objective, key result or check-in. Needs MEMBER.
    async fn create_comment(
        &self,
        ctx: &Context<'_>,
        input: CreateCommentInput,
    ) -> async_graphql::Result<CommentPayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let new = match input.parse() {
            Ok(new) => new,
            Err(errors) => return Ok(CommentPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.create_comment(actor, new).await)? {
                Ok(comment) => CommentPayload::done(Comment(comment)),
                Err(errors) => CommentPayload::rejected(errors),
            },
        )
    }

    /// Changes a comment's text. Needs MEMBER.
    async fn update_comment(
        &self,
        ctx: &Context<'_>,
        input: UpdateCommentInput,
    ) -> async_graphql::Result<CommentPayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let (comment_id, changes) = match input.parse() {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(CommentPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .update_comment(actor, comment_id, changes)
                    .await,
            )? {
                Ok(comment) => CommentPayload::done(Comment(comment)),
                Err(errors) => CommentPayload::rejected(errors),
            },
        )
    }

    /// Archives a comment. Needs MEMBER.
    async fn archive_comment(
        &self,
        ctx: &Context<'_>,
        input: ArchiveCommentInput,
    ) -> async_graphql::Result<CommentPayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let comment_id = match input::id::<CommentId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(CommentPayload::rejected(user_errors(vec![error]))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .archive_comment(actor, comment_id, input.expected_version)
                    .await,
            )? {
                Ok(comment) => CommentPayload::done(Comment(comment)),
                Err(errors) => CommentPayload::rejected(errors),
            },
        )
    }
}
