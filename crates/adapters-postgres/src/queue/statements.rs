//! The queue's statement texts. Most are templates (`sql/*.sql`) with placeholders that this
//! module fills, in one place:
//!
//! * `{idle}`, `{touch}`: the idle and touch cutoffs, `now() - interval '<µs> microseconds'`,
//!   written into the text rather than bound as parameters. The idle timeout is fixed for the
//!   life of the process, so this costs no extra prepared statements, and the planner sees the
//!   cutoff even in a cached generic plan: it then knows that the idle-token count selects
//!   almost nothing (bound as a parameter, the generic plan of the place-in-line lookup scanned
//!   the whole line ahead: 80 ms at 100k waiting).
//! * `{status}`: a token's effective status (`sql/effective_status.sql`).
//! * `{filter}`: which rows (`t.id = ANY($1)`, …).
//!
//! Every text is rendered on one line, without its comments: `scripts/queue-plans.sh` explains
//! them as one `PREPARE` per line.

use crate::rows::micros;
use domain::QueuePolicy;
use std::time::Duration;

/// A poll refreshes `last_polled_at` only when it is older than this (or a quarter of the idle
/// timeout, if shorter), so most polls are a single read.
const TOUCH_AFTER: Duration = Duration::from_secs(5);

const EFFECTIVE_STATUS: &str = include_str!("sql/effective_status.sql");
const STANDING: &str = include_str!("sql/standing.sql");
const TOKEN: &str = include_str!("sql/token.sql");
const POLL_BATCH: &str = include_str!("sql/poll_batch.sql");
const STATS: &str = include_str!("sql/stats.sql");
const ADMIT_PICK: &str = include_str!("sql/admit_pick.sql");
const ADMIT_LINE: &str = include_str!("sql/admit_line.sql");
const ADMIT_CANDIDATES: &str = include_str!("sql/admit_candidates.sql");
const RETIRE_EXPIRED: &str = include_str!("sql/join_retire_expired.sql");

fn touch_after(policy: QueuePolicy) -> Duration {
    TOUCH_AFTER.min(policy.idle_timeout() / 4)
}

/// `now() - interval '<µs> microseconds'`.
pub(super) fn cutoff(ago: Duration) -> String {
    format!("(now() - interval '{} microseconds')", micros(ago))
}

/// `sql` on one line: comment lines dropped, lines joined by single spaces.
fn one_line(sql: &str) -> String {
    sql.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `template` with `policy`'s cutoffs, the effective status and `filter` written in.
fn render(template: &str, policy: QueuePolicy, filter: &str) -> String {
    one_line(template)
        .replace("{status}", &one_line(EFFECTIVE_STATUS))
        .replace("{idle}", &cutoff(policy.idle_timeout()))
        .replace("{touch}", &cutoff(touch_after(policy)))
        .replace("{filter}", filter)
}

/// Tokens with their standing, for `filter` (`t.id = $1`, `t.id = ANY($1)`).
pub(super) fn standing(policy: QueuePolicy, filter: &str) -> String {
    render(STANDING, policy, filter)
}

/// The gate's token statement for `filter`.
pub(super) fn token(policy: QueuePolicy, filter: &str) -> String {
    render(TOKEN, policy, filter)
}

/// The batched poll statement (`$1` tokens, `$2` callers).
pub(super) fn poll_batch(policy: QueuePolicy) -> String {
    render(
        &POLL_BATCH.replace("{standing}", STANDING),
        policy,
        "t.id = ANY($1)",
    )
}

/// Counts and settings of one concert (`$1`), or of all of them in concert order.
pub(super) fn stats(policy: QueuePolicy, one: bool) -> String {
    let filter = if one {
        "WHERE q.concert_id = $1"
    } else {
        "ORDER BY q.concert_id"
    };
    render(STATS, policy, filter)
}

/// Admission's pick of the oldest live waiting tokens.
pub(super) fn admit_pick(policy: QueuePolicy) -> String {
    render(ADMIT_PICK, policy, "")
}

/// Admission's read of a concert's line.
pub(super) fn admit_line() -> String {
    one_line(ADMIT_LINE)
}

/// The concerts a tick may admit from.
pub(super) fn admit_candidates() -> String {
    one_line(ADMIT_CANDIDATES)
}

/// A join's retirement of its users' expired tokens.
pub(super) fn retire_expired(policy: QueuePolicy) -> String {
    render(RETIRE_EXPIRED, policy, "")
}
