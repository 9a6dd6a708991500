//! Parent links that must stay acyclic: objective alignment, team and cycle hierarchies.

use crate::error::{ErrorCode, ValidationError};
use std::fmt::Display;

/// The maximum number of levels above a record. It bounds the work of a rollup.
pub const MAX_DEPTH: usize = 32;

/// Checks that `record` may take `parent` as its parent.
///
/// `parent_ancestors` lists the parent's own ancestors, nearest first. `record` is `None`
/// for a record that is being created and so cannot be anyone's ancestor yet. Errors name
/// `field`.
pub fn validate_parent<Id: PartialEq + Copy + Display>(
    field: &str,
    record: Option<Id>,
    parent: Id,
    parent_ancestors: &[Id],
) -> Result<(), ValidationError> {
    if let Some(record) = record {
        if record == parent {
            return Err(ValidationError::new(
                field,
                ErrorCode::AlignmentCycle,
                "a record cannot be its own parent",
            ));
        }
        if parent_ancestors.contains(&record) {
            return Err(ValidationError::new(
                field,
                ErrorCode::AlignmentCycle,
                "the new parent is aligned below this record, which would make the alignment circular",
            ));
        }
    }
    if parent_ancestors.len() + 1 >= MAX_DEPTH {
        return Err(ValidationError::new(
            field,
            ErrorCode::OutOfRange,
            format!(
                "the parent is {} levels deep; the maximum depth is {MAX_DEPTH}",
                parent_ancestors.len() + 1
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_of_new_record() {
        assert!(validate_parent("parentId", None, 1, &[2, 3]).is_ok());
    }

    #[test]
    fn self_parent_rejected() {
        let error = validate_parent("parentId", Some(1), 1, &[]).unwrap_err();
        assert_eq!(error.code, ErrorCode::AlignmentCycle);
        assert_eq!(error.field, "parentId");
    }

    #[test]
    fn descendant_as_parent_rejected() {
        // 1 <- 2 <- 3: making 3 the parent of 1 closes a loop.
        let error = validate_parent("parentId", Some(1), 3, &[2, 1]).unwrap_err();
        assert_eq!(error.code, ErrorCode::AlignmentCycle);
    }

    #[test]
    fn unrelated_parent_accepted() {
        assert!(validate_parent("parentId", Some(1), 4, &[5, 6]).is_ok());
    }

    #[test]
    fn depth_limited() {
        let chain: Vec<u32> = (10..10 + MAX_DEPTH as u32).collect();
        let error = validate_parent("parentId", Some(1), 2, &chain).unwrap_err();
        assert_eq!(error.code, ErrorCode::OutOfRange);
    }
}
