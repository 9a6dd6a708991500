//! Cursor pagination and chunked inserts.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

/// A position in a sorted list: the sort time (for lists sorted by time) and the row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortCursor {
    pub time: Option<DateTime<Utc>>,
    pub id: Uuid,
}

/// Which page of a list to read. Exactly one of `first` and `last` is set by the API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<SortCursor>,
    pub before: Option<SortCursor>,
    pub first: Option<u64>,
    pub last: Option<u64>,
}

/// One page of a list, with whether more rows lie on either side.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        })
    }
}

/// How a list is sorted: by id (creation order), or by a time column and then id.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SortKey<C> {
    Id(C),
    TimeThenId { time: C, id: C, descending: bool },
}

/// The largest page any list returns.
pub const MAX_PAGE_SIZE: u64 = 100;

fn after_condition<C: ColumnTrait>(
    key: SortKey<C>,
    cursor: SortCursor,
    forward: bool,
) -> SimpleExpr {
    match key {
        SortKey::Id(id) => {
            if forward {
                Expr::col(id).gt(cursor.id)
            } else {
                Expr::col(id).lt(cursor.id)
            }
        }
        SortKey::TimeThenId {
            time,
            id,
            descending,
        } => {
            let Some(at) = cursor.time else {
                return Expr::col(id).ne(cursor.id);
            };
            // Rows that follow the cursor in the list's order when `forward`, precede it otherwise.
            let later = forward != descending;
            if later {
                Expr::col(time)
                    .gt(at)
                    .or(Expr::col(time).eq(at).and(Expr::col(id).gt(cursor.id)))
            } else {
                Expr::col(time)
                    .lt(at)
                    .or(Expr::col(time).eq(at).and(Expr::col(id).lt(cursor.id)))
            }
        }
    }
}

fn order<E: EntityTrait>(select: Select<E>, key: SortKey<E::Column>, reverse: bool) -> Select<E> {
    let direction = |descending: bool| {
        if descending != reverse {
            Order::Desc
        } else {
            Order::Asc
        }
    };
    match key {
        SortKey::Id(id) => select.order_by(id, direction(false)),
        SortKey::TimeThenId {
            time,
            id,
            descending,
        } => select
            .order_by(time, direction(descending))
            .order_by(id, direction(descending)),
    }
}

/// Reads one page of `select` in the order of `key`.
pub(crate) async fn paginate<E, C>(
    db: &C,
    select: Select<E>,
    key: SortKey<E::Column>,
    request: PageRequest,
) -> Result<Page<E::Model>, StoreError>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let mut select = select;
    if let Some(after) = request.after {
        select = select.filter(after_condition(key, after, true));
    }
    if let Some(before) = request.before {
        select = select.filter(after_condition(key, before, false));
    }
    let backward = request.last.is_some() && request.first.is_none();
    let requested = if backward {
        request.last
    } else {
        request.first
    };
    let size = Ord::min(requested.unwrap_or(MAX_PAGE_SIZE), MAX_PAGE_SIZE);
    let mut rows = order(select, key, backward).limit(size + 1).all(db).await?;
    let more = rows.len() as u64 > size;
    rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    if backward {
        rows.reverse();
    }
    Ok(Page {
        items: rows,
        has_next_page: if backward {
            request.before.is_some()
        } else {
            more
        },
        has_previous_page: if backward {
            more
        } else {
            request.after.is_some()
        },
    })
}

/// Counts the rows of `select`.
pub(crate) async fn count<E, C>(db: &C, select: Select<E>) -> Result<u64, StoreError>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    Ok(select.count(db).await?)
}

/// Rows per INSERT, well below SQLite's limit of 32,766 bound parameters per statement.
const INSERT_CHUNK_ROWS: usize = 500;

/// Inserts rows in statements of at most [`INSERT_CHUNK_ROWS`] rows.
pub(crate) async fn insert_chunked<E, C>(
    db: &C,
    rows: Vec<E::ActiveModel>,
) -> Result<(), StoreError>
where
    E: EntityTrait,
    E::ActiveModel: ActiveModelTrait<Entity = E>,
    C: ConnectionTrait,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<E::ActiveModel> = rows.by_ref().take(INSERT_CHUNK_ROWS).collect();
        E::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(())
}
