//! Batch mutations: one result per item, in input order, with errors that name the item.

use headway_domain::{ErrorCode, ValidationError};

/// The maximum number of items in one batch mutation.
pub const MAX_BATCH_ITEMS: usize = 1_000;

/// Rejects an empty batch or one over [`MAX_BATCH_ITEMS`], naming the list field.
pub fn check_size(field: &str, count: usize) -> Result<(), ValidationError> {
    if count == 0 {
        return Err(ValidationError::new(
            field,
            ErrorCode::Blank,
            format!("is empty; send 1 to {MAX_BATCH_ITEMS} items per call"),
        ));
    }
    if count > MAX_BATCH_ITEMS {
        return Err(ValidationError::new(
            field,
            ErrorCode::TooLong,
            format!("holds {count} items; send 1 to {MAX_BATCH_ITEMS} per call"),
        ));
    }
    Ok(())
}

/// Parses every item; the valid ones go to storage together, in order.
pub struct Parsed<T> {
    /// Per item: `None` when it went to storage, the errors when it did not parse.
    rejected: Vec<Option<Vec<ValidationError>>>,
    pub valid: Vec<T>,
}

impl<T> Parsed<T> {
    pub fn new<I>(
        items: &[I],
        parse: impl Fn(usize, &I) -> Result<T, Vec<ValidationError>>,
    ) -> Self {
        let mut rejected = Vec::with_capacity(items.len());
        let mut valid = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match parse(index, item) {
                Ok(value) => {
                    valid.push(value);
                    rejected.push(None);
                }
                Err(error) => rejected.push(Some(error)),
            }
        }
        Self { rejected, valid }
    }

    /// Merges the storage results of the valid items back among the parse errors. Storage
    /// errors name fields of the item; they gain the prefix `{field}.{index}.`.
    pub fn merge<R>(
        self,
        field: &str,
        stored: Vec<Result<R, ValidationError>>,
    ) -> Vec<Result<R, Vec<ValidationError>>> {
        let mut stored = stored.into_iter();
        self.rejected
            .into_iter()
            .enumerate()
            .map(|(index, rejected)| match rejected {
                Some(errors) => Err(errors),
                None => match stored.next() {
                    Some(Ok(outcome)) => Ok(outcome),
                    Some(Err(error)) => {
                        let path = if error.field.is_empty() {
                            format!("{field}.{index}")
                        } else {
                            format!("{field}.{index}.{}", error.field)
                        };
                        Err(vec![error.in_field(path)])
                    }
                    None => Err(vec![ValidationError::new(
                        format!("{field}.{index}"),
                        ErrorCode::Invalid,
                        "was not processed",
                    )]),
                },
            })
            .collect()
    }
}

/// Converts an item position to the GraphQL `index` field.
pub fn index(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

/// Counts stored and rejected items for the payload.
pub fn counts<R, E>(results: &[Result<R, E>]) -> (i32, i32) {
    let recorded = results.iter().filter(|result| result.is_ok()).count();
    (index(recorded), index(results.len() - recorded))
}
