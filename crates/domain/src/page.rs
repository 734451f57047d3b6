//! Keyset pagination shared by every list that pages: newest first, an opaque cursor.

use crate::Timestamp;
use uuid::Uuid;

/// The largest page a client may ask for.
pub const MAX_PAGE_LIMIT: u32 = 100;
/// The page size when the client names none.
pub const DEFAULT_PAGE_LIMIT: u32 = 20;

/// Why a page request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// `limit` outside `1..=MAX_PAGE_LIMIT`.
    #[error("limit must be between 1 and {MAX_PAGE_LIMIT}")]
    LimitOutOfRange,
}

/// Where the previous page stopped: the last item's creation time and id (ties broken by id).
/// A list kept in an order of its own (the ledger: the order its wallet's balance changed) finds
/// the item by its id and goes on after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Creation time of the last item already returned.
    pub created_at: Timestamp,
    /// Id of the last item already returned.
    pub id: Uuid,
}

/// A validated request for one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    after: Option<Cursor>,
}

impl PageRequest {
    /// Builds a page request; `None` limit means the default.
    ///
    /// # Errors
    /// [`PageError::LimitOutOfRange`] for 0 or more than [`MAX_PAGE_LIMIT`].
    pub fn new(limit: Option<u32>, after: Option<Cursor>) -> Result<Self, PageError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        if limit == 0 || limit > MAX_PAGE_LIMIT {
            return Err(PageError::LimitOutOfRange);
        }
        Ok(Self { limit, after })
    }

    /// How many items at most.
    #[must_use]
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// Items strictly older than this cursor (in the list's newest-first order: `(created_at,
    /// id)` descending, or the ledger's own order).
    #[must_use]
    pub const fn after(&self) -> Option<Cursor> {
        self.after
    }
}

/// One page of items, newest first, with the cursor of the next page (`None` on the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Where the next page starts, or `None` when this is the last page.
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items fetched newest first: the extra item only
    /// proves that a next page exists. `key` extracts an item's cursor.
    #[must_use]
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = limit as usize;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(&key)
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds_are_enforced() {
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(101), None).is_err());
        assert_eq!(PageRequest::new(None, None).map(|p| p.limit()), Ok(20));
        assert_eq!(
            PageRequest::new(Some(100), None).map(|p| p.limit()),
            Ok(100)
        );
    }

    #[test]
    fn overfetch_sets_next_cursor_only_when_more_exist() {
        let key = |n: &u128| Cursor {
            created_at: chrono::DateTime::UNIX_EPOCH,
            id: Uuid::from_u128(*n),
        };
        let page = Page::from_overfetch(vec![3u128, 2, 1], 2, key);
        assert_eq!(page.items, vec![3, 2]);
        assert_eq!(page.next_cursor.map(|c| c.id), Some(Uuid::from_u128(2)));
        let last = Page::from_overfetch(vec![3u128, 2], 2, key);
        assert_eq!(last.next_cursor, None);
    }
}
