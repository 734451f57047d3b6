//! The waiting queue: one live token per user and concert, strict FIFO admission.

use crate::{ConcertId, QueueTokenId, Timestamp, UserId};

/// Where a queue token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueTokenStatus {
    /// Joined before the sale opened: waits for the draw, which gives it a place in line (it
    /// has no position until then).
    PreQueue,
    /// In line, not yet admitted.
    Waiting,
    /// Admitted: may browse, hold and pay until `active_until`.
    Active,
    /// Dropped, left, timed out or used by a payment. Final.
    Expired,
}

impl QueueTokenStatus {
    /// The contract's spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PreQueue => "PRE_QUEUE",
            Self::Waiting => "WAITING",
            Self::Active => "ACTIVE",
            Self::Expired => "EXPIRED",
        }
    }

    /// Parses the contract's spelling (used by stores).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PRE_QUEUE" => Some(Self::PreQueue),
            "WAITING" => Some(Self::Waiting),
            "ACTIVE" => Some(Self::Active),
            "EXPIRED" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A queue token as stored. `seq` is its place in issue order within the concert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueToken {
    /// The token (the `Queue-Token` header value).
    pub id: QueueTokenId,
    /// Its holder.
    pub user_id: UserId,
    /// The concert it queues for.
    pub concert_id: ConcertId,
    /// Issue order within the concert (strictly increasing).
    pub seq: i64,
    /// Status as seen at `observed_at` by the store's clock (time-based expiry applied).
    pub status: QueueTokenStatus,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When its active window closes (set once admitted).
    pub active_until: Option<Timestamp>,
}

/// The effective status of a token at `now`: an ACTIVE token past `active_until` and a WAITING
/// token not polled within the idle timeout are EXPIRED at once, whether or not a job ran.
#[must_use]
pub fn effective_token_status(
    stored: QueueTokenStatus,
    active_until: Option<Timestamp>,
    idle_deadline: Option<Timestamp>,
    now: Timestamp,
) -> QueueTokenStatus {
    match stored {
        QueueTokenStatus::Active if active_until.is_some_and(|until| until <= now) => {
            QueueTokenStatus::Expired
        }
        QueueTokenStatus::Waiting | QueueTokenStatus::PreQueue
            if idle_deadline.is_some_and(|deadline| deadline <= now) =>
        {
            QueueTokenStatus::Expired
        }
        other => other,
    }
}

/// Why a `Queue-Token` does not let its bearer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueAccessError {
    /// Missing, malformed or unknown token.
    #[error("a valid Queue-Token is required")]
    TokenRequired,
    /// Waiting, expired, or belonging to another user or concert.
    #[error("the queue token is not active for this user and concert")]
    NotActive,
}

impl QueueToken {
    /// Checks that this token lets `user` act on `concert` now (its status is already the
    /// effective one).
    ///
    /// # Errors
    /// [`QueueAccessError::NotActive`] for another user's or concert's token, or one not ACTIVE.
    pub fn authorize(&self, user: UserId, concert: ConcertId) -> Result<(), QueueAccessError> {
        if self.user_id != user
            || self.concert_id != concert
            || self.status != QueueTokenStatus::Active
        {
            return Err(QueueAccessError::NotActive);
        }
        Ok(())
    }
}

/// A token with what its holder wants to know: place in line and admission pace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStanding {
    /// The token.
    pub token: QueueToken,
    /// 1-based place among those still waiting (only for WAITING).
    pub position: Option<u64>,
    /// Tokens of this concert admitted in the last 60 seconds (the measured rate).
    pub admitted_last_minute: u64,
    /// When the concert's sale opens (the draw), if it has an opening.
    pub sale_opens_at: Option<Timestamp>,
}

/// What the client is shown about its place in line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTicket {
    /// The token.
    pub token: QueueTokenId,
    /// The concert.
    pub concert_id: ConcertId,
    /// Effective status.
    pub status: QueueTokenStatus,
    /// Place in line (WAITING only).
    pub position: Option<u64>,
    /// Expected wait (WAITING only).
    pub estimated_wait_seconds: Option<u64>,
    /// End of the active window (ACTIVE only).
    pub active_until: Option<Timestamp>,
    /// When the concert's sale opens, if it has an opening.
    pub sale_opens_at: Option<Timestamp>,
}

impl QueueTicket {
    /// Builds the client's view. The estimate uses the measured admission rate of the last
    /// minute; before anything was measured it falls back to `nominal_per_minute` (the configured
    /// batch per tick), and with neither it is unknown (`None`).
    #[must_use]
    pub fn from_standing(standing: &QueueStanding, nominal_per_minute: u64) -> Self {
        let token = &standing.token;
        let waiting = token.status == QueueTokenStatus::Waiting;
        let position = if waiting { standing.position } else { None };
        let rate = if standing.admitted_last_minute > 0 {
            standing.admitted_last_minute
        } else {
            nominal_per_minute
        };
        let estimated_wait_seconds = position.and_then(|p| estimate_wait_seconds(p, rate));
        Self {
            token: token.id,
            concert_id: token.concert_id,
            status: token.status,
            position,
            estimated_wait_seconds,
            active_until: if token.status == QueueTokenStatus::Active {
                token.active_until
            } else {
                None
            },
            sale_opens_at: standing.sale_opens_at,
        }
    }
}

/// Seconds until `position` is admitted at `per_minute` admissions a minute, rounded up;
/// `None` when the rate is zero (no estimate is possible).
#[must_use]
pub fn estimate_wait_seconds(position: u64, per_minute: u64) -> Option<u64> {
    if per_minute == 0 {
        return None;
    }
    Some((position.saturating_mul(60)).div_ceil(per_minute))
}

/// A concert's admission settings: the defaults unless an operator overrode them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Tokens admitted per tick.
    pub admit_batch: u32,
    /// Cap of ACTIVE tokens.
    pub max_active: u32,
    /// When paused, nobody is admitted (joining still works).
    pub paused: bool,
}

/// How many waiting tokens one tick admits: the oldest `n` where
/// `n = min(batch, max_active - active, waiting)`, or none when paused.
#[must_use]
pub fn admission_quota(settings: QueueSettings, active: u64, waiting: u64) -> u64 {
    if settings.paused {
        return 0;
    }
    let room = u64::from(settings.max_active).saturating_sub(active);
    room.min(u64::from(settings.admit_batch)).min(waiting)
}

/// An operator's partial change to a concert's admission settings, valid by construction:
/// build it with [`QueueSettingsPatch::new`]. The default changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueSettingsPatch {
    admit_batch: Option<u32>,
    max_active: Option<u32>,
    paused: Option<bool>,
}

/// Why an operator's settings change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidQueuePatch {
    /// A count of 0 would stop admission for good (use `paused` instead), and a huge one is a
    /// typing mistake.
    #[error("admitBatch and maxActive must be between 1 and {MAX_QUEUE_SETTING}")]
    OutOfRange,
}

/// The largest batch or active cap an operator may set.
pub const MAX_QUEUE_SETTING: u32 = 1_000_000;

impl QueueSettingsPatch {
    /// Validates the patch.
    ///
    /// # Errors
    /// [`InvalidQueuePatch::OutOfRange`] for a zero or huge count.
    pub fn new(
        admit_batch: Option<u32>,
        max_active: Option<u32>,
        paused: Option<bool>,
    ) -> Result<Self, InvalidQueuePatch> {
        let ok = |v: Option<u32>| v.is_none_or(|v| (1..=MAX_QUEUE_SETTING).contains(&v));
        if !ok(admit_batch) || !ok(max_active) {
            return Err(InvalidQueuePatch::OutOfRange);
        }
        Ok(Self {
            admit_batch,
            max_active,
            paused,
        })
    }

    /// The new batch size, if it changes (1 ..= [`MAX_QUEUE_SETTING`]).
    #[must_use]
    pub const fn admit_batch(&self) -> Option<u32> {
        self.admit_batch
    }

    /// The new active cap, if it changes (1 ..= [`MAX_QUEUE_SETTING`]).
    #[must_use]
    pub const fn max_active(&self) -> Option<u32> {
        self.max_active
    }

    /// Pause (`true`) or resume (`false`) admission, if it changes.
    #[must_use]
    pub const fn paused(&self) -> Option<bool> {
        self.paused
    }

    /// This patch followed by `later`: what `later` sets wins, the rest stays as this one says.
    #[must_use]
    pub fn then(self, later: Self) -> Self {
        Self {
            admit_batch: later.admit_batch.or(self.admit_batch),
            max_active: later.max_active.or(self.max_active),
            paused: later.paused.or(self.paused),
        }
    }

    /// The settings after this patch.
    #[must_use]
    pub fn apply(self, current: QueueSettings) -> QueueSettings {
        QueueSettings {
            admit_batch: self.admit_batch.unwrap_or(current.admit_batch),
            max_active: self.max_active.unwrap_or(current.max_active),
            paused: self.paused.unwrap_or(current.paused),
        }
    }
}

/// An operator's view of one concert's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Tokens waiting.
    pub waiting: u64,
    /// Tokens active (unexpired).
    pub active: u64,
    /// Effective settings.
    pub settings: QueueSettings,
    /// Tokens admitted in the last 60 seconds.
    pub admitted_last_minute: u64,
    /// Live PRE_QUEUE tokens (polled within the idle timeout, like `waiting`): the places the
    /// draw will shuffle.
    pub pre_queue: u64,
    /// When the pre-queue draw happened; `None` before it (or without a sale opening).
    pub drawn_at: Option<Timestamp>,
    /// The concert's sale window, so operators see the draw's trigger next to its result.
    pub sale: crate::SaleWindow,
}

/// What one admission tick did for one concert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionReport {
    /// The concert.
    pub concert_id: ConcertId,
    /// Tokens admitted by this tick.
    pub admitted: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn token(status: QueueTokenStatus) -> QueueToken {
        QueueToken {
            id: QueueTokenId::from_uuid(uuid::Uuid::nil()),
            user_id: UserId::new(1).unwrap_or_else(|_| unreachable!()),
            concert_id: ConcertId::new(1).unwrap_or_else(|_| unreachable!()),
            seq: 1,
            status,
            issued_at: Utc::now(),
            active_until: Some(Utc::now()),
        }
    }

    #[test]
    fn time_based_expiry_applies_at_once() {
        let now = Utc::now();
        let past = Some(now - Duration::seconds(1));
        let future = Some(now + Duration::seconds(1));
        assert_eq!(
            effective_token_status(QueueTokenStatus::Active, past, None, now),
            QueueTokenStatus::Expired
        );
        assert_eq!(
            effective_token_status(QueueTokenStatus::Active, future, None, now),
            QueueTokenStatus::Active
        );
        assert_eq!(
            effective_token_status(QueueTokenStatus::Waiting, None, past, now),
            QueueTokenStatus::Expired
        );
        assert_eq!(
            effective_token_status(QueueTokenStatus::Waiting, None, future, now),
            QueueTokenStatus::Waiting
        );
    }

    #[test]
    fn a_pre_queue_token_is_spelled_kept_alive_and_never_authorizes() {
        let now = Utc::now();
        for status in [
            QueueTokenStatus::PreQueue,
            QueueTokenStatus::Waiting,
            QueueTokenStatus::Active,
            QueueTokenStatus::Expired,
        ] {
            assert_eq!(QueueTokenStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(QueueTokenStatus::PreQueue.as_str(), "PRE_QUEUE");
        let past = Some(now - Duration::seconds(1));
        let future = Some(now + Duration::seconds(1));
        assert_eq!(
            effective_token_status(QueueTokenStatus::PreQueue, None, past, now),
            QueueTokenStatus::Expired
        );
        assert_eq!(
            effective_token_status(QueueTokenStatus::PreQueue, None, future, now),
            QueueTokenStatus::PreQueue
        );
        let user = UserId::new(1).unwrap_or_else(|_| unreachable!());
        let concert = ConcertId::new(1).unwrap_or_else(|_| unreachable!());
        assert_eq!(
            token(QueueTokenStatus::PreQueue).authorize(user, concert),
            Err(QueueAccessError::NotActive)
        );
    }

    #[test]
    fn only_the_owners_active_token_for_that_concert_authorizes() {
        let user = UserId::new(1).unwrap_or_else(|_| unreachable!());
        let other_user = UserId::new(2).unwrap_or_else(|_| unreachable!());
        let concert = ConcertId::new(1).unwrap_or_else(|_| unreachable!());
        let other_concert = ConcertId::new(2).unwrap_or_else(|_| unreachable!());
        let active = token(QueueTokenStatus::Active);
        assert_eq!(active.authorize(user, concert), Ok(()));
        assert_eq!(
            active.authorize(other_user, concert),
            Err(QueueAccessError::NotActive)
        );
        assert_eq!(
            active.authorize(user, other_concert),
            Err(QueueAccessError::NotActive)
        );
        assert_eq!(
            token(QueueTokenStatus::Waiting).authorize(user, concert),
            Err(QueueAccessError::NotActive)
        );
    }

    #[test]
    fn quota_respects_batch_cap_and_pause() {
        let s = QueueSettings {
            admit_batch: 10,
            max_active: 25,
            paused: false,
        };
        assert_eq!(admission_quota(s, 0, 100), 10);
        assert_eq!(admission_quota(s, 20, 100), 5);
        assert_eq!(admission_quota(s, 30, 100), 0);
        assert_eq!(admission_quota(s, 0, 3), 3);
        assert_eq!(
            admission_quota(QueueSettings { paused: true, ..s }, 0, 100),
            0
        );
    }

    #[test]
    fn wait_estimate_uses_rate() {
        assert_eq!(estimate_wait_seconds(100, 600), Some(10));
        assert_eq!(estimate_wait_seconds(1, 600), Some(1));
        assert_eq!(estimate_wait_seconds(5, 0), None);
    }

    #[test]
    fn ticket_shows_position_only_while_waiting() {
        let standing = QueueStanding {
            token: token(QueueTokenStatus::Active),
            position: Some(3),
            admitted_last_minute: 60,
            sale_opens_at: None,
        };
        let ticket = QueueTicket::from_standing(&standing, 6000);
        assert_eq!(ticket.position, None);
        assert_eq!(ticket.estimated_wait_seconds, None);
        assert!(ticket.active_until.is_some());
        let waiting = QueueStanding {
            token: token(QueueTokenStatus::Waiting),
            position: Some(3),
            admitted_last_minute: 60,
            sale_opens_at: None,
        };
        let ticket = QueueTicket::from_standing(&waiting, 6000);
        assert_eq!(
            (
                ticket.position,
                ticket.estimated_wait_seconds,
                ticket.active_until
            ),
            (Some(3), Some(3), None)
        );
    }

    #[test]
    fn patch_refuses_counts_out_of_range() {
        // Arrange
        let counts = [0, MAX_QUEUE_SETTING + 1];

        // Act
        let refused: Vec<_> = counts
            .iter()
            .flat_map(|&n| {
                [
                    QueueSettingsPatch::new(Some(n), None, None),
                    QueueSettingsPatch::new(None, Some(n), None),
                ]
            })
            .collect();

        // Assert
        assert!(refused
            .iter()
            .all(|r| *r == Err(InvalidQueuePatch::OutOfRange)));
        assert_eq!(
            InvalidQueuePatch::OutOfRange.to_string(),
            "admitBatch and maxActive must be between 1 and 1000000"
        );
        assert!(QueueSettingsPatch::new(Some(MAX_QUEUE_SETTING), Some(1), None).is_ok());
    }

    #[test]
    fn a_later_patch_wins_where_it_says_something() {
        // Arrange
        let first = QueueSettingsPatch::new(Some(5), Some(9), None).unwrap_or_default();
        let later = QueueSettingsPatch::new(None, Some(7), Some(true)).unwrap_or_default();

        // Act
        let both = first.then(later);

        // Assert
        assert_eq!(
            (both.admit_batch(), both.max_active(), both.paused()),
            (Some(5), Some(7), Some(true))
        );
        assert_eq!(QueueSettingsPatch::default().then(first), first);
    }

    #[test]
    fn patch_rejects_zero_and_applies() {
        assert!(QueueSettingsPatch::new(Some(0), None, None).is_err());
        let patch = QueueSettingsPatch::new(Some(5), None, Some(true)).unwrap_or_default();
        let s = patch.apply(QueueSettings {
            admit_batch: 1,
            max_active: 9,
            paused: false,
        });
        assert_eq!(
            s,
            QueueSettings {
                admit_batch: 5,
                max_active: 9,
                paused: true
            }
        );
    }
}
