//! The waiting queue: one live token per user and concert, admitted line by line (see
//! [`crate::line`]), and the token check a hold and a payment make again in their own step.

use crate::line::count;
use crate::state::State;
use crate::store::MemoryStore;
use crate::time::minus;
use crate::token::TokenRecord;
use async_trait::async_trait;
use domain::ports::{Joined, QueueStore};
use domain::{
    check_token_owner, draw_due, join_phase, AdminQueueError, AdmissionReport, ConcertId,
    DrawReport, JoinPhase, JoinQueueError, QueueAccessError, QueuePolicy, QueueSettingsPatch,
    QueueStanding, QueueStats, QueueToken, QueueTokenError, QueueTokenId, QueueTokenStatus,
    SaleWindow, StoreError, Timestamp, UserId,
};
use std::time::Duration;

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
        if record.token.status == QueueTokenStatus::Expired {
            return;
        }
        if let Some(line) = self.lines.get_mut(&record.token.concert_id) {
            line.forget(id, record);
        }
        record.token.status = QueueTokenStatus::Expired;
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
            sale_opens_at: self.sale_window(token.concert_id).opens_at(),
            token,
            position,
            admitted_last_minute: line.admitted_last_minute(now),
        })
    }

    /// A concert's sale window (always open for an unknown one).
    fn sale_window(&self, concert_id: ConcertId) -> SaleWindow {
        self.concerts
            .get(&concert_id)
            .map_or(SaleWindow::ALWAYS_OPEN, |c| c.concert.sale)
    }

    /// A line's stats with its concert's sale window.
    fn stats_with_sale(&self, concert_id: ConcertId, stats: QueueStats) -> QueueStats {
        QueueStats {
            sale: self.sale_window(concert_id),
            ..stats
        }
    }

    /// The draws due at `now` (see [`QueueStore::draw`]), each with a seed from `seeds`.
    pub(crate) fn draw_due_lines(
        &mut self,
        now: Timestamp,
        policy: &QueuePolicy,
        seeds: &dyn domain::SeedSource,
    ) -> Vec<DrawReport> {
        let idle_cutoff = minus(now, policy.idle_timeout());
        let mut reports = Vec::new();
        for concert_id in self.concert_ids() {
            let window = self.sale_window(concert_id);
            let Some(line) = self.lines.get_mut(&concert_id) else {
                continue;
            };
            if !draw_due(window, line.drawn().is_some(), now) {
                continue;
            }
            let seed = seeds.next_seed();
            let drawn = line.draw(&mut self.tokens, now, idle_cutoff, seed);
            reports.push(DrawReport {
                concert_id,
                seed,
                drawn,
            });
        }
        reports
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
        if let Some(existing) = line.latest_token(user_id) {
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
        let window = self.sale_window(concert_id);
        let line = self
            .lines
            .get_mut(&concert_id)
            .ok_or(JoinQueueError::ConcertNotFound)?;
        let status = match join_phase(window, line.drawn().is_some(), now) {
            JoinPhase::Closed => return Err(JoinQueueError::SaleClosed),
            JoinPhase::PreQueue => QueueTokenStatus::PreQueue,
            JoinPhase::Line => QueueTokenStatus::Waiting,
        };
        let seq = line.enqueue(user_id, token_id, now, status == QueueTokenStatus::PreQueue)?;
        self.tokens.insert(
            token_id,
            TokenRecord {
                token: QueueToken {
                    id: token_id,
                    user_id,
                    concert_id,
                    seq,
                    status,
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
        check_token_owner(self.tokens.get(&token_id).map(|r| r.token.user_id), user_id)?;
        let record = self
            .tokens
            .get_mut(&token_id)
            .ok_or(QueueAccessError::TokenRequired)?;
        let idle_cutoff = minus(now, policy.idle_timeout());
        let status = record.effective_status(now, idle_cutoff);
        if matches!(
            status,
            QueueTokenStatus::Waiting | QueueTokenStatus::PreQueue
        ) && record.last_poll < now
        {
            if let Some(line) = self.lines.get_mut(&record.token.concert_id) {
                line.touch(
                    record.token.seq,
                    record.last_poll,
                    now,
                    status == QueueTokenStatus::PreQueue,
                );
            }
            record.last_poll = now;
        }
        Ok(self.standing(token_id, now, policy)?)
    }

    fn leave(&mut self, token_id: QueueTokenId, user_id: UserId) -> Result<(), QueueTokenError> {
        check_token_owner(self.tokens.get(&token_id).map(|r| r.token.user_id), user_id)?;
        self.expire_token(token_id);
        Ok(())
    }

    /// Admits the earliest-issued effectively WAITING tokens of one line; returns how many.
    fn admit_line(&mut self, concert_id: ConcertId, now: Timestamp, policy: &QueuePolicy) -> u64 {
        self.lines
            .get_mut(&concert_id)
            .map_or(0, |line| line.admit(&mut self.tokens, now, policy))
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
            closed.extend(line.closed_windows(now).take(limit).copied());
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
            idle.extend(line.idle_tokens(idle_cutoff).take(limit));
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

    async fn draw(&self, policy: QueuePolicy) -> Result<Vec<DrawReport>, StoreError> {
        let (mut state, now) = self.state_at_now();
        Ok(state.draw_due_lines(now, &policy, self.seeds()))
    }

    async fn admit(&self, policy: QueuePolicy) -> Result<Vec<AdmissionReport>, StoreError> {
        let (mut state, now) = self.state_at_now();
        state.draw_due_lines(now, &policy, self.seeds());
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
        Ok(state.stats_with_sale(concert_id, line.stats(now, &policy)))
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
        line.override_settings(patch);
        let stats = line.stats(now, &policy);
        Ok(state.stats_with_sale(concert_id, stats))
    }

    async fn all_stats(
        &self,
        policy: QueuePolicy,
    ) -> Result<Vec<(ConcertId, QueueStats)>, StoreError> {
        let (state, now) = self.state_at_now();
        Ok(state
            .concert_ids()
            .into_iter()
            .filter_map(|id| {
                state
                    .lines
                    .get(&id)
                    .map(|l| (id, state.stats_with_sale(id, l.stats(now, &policy))))
            })
            .collect())
    }
}
