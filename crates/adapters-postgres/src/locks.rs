//! Advisory lock namespaces. Two-key advisory locks `(namespace, hashtext(..))` never collide with
//! the single-bigint key space, which only admission (keyed by concert id) and migrations use.

/// Serialises joins of one user to one concert's queue.
pub(crate) const JOIN: i32 = 1;
// Namespace 2: one in-flight request per (user, idempotency key). Taken only inside the SQL
// function `claim_idempotency_key` (migration `2025-01-03-000000_money_functions`), which spells
// the number itself.
/// Serialises one user's holds, so the per-user seat cap is race-free.
pub(crate) const USER_HOLDS: i32 = 3;
// Namespace 4: one date's waiting-list offer step. Taken only inside the SQL function
// `lock_waitlist_date` (migration `2025-01-10-000002_waitlists`), which spells the number itself.
/// Serialises one user's joins to one date's waiting list.
pub(crate) const WAITLIST_JOIN: i32 = 5;
/// Session lock held while migrations run (single-bigint key space; concert ids are positive).
pub(crate) const MIGRATIONS: i64 = -7_202_502_011;
