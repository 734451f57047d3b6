//! One concert's waiting line: its stored-WAITING tokens in issue order (exact places from a
//! Fenwick tree), its ACTIVE windows, the operator's settings and the admissions of its recent
//! slots. Strict FIFO admission, at most the batch per admission slot, as on PostgreSQL (see
//! `domain::admission`).

use crate::fenwick::Fenwick;
use crate::time::{minus, plus};
use crate::token::TokenRecord;
use domain::{
    admission_quota, admission_slot, draw_places, record_admission, slot_room, QueuePolicy,
    QueueSettings, QueueSettingsPatch, QueueStats, QueueTokenId, QueueTokenStatus, SlotRecord,
    StoreError, Timestamp, UserId,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// The window of `admitted_last_minute`.
const RATE_WINDOW: Duration = Duration::from_secs(60);

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
    /// Stored-PRE_QUEUE tokens in arrival order (their `seq` holds a 0 in `present`).
    pre_queue: BTreeMap<i64, QueueTokenId>,
    /// Stored-PRE_QUEUE tokens by `(last_poll, seq)`: the idle ones come first.
    pre_idle: BTreeSet<(Timestamp, i64)>,
    /// The draw, once it happened: when, with which seed, how many it placed.
    drawn: Option<Draw>,
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

/// A line's pre-queue draw, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Draw {
    pub(crate) at: Timestamp,
    pub(crate) seed: u64,
    pub(crate) placed: u64,
}

/// `n` as a count of tokens.
pub(crate) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn seq_index(seq: i64) -> usize {
    usize::try_from(seq).unwrap_or(0)
}

impl QueueLine {
    /// The settings in force: the policy's defaults under the operator's overrides.
    pub(crate) fn settings(&self, policy: &QueuePolicy) -> QueueSettings {
        self.overrides.apply(QueueSettings {
            admit_batch: policy.admit_batch(),
            max_active: policy.max_active(),
            paused: false,
        })
    }

    /// Merges the operator's `patch` into the overrides (a field it leaves out stays).
    pub(crate) fn override_settings(&mut self, patch: QueueSettingsPatch) {
        self.overrides = self.overrides.then(patch);
    }

    /// `user`'s latest token in this line, if any (live unless its status says otherwise).
    pub(crate) fn latest_token(&self, user: UserId) -> Option<QueueTokenId> {
        self.live.get(&user).copied()
    }

    /// Puts a new token as `user`'s live token: WAITING at the end of the line, or PRE_QUEUE
    /// (`pre_queue`) in arrival order for the draw; returns its `seq`.
    pub(crate) fn enqueue(
        &mut self,
        user: UserId,
        id: QueueTokenId,
        now: Timestamp,
        pre_queue: bool,
    ) -> Result<i64, StoreError> {
        let seq = i64::try_from(self.present.len().saturating_add(1))
            .map_err(|_| StoreError::Internal("queue sequence exhausted".into()))?;
        if pre_queue {
            self.present.push(0);
            self.pre_queue.insert(seq, id);
            self.pre_idle.insert((now, seq));
        } else {
            self.present.push(1);
            self.waiting.insert(seq, id);
            self.idle.insert((now, seq));
        }
        self.live.insert(user, id);
        Ok(seq)
    }

    /// Records that the WAITING (or PRE_QUEUE) token `seq`, last polled at `last_poll`, was
    /// polled at `now`.
    pub(crate) fn touch(&mut self, seq: i64, last_poll: Timestamp, now: Timestamp, pre: bool) {
        let idle = if pre {
            &mut self.pre_idle
        } else {
            &mut self.idle
        };
        idle.remove(&(last_poll, seq));
        idle.insert((now, seq));
    }

    /// How many tokens were ever issued in this line.
    pub(crate) fn issued(&self) -> usize {
        self.present.len()
    }

    /// Whether the draw has happened.
    pub(crate) const fn drawn(&self) -> Option<Draw> {
        self.drawn
    }

    /// The pre-queue draw: the live PRE_QUEUE tokens (polled after `idle_cutoff`) become WAITING
    /// at the end of the line in the order [`draw_places`] gives for `seed`; the idle ones are
    /// left for the idle sweep. Records the draw. Returns the drawn tokens' new `seq`s.
    pub(crate) fn draw(
        &mut self,
        tokens: &mut HashMap<QueueTokenId, TokenRecord>,
        now: Timestamp,
        idle_cutoff: Timestamp,
        seed: u64,
    ) -> u64 {
        let live: Vec<(i64, QueueTokenId)> = self
            .pre_queue
            .iter()
            .filter(|(_, id)| tokens.get(id).is_some_and(|r| r.last_poll > idle_cutoff))
            .map(|(seq, id)| (*seq, *id))
            .collect();
        let places = draw_places(seed, live.len());
        let mut by_place: Vec<Option<QueueTokenId>> = vec![None; live.len()];
        for ((seq, id), place) in live.iter().zip(&places) {
            self.pre_queue.remove(seq);
            if let Some(record) = tokens.get(id) {
                self.pre_idle.remove(&(record.last_poll, *seq));
            }
            if let Some(slot) = by_place.get_mut(*place) {
                *slot = Some(*id);
            }
        }
        for id in by_place.into_iter().flatten() {
            let seq = i64::try_from(self.present.len().saturating_add(1)).unwrap_or(i64::MAX);
            self.present.push(1);
            self.waiting.insert(seq, id);
            if let Some(record) = tokens.get_mut(&id) {
                record.token.seq = seq;
                record.token.status = QueueTokenStatus::Waiting;
                self.idle.insert((record.last_poll, seq));
            }
        }
        let placed = count(live.len());
        self.drawn = Some(Draw {
            at: now,
            seed,
            placed,
        });
        placed
    }

    /// Takes a token that is about to become EXPIRED out of the line's indexes.
    pub(crate) fn forget(&mut self, id: QueueTokenId, record: &TokenRecord) {
        let token = &record.token;
        match token.status {
            QueueTokenStatus::Waiting => {
                self.present.add(seq_index(token.seq), -1);
                self.waiting.remove(&token.seq);
                self.idle.remove(&(record.last_poll, token.seq));
            }
            QueueTokenStatus::PreQueue => {
                self.pre_queue.remove(&token.seq);
                self.pre_idle.remove(&(record.last_poll, token.seq));
            }
            QueueTokenStatus::Active => {
                if let Some(until) = token.active_until {
                    self.active.remove(&(until, id));
                }
            }
            QueueTokenStatus::Expired => return,
        }
        if self.live.get(&token.user_id) == Some(&id) {
            self.live.remove(&token.user_id);
        }
    }

    /// Stored-WAITING tokens that are already EXPIRED by the idle rule (not yet swept).
    fn overdue_idle(&self, idle_cutoff: Timestamp) -> impl Iterator<Item = &(Timestamp, i64)> {
        self.idle
            .iter()
            .take_while(move |(last_poll, _)| *last_poll <= idle_cutoff)
    }

    /// Stored-WAITING, then stored-PRE_QUEUE tokens idle past `idle_cutoff`, as
    /// `(last_poll, id)`, the longest idle first within each.
    pub(crate) fn idle_tokens(
        &self,
        idle_cutoff: Timestamp,
    ) -> impl Iterator<Item = (Timestamp, QueueTokenId)> + '_ {
        let pre = self
            .pre_idle
            .iter()
            .take_while(move |(last_poll, _)| *last_poll <= idle_cutoff)
            .filter_map(|(last_poll, seq)| self.pre_queue.get(seq).map(|id| (*last_poll, *id)));
        self.overdue_idle(idle_cutoff)
            .filter_map(|(last_poll, seq)| self.waiting.get(seq).map(|id| (*last_poll, *id)))
            .chain(pre)
    }

    /// Stored-ACTIVE tokens whose window closed at or before `now`, the earliest first.
    pub(crate) fn closed_windows(
        &self,
        now: Timestamp,
    ) -> impl Iterator<Item = &(Timestamp, QueueTokenId)> {
        self.active
            .iter()
            .take_while(move |(until, _)| *until <= now)
    }

    /// Effectively WAITING tokens: O(log n + tokens idle but not yet swept).
    fn waiting_count(&self, idle_cutoff: Timestamp) -> u64 {
        let stored = u64::try_from(self.present.total()).unwrap_or(0);
        stored.saturating_sub(count(self.overdue_idle(idle_cutoff).count()))
    }

    /// Effectively ACTIVE tokens: O(tokens whose window closed but are not yet swept).
    fn active_count(&self, now: Timestamp) -> u64 {
        count(
            self.active
                .len()
                .saturating_sub(self.closed_windows(now).count()),
        )
    }

    /// 1-based place of the waiting token `seq` among the effectively WAITING ones.
    pub(crate) fn position(&self, seq: i64, idle_cutoff: Timestamp) -> u64 {
        let up_to = u64::try_from(self.present.prefix(seq_index(seq))).unwrap_or(0);
        let idle_ahead = self
            .overdue_idle(idle_cutoff)
            .filter(|(_, s)| *s < seq)
            .count();
        up_to.saturating_sub(count(idle_ahead)).max(1)
    }

    /// Tokens admitted in the minute before `now`.
    pub(crate) fn admitted_last_minute(&self, now: Timestamp) -> u64 {
        let since = minus(now, RATE_WINDOW);
        self.admissions
            .iter()
            .filter(|(at, _)| *at > since)
            .map(|(_, n)| n)
            .sum()
    }

    /// The line's figures at `now` (the sale window is the concert's: the caller sets it).
    pub(crate) fn stats(&self, now: Timestamp, policy: &QueuePolicy) -> QueueStats {
        let idle_cutoff = minus(now, policy.idle_timeout());
        QueueStats {
            waiting: self.waiting_count(idle_cutoff),
            active: self.active_count(now),
            settings: self.settings(policy),
            admitted_last_minute: self.admitted_last_minute(now),
            pre_queue: self.pre_queue_count(idle_cutoff),
            drawn_at: self.drawn.map(|d| d.at),
            sale: domain::SaleWindow::ALWAYS_OPEN,
        }
    }

    /// Live PRE_QUEUE tokens: stored ones minus those idle past `idle_cutoff` (not yet swept).
    fn pre_queue_count(&self, idle_cutoff: Timestamp) -> u64 {
        let idle = self
            .pre_idle
            .iter()
            .take_while(|(last_poll, _)| *last_poll <= idle_cutoff)
            .count();
        count(self.pre_queue.len().saturating_sub(idle))
    }

    /// Admits the earliest-issued effectively WAITING tokens (found in `tokens`) as far as the
    /// cap and the slot's batch allow; returns how many.
    pub(crate) fn admit(
        &mut self,
        tokens: &mut HashMap<QueueTokenId, TokenRecord>,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> u64 {
        let since = minus(now, RATE_WINDOW);
        while self.admissions.front().is_some_and(|(at, _)| *at <= since) {
            self.admissions.pop_front();
        }
        let idle_cutoff = minus(now, policy.idle_timeout());
        let settings = self.settings(policy);
        let slot = admission_slot(now, policy.admit_interval());
        let quota = admission_quota(
            settings,
            self.active_count(now),
            self.waiting_count(idle_cutoff),
        )
        .min(slot_room(settings.admit_batch, self.slot, slot));
        if quota == 0 {
            return 0;
        }
        let chosen: Vec<(i64, QueueTokenId)> = self
            .waiting
            .iter()
            .filter(|(_, id)| tokens.get(id).is_some_and(|r| r.last_poll > idle_cutoff))
            .take(usize::try_from(quota).unwrap_or(usize::MAX))
            .map(|(seq, id)| (*seq, *id))
            .collect();
        let until = plus(now, policy.active_ttl());
        for (seq, id) in &chosen {
            self.present.add(seq_index(*seq), -1);
            self.waiting.remove(seq);
            if let Some(record) = tokens.get_mut(id) {
                self.idle.remove(&(record.last_poll, *seq));
                record.token.status = QueueTokenStatus::Active;
                record.token.active_until = Some(until);
            }
            self.active.insert((until, *id));
        }
        let admitted = count(chosen.len());
        if admitted > 0 {
            self.admissions.push_back((now, admitted));
        }
        self.slot = record_admission(self.slot, slot, admitted);
        admitted
    }
}
