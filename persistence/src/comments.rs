//! Comments on objectives, key results and check-ins.

use crate::convert;
use crate::entities::{check_in, comment, key_result, objective};
use crate::error::{StoreError, check_version};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::rollup;
use crate::scoped::{self, OrganizationScoped};
use crate::tx::{WriteTx, changes_nothing};
use crate::{Actor, Store};
use headway_domain::events::{EventPayload, EventScope, NewEvent, RecordKind};
use headway_domain::ids::{CommentId, OrganizationId};
use headway_domain::model::{Comment, CommentSubject};
use headway_domain::values::CommentBody;
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct NewComment {
    pub subject: CommentSubject,
    pub body: CommentBody,
}

#[derive(Clone, Debug)]
pub struct CommentChanges {
    pub expected_version: Option<i32>,
    pub body: CommentBody,
}

/// The event scope of a comment's subject, after checking that the subject exists.
async fn subject_scope(
    tx: &WriteTx,
    subject: CommentSubject,
) -> Result<(RecordKind, Uuid, EventScope), StoreError> {
    let organization_id = tx.organization_id();
    let objective_of = |id: Uuid| async move {
        scoped::find_one::<objective::Entity, _>(&tx.db, organization_id, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a key result's objective is missing".to_owned()))
    };
    match subject {
        CommentSubject::Objective(id) => {
            let row =
                scoped::find_one::<objective::Entity, _>(&tx.db, organization_id, id.as_uuid())
                    .await?
                    .ok_or_else(|| StoreError::not_found("subjectId", "objective"))?;
            Ok((RecordKind::Objective, row.id, rollup::objective_scope(&row)))
        }
        CommentSubject::KeyResult(id) => {
            let row =
                scoped::find_one::<key_result::Entity, _>(&tx.db, organization_id, id.as_uuid())
                    .await?
                    .ok_or_else(|| StoreError::not_found("subjectId", "key result"))?;
            let objective = objective_of(row.objective_id).await?;
            Ok((
                RecordKind::KeyResult,
                row.id,
                rollup::key_result_scope(&row, &objective),
            ))
        }
        CommentSubject::CheckIn(id) => {
            let row =
                scoped::find_one::<check_in::Entity, _>(&tx.db, organization_id, id.as_uuid())
                    .await?
                    .ok_or_else(|| StoreError::not_found("subjectId", "check-in"))?;
            let key_result = scoped::find_one::<key_result::Entity, _>(
                &tx.db,
                organization_id,
                row.key_result_id,
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("a check-in's key result is missing".to_owned()))?;
            let objective = objective_of(key_result.objective_id).await?;
            Ok((
                RecordKind::CheckIn,
                row.id,
                rollup::key_result_scope(&key_result, &objective),
            ))
        }
    }
}

async fn writable_comment(
    tx: &WriteTx,
    comment_id: CommentId,
) -> Result<comment::Model, StoreError> {
    let row =
        scoped::find_one::<comment::Entity, _>(&tx.db, tx.organization_id(), comment_id.as_uuid())
            .await?
            .ok_or_else(|| StoreError::not_found("id", "comment"))?;
    if row.archived_at.is_some() {
        return Err(
            ValidationError::new("id", ErrorCode::Archived, "the comment is archived").into(),
        );
    }
    Ok(row)
}

impl Store {
    pub async fn create_comment(
        &self,
        actor: Actor,
        input: NewComment,
    ) -> Result<Comment, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let (record, record_id, scope) = subject_scope(&tx, input.subject).await?;
        let (objective_id, key_result_id, check_in_id) = match input.subject {
            CommentSubject::Objective(id) => (Some(id.as_uuid()), None, None),
            CommentSubject::KeyResult(id) => (None, Some(id.as_uuid()), None),
            CommentSubject::CheckIn(id) => (None, None, Some(id.as_uuid())),
        };
        let row = comment::ActiveModel {
            id: Set(CommentId::generate().as_uuid()),
            organization_id: Set(actor.organization_id.as_uuid()),
            objective_id: Set(objective_id),
            key_result_id: Set(key_result_id),
            check_in_id: Set(check_in_id),
            author_id: Set(actor.user_id.map(Into::into)),
            body: Set(input.body.into_inner()),
            version: Set(1),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            archived_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row("createComment", "Comment", row.id, None, Some(&row));
        tx.emit(NewEvent {
            payload: EventPayload::CommentCreated {
                comment_id: row.id.into(),
                record,
                record_id,
            },
            scope,
        });
        tx.commit(self).await?;
        convert::comment(row)
    }

    pub async fn update_comment(
        &self,
        actor: Actor,
        comment_id: CommentId,
        changes: CommentChanges,
    ) -> Result<Comment, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = writable_comment(&tx, comment_id).await?;
        check_version(changes.expected_version, row.version)?;
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.body = Set(changes.body.into_inner());
        if changes_nothing(&before, &update) {
            tx.commit(self).await?;
            return convert::comment(before);
        }
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "updateComment",
            "Comment",
            row.id,
            Some(&before),
            Some(&row),
        );
        tx.commit(self).await?;
        convert::comment(row)
    }

    pub async fn archive_comment(
        &self,
        actor: Actor,
        comment_id: CommentId,
        expected_version: Option<i32>,
    ) -> Result<Comment, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = writable_comment(&tx, comment_id).await?;
        check_version(expected_version, row.version)?;
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.archived_at = Set(Some(tx.now));
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "archiveComment",
            "Comment",
            row.id,
            Some(&before),
            Some(&row),
        );
        tx.commit(self).await?;
        convert::comment(row)
    }

    pub async fn comments_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[CommentId],
    ) -> Result<Vec<Comment>, StoreError> {
        let rows = scoped::find_many::<comment::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        convert::all(rows, convert::comment)
    }

    fn comments_select(
        organization_id: OrganizationId,
        subject: CommentSubject,
    ) -> sea_orm::Select<comment::Entity> {
        let select =
            comment::Entity::find_in(organization_id).filter(comment::Column::ArchivedAt.is_null());
        match subject {
            CommentSubject::Objective(id) => {
                select.filter(comment::Column::ObjectiveId.eq(id.as_uuid()))
            }
            CommentSubject::KeyResult(id) => {
                select.filter(comment::Column::KeyResultId.eq(id.as_uuid()))
            }
            CommentSubject::CheckIn(id) => {
                select.filter(comment::Column::CheckInId.eq(id.as_uuid()))
            }
        }
    }

    /// The unarchived comments on a subject, oldest first.
    pub async fn comments_page(
        &self,
        organization_id: OrganizationId,
        subject: CommentSubject,
        request: PageRequest,
    ) -> Result<Page<Comment>, StoreError> {
        let select = Self::comments_select(organization_id, subject);
        page::paginate(&self.db, select, SortKey::Id(comment::Column::Id), request)
            .await?
            .try_map(convert::comment)
    }

    pub async fn count_comments(
        &self,
        organization_id: OrganizationId,
        subject: CommentSubject,
    ) -> Result<u64, StoreError> {
        page::count(&self.db, Self::comments_select(organization_id, subject)).await
    }
}
