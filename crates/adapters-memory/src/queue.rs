//! The waiting queue: one live token per user and concert, strict FIFO admission (at most the
//! batch per admission slot, as on PostgreSQL: see `domain::admission`), exact positions from a
//! Fenwick tree over issue order.

use crate::fenwick::Fenwick;
use crate::state::State;
use crate::time::{minus, plus};
use crate::MemoryStore;
use async_trait::async_trait;
use domain::ports::{Joined, QueueStore};
use domain::{
    admission_quota, admission_slot, record_admission, slot_room, AdminQueueError, AdmissionReport,
    ConcertId, JoinQueueError, QueueAccessError, QueuePolicy, QueueSettings, QueueSettingsPatch,
    QueueStanding, QueueStats, QueueToken, QueueTokenError, QueueTokenId, QueueTokenStatus,
    SlotRecord, StoreError, Timestamp, UserId,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// The window of `admitted_last_minute`.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// A token as stored (its status may be stale by time) and when its holder last polled it.
#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub(crate) token: QueueToken,
    pub(crate) last_poll: Timestamp,
}

impl TokenRecord {
    /// The status at `now`: ACTIVE past `active_until` and WAITING last polled at or before
    /// `idle_cutoff` (now minus the idle timeout) are EXPIRED.
    fn effective_status(&self, now: Timestamp, idle_cutoff: Timestamp) -> QueueTokenStatus {
        match self.token.status {
            QueueTokenStatus::Active if self.token.active_until.is_none_or(|u| u <= now) => {
                QueueTokenStatus::Expired
            }
            QueueTokenStatus::Waiting if self.last_poll <= idle_cutoff => QueueTokenStatus::Expired,
            other => other,
        }
    }

    fn view(&self, now: Timestamp, idle_cutoff: Timestamp) -> QueueToken {
        QueueToken {
            status: self.effective_status(now, idle_cutoff),
            ..self.token.clone()
        }
    }
}

/// One concert's line. Only stored-WAITING tokens are in `present`, `waiting` and `idle`; only
/// stored-ACTIVE ones in `active`.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueueLine {
    /// The operator's overrides of the policy defaults.
    overrides: QueueSettingsPatch,
    /// 1 at the `seq` of every stored-WAITING token; its length is the last issued `seq`.
    present: Fenwick,
    /// Stored-WAITING tokens in issue order.
    waiting: BTreeMap<i64, QueueTokenId>,
    /// Stored-WAITING tokens by `(last_poll, seq)`: the idle ones come first.
    idle: BTreeSet<(Timestamp, i64)>,
    /// Stored-ACTIVE tokens by `(active_until, id)`: the closed windows come first.
    active: BTreeSet<(Timestamp, QueueTokenId)>,
    /// Each user's latest token (live unless its status says otherwise).
    live: HashMap<UserId, QueueTokenId>,
    /// `(tick time, admitted)` of recent ticks that admitted anyone.
    admissions: VecDeque<(Timestamp, u64)>,
    /// The admission slot of the latest admission and how many it admitted (at most the batch
    /// per slot, however many ticks run in it).
    slot: Option<SlotRecord>,
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn seq_index(seq: i64) -> usize {
    usize::try_from(seq).unwrap_or(0)
}

impl QueueLine {
    pub(crate) fn settings(&self, policy: &QueuePolicy) -> QueueSettings {
        self.overrides.apply(QueueSettings {
            admit_batch: policy.admit_batch(),
            max_active: policy.max_active(),
            paused: false,
        })
    }

    /// Stored-WAITING tokens that are already EXPIRED by the idle rule (not yet swept).
    fn overdue_idle(&self, idle_cutoff: Timestamp) -> impl Iterator<Item = &(Timestamp, i64)> {
        self.idle
            .iter()
            .take_while(move |(last_poll, _)| *last_poll <= idle_cutoff)
    }

    /// Effectively WAITING tokens: O(log n + tokens idle but not yet swept).
    fn waiting_count(&self, idle_cutoff: Timestamp) -> u64 {
        let stored = u64::try_from(self.present.total()).unwrap_or(0);
        stored.saturating_sub(count(self.overdue_idle(idle_cutoff).count()))
    }

    /// Effectively ACTIVE tokens: O(tokens whose window closed but are not yet swept).
    fn active_count(&self, now: Timestamp) -> u64 {
        let closed = self
            .active
            .iter()
            .take_while(|(until, _)| *until <= now)
            .count();
        count(self.active.len().saturating_sub(closed))
    }

    /// 1-based place of the waiting token `seq` among the effectively WAITING ones.
    fn position(&self, seq: i64, idle_cutoff: Timestamp) -> u64 {
        let up_to = u64::try_from(self.present.prefix(seq_index(seq))).unwrap_or(0);
        let idle_ahead = self
            .overdue_idle(idle_cutoff)
            .filter(|(_, s)| *s < seq)
            .count();
        up_to.saturating_sub(count(idle_ahead)).max(1)
    }

    fn admitted_last_minute(&self, now: Timestamp) -> u64 {
        let since = minus(now, RATE_WINDOW);
        self.admissions
            .iter()
            .filter(|(at, _)| *at > since)
            .map(|(_, n)| n)
            .sum()
    }

    fn stats(&self, now: Timestamp, policy: &QueuePolicy) -> QueueStats {
        let idle_cutoff = minus(now, policy.idle_timeout());
        QueueStats {
            waiting: self.waiting_count(idle_cutoff),
            active: self.active_count(now),
            settings: self.settings(policy),
            admitted_last_minute: self.admitted_last_minute(now),
        }
    }
}

impl State {
    /// Whether `id` is `user`'s ACTIVE token for `concert` at `now`: the check a hold and a
    /// payment make again in their own step, whatever the gate saw a moment before.
    pub(crate) fn token_admits(
        &self,
        id: QueueTokenId,
        user: UserId,
        concert: ConcertId,
        now: Timestamp,
    ) -> bool {
        self.tokens.get(&id).is_some_and(|t| {
            t.token.user_id == user
                && t.token.concert_id == concert
                && t.token.status == QueueTokenStatus::Active
                && t.token.active_until.is_some_and(|until| until > now)
        })
    }

    /// Marks a token EXPIRED and takes it out of its line's indexes (no-op if already EXPIRED).
    pub(crate) fn expire_token(&mut self, id: QueueTokenId) {
        let Some(record) = self.tokens.get_mut(&id) else {
            return;
        };
        let token = &mut record.token;
        let line = self.lines.get_mut(&token.concert_id);
        match (token.status, line) {
            (QueueTokenStatus::Expired, _) => return,
            (QueueTokenStatus::Waiting, Some(line)) => {
                line.present.add(seq_index(token.seq), -1);
                line.waiting.remove(&token.seq);
                line.idle.remove(&(record.last_poll, token.seq));
                if line.live.get(&token.user_id) == Some(&id) {
                    line.live.remove(&token.user_id);
                }
            }
            (QueueTokenStatus::Active, Some(line)) => {
                if let Some(until) = token.active_until {
                    line.active.remove(&(until, id));
                }
                if line.live.get(&token.user_id) == Some(&id) {
                    line.live.remove(&token.user_id);
                }
            }
            (_, None) => {}
        }
        token.status = QueueTokenStatus::Expired;
    }

    fn standing(
        &self,
        id: QueueTokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> Result<QueueStanding, StoreError> {
        let record = self
            .tokens
            .get(&id)
            .ok_or_else(|| StoreError::Internal("queue token vanished".into()))?;
        let line = self
            .lines
            .get(&record.token.concert_id)
            .ok_or_else(|| StoreError::Internal("queue line vanished".into()))?;
        let idle_cutoff = minus(now, policy.idle_timeout());
        let token = record.view(now, idle_cutoff);
        let position = (token.status == QueueTokenStatus::Waiting)
            .then(|| line.position(token.seq, idle_cutoff));
        Ok(QueueStanding {
            token,
            position,
            admitted_last_minute: line.admitted_last_minute(now),
        })
    }

    pub(crate) fn join(
        &mut self,
        user_id: UserId,
        concert_id: ConcertId,
        token_id: QueueTokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> Result<Joined, JoinQueueError> {
        let line = self
            .lines
            .get(&concert_id)
            .ok_or(JoinQueueError::ConcertNotFound)?;
        let idle_cutoff = minus(now, policy.idle_timeout());
        if let Some(&existing) = line.live.get(&user_id) {
            let live = self
                .tokens
                .get(&existing)
                .is_some_and(|r| r.effective_status(now, idle_cutoff) != QueueTokenStatus::Expired);
            if live {
                return Ok(Joined {
                    standing: self.standing(existing, now, policy)?,
                    created: false,
                });
            }
            // Expired by time: make it so, like a unique "one live token" index would require.
            self.expire_token(existing);
        }
        if self.tokens.contains_key(&token_id) {
            return Err(StoreError::Internal("queue token id already issued".into()).into());
        }
        let line = self
            .lines
            .get_mut(&concert_id)
            .ok_or(JoinQueueError::ConcertNotFound)?;
        line.present.push(1);
        let seq = i64::try_from(line.present.len())
            .map_err(|_| StoreError::Internal("queue sequence exhausted".into()))?;
        line.waiting.insert(seq, token_id);
        line.idle.insert((now, seq));
        line.live.insert(user_id, token_id);
        self.tokens.insert(
            token_id,
            TokenRecord {
                token: QueueToken {
                    id: token_id,
                    user_id,
                    concert_id,
                    seq,
                    status: QueueTokenStatus::Waiting,
                    issued_at: now,
                    active_until: None,
                },
                last_poll: now,
            },
        );
        Ok(Joined {
            standing: self.standing(token_id, now, policy)?,
            created: true,
        })
    }

    fn poll(
        &mut self,
        token_id: QueueTokenId,
        user_id: UserId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> Result<QueueStanding, QueueTokenError> {
        let record = self
            .tokens
            .get_mut(&token_id)
            .ok_or(QueueAccessError::TokenRequired)?;
        if record.token.user_id != user_id {
            return Err(QueueAccessError::NotActive.into());
        }
        let idle_cutoff = minus(now, policy.idle_timeout());
        if record.effective_status(now, idle_cutoff) == QueueTokenStatus::Waiting
            && record.last_poll < now
        {
            if let Some(line) = self.lines.get_mut(&record.token.concert_id) {
                line.idle.remove(&(record.last_poll, record.token.seq));
                line.idle.insert((now, record.token.seq));
            }
            record.last_poll = now;
        }
        Ok(self.standing(token_id, now, policy)?)
    }

    fn leave(&mut self, token_id: QueueTokenId, user_id: UserId) -> Result<(), QueueTokenError> {
        let record = self
            .tokens
            .get(&token_id)
            .ok_or(QueueAccessError::TokenRequired)?;
        if record.token.user_id != user_id {
            return Err(QueueAccessError::NotActive.into());
        }
        self.expire_token(token_id);
        Ok(())
    }

    /// Admits the earliest-issued effectively WAITING tokens of one line; returns how many.
    fn admit_line(&mut self, concert_id: ConcertId, now: Timestamp, policy: &QueuePolicy) -> u64 {
        let Some(line) = self.lines.get_mut(&concert_id) else {
            return 0;
        };
        let since = minus(now, RATE_WINDOW);
        while line.admissions.front().is_some_and(|(at, _)| *at <= since) {
            line.admissions.pop_front();
        }
        let idle_cutoff = minus(now, policy.idle_timeout());
        let settings = line.settings(policy);
        let slot = admission_slot(now, policy.admit_interval());
        let quota = admission_quota(
            settings,
            line.active_count(now),
            line.waiting_count(idle_cutoff),
        )
        .min(slot_room(settings.admit_batch, line.slot, slot));
        if quota == 0 {
            return 0;
        }
        let tokens = &mut self.tokens;
        let chosen: Vec<(i64, QueueTokenId)> = line
            .waiting
            .iter()
            .filter(|(_, id)| tokens.get(id).is_some_and(|r| r.last_poll > idle_cutoff))
            .take(usize::try_from(quota).unwrap_or(usize::MAX))
            .map(|(seq, id)| (*seq, *id))
            .collect();
        let until = plus(now, policy.active_ttl());
        for (seq, id) in &chosen {
            line.present.add(seq_index(*seq), -1);
            line.waiting.remove(seq);
            if let Some(record) = tokens.get_mut(id) {
                line.idle.remove(&(record.last_poll, *seq));
                record.token.status = QueueTokenStatus::Active;
                record.token.active_until = Some(until);
            }
            line.active.insert((until, *id));
        }
        let admitted = count(chosen.len());
        if admitted > 0 {
            line.admissions.push_back((now, admitted));
        }
        line.slot = record_admission(line.slot, slot, admitted);
        admitted
    }

    fn concert_ids(&self) -> Vec<ConcertId> {
        let mut ids: Vec<ConcertId> = self.lines.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    fn expire_active(&mut self, now: Timestamp, batch: u32) -> u64 {
        let limit = usize::try_from(batch).unwrap_or(usize::MAX);
        let mut closed: Vec<(Timestamp, QueueTokenId)> = Vec::new();
        for line in self.lines.values() {
            closed.extend(
                line.active
                    .iter()
                    .take_while(|(until, _)| *until <= now)
                    .take(limit)
                    .copied(),
            );
        }
        closed.sort_unstable();
        closed.truncate(limit);
        for (_, id) in &closed {
            self.expire_token(*id);
        }
        count(closed.len())
    }

    fn drop_idle(&mut self, now: Timestamp, idle_timeout: Duration, batch: u32) -> u64 {
        let limit = usize::try_from(batch).unwrap_or(usize::MAX);
        let idle_cutoff = minus(now, idle_timeout);
        let mut idle: Vec<(Timestamp, QueueTokenId)> = Vec::new();
        for line in self.lines.values() {
            idle.extend(
                line.overdue_idle(idle_cutoff)
                    .take(limit)
                    .filter_map(|(last_poll, seq)| {
                        line.waiting.get(seq).map(|id| (*last_poll, *id))
                    }),
            );
        }
        idle.sort_unstable();
        idle.truncate(limit);
        for (_, id) in &idle {
            self.expire_token(*id);
        }
        count(idle.len())
    }
}

#[async_trait]
impl QueueStore for MemoryStore {
    async fn join(
        &self,
        user_id: UserId,
        concert_id: ConcertId,
        token_id: QueueTokenId,
        policy: QueuePolicy,
    ) -> Result<Joined, JoinQueueError> {
        let (mut state, now) = self.state_at_now();
        state.join(user_id, concert_id, token_id, now, &policy)
    }

    async fn poll(
        &self,
        token_id: QueueTokenId,
        user_id: UserId,
        policy: QueuePolicy,
    ) -> Result<QueueStanding, QueueTokenError> {
        let (mut state, now) = self.state_at_now();
        state.poll(token_id, user_id, now, &policy)
    }

    async fn token(
        &self,
        token_id: QueueTokenId,
        policy: QueuePolicy,
    ) -> Result<Option<QueueToken>, StoreError> {
        let (state, now) = self.state_at_now();
        let idle_cutoff = minus(now, policy.idle_timeout());
        Ok(state
            .tokens
            .get(&token_id)
            .map(|r| r.view(now, idle_cutoff)))
    }

    async fn leave(&self, token_id: QueueTokenId, user_id: UserId) -> Result<(), QueueTokenError> {
        self.state().leave(token_id, user_id)
    }

    async fn admit(&self, policy: QueuePolicy) -> Result<Vec<AdmissionReport>, StoreError> {
        let (mut state, now) = self.state_at_now();
        let mut reports = Vec::new();
        for concert_id in state.concert_ids() {
            let admitted = state.admit_line(concert_id, now, &policy);
            if admitted > 0 {
                reports.push(AdmissionReport {
                    concert_id,
                    admitted,
                });
            }
        }
        Ok(reports)
    }

    async fn expire_active(&self, batch: u32) -> Result<u64, StoreError> {
        let (mut state, now) = self.state_at_now();
        Ok(state.expire_active(now, batch))
    }

    async fn drop_idle(&self, idle_timeout: Duration, batch: u32) -> Result<u64, StoreError> {
        let (mut state, now) = self.state_at_now();
        Ok(state.drop_idle(now, idle_timeout, batch))
    }

    async fn stats(
        &self,
        concert_id: ConcertId,
        policy: QueuePolicy,
    ) -> Result<QueueStats, AdminQueueError> {
        let (state, now) = self.state_at_now();
        let line = state
            .lines
            .get(&concert_id)
            .ok_or(AdminQueueError::ConcertNotFound)?;
        Ok(line.stats(now, &policy))
    }

    async fn update_settings(
        &self,
        concert_id: ConcertId,
        patch: QueueSettingsPatch,
        policy: QueuePolicy,
    ) -> Result<QueueStats, AdminQueueError> {
        let (mut state, now) = self.state_at_now();
        let line = state
            .lines
            .get_mut(&concert_id)
            .ok_or(AdminQueueError::ConcertNotFound)?;
        line.overrides = line.overrides.then(patch);
        Ok(line.stats(now, &policy))
    }

    async fn all_stats(
        &self,
        policy: QueuePolicy,
    ) -> Result<Vec<(ConcertId, QueueStats)>, StoreError> {
        let (state, now) = self.state_at_now();
        Ok(state
            .concert_ids()
            .into_iter()
            .filter_map(|id| state.lines.get(&id).map(|l| (id, l.stats(now, &policy))))
            .collect())
    }
}
