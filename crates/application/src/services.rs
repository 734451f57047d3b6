//! The bundle of ports and settings every use case draws on.

use crate::JoinRateLimiter;
use domain::ports::{
    CatalogueStore, Clock, IdGenerator, QueueStore, ReservationStore, StoreHealth, WaitlistStore,
    WalletStore,
};
use domain::{HoldPolicy, QueuePolicy, RefundPolicy, WaitlistPolicy, WalletPolicy};
use std::sync::Arc;

/// The outside world, as the use cases see it.
#[derive(Clone)]
pub struct Ports {
    /// Concerts, schedules, seats.
    pub catalogue: Arc<dyn CatalogueStore>,
    /// The waiting queue.
    pub queue: Arc<dyn QueueStore>,
    /// Holds and reservations.
    pub reservations: Arc<dyn ReservationStore>,
    /// Wallets, ledger, payments.
    pub wallets: Arc<dyn WalletStore>,
    /// Waiting lists for sold-out dates.
    pub waitlist: Arc<dyn WaitlistStore>,
    /// Store liveness.
    pub health: Arc<dyn StoreHealth>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Fresh ids.
    pub ids: Arc<dyn IdGenerator>,
}

/// Operator-tunable rules, validated at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Queue defaults.
    pub queue: QueuePolicy,
    /// Hold limits.
    pub hold: HoldPolicy,
    /// Wallet limits.
    pub wallet: WalletPolicy,
    /// When refunds close before a schedule starts.
    pub refund: RefundPolicy,
}

/// Every use case, sharing one set of ports and settings. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub(crate) ports: Ports,
    pub(crate) settings: Settings,
    pub(crate) join_limiter: Arc<JoinRateLimiter>,
    /// Waiting-list offers (`WAITLIST_OFFER_TTL_SECS`); the default unless set with
    /// [`Services::with_waitlist_policy`].
    pub(crate) waitlist: WaitlistPolicy,
}

impl Services {
    /// Wires the use cases.
    #[must_use]
    pub fn new(ports: Ports, settings: Settings, join_limiter: JoinRateLimiter) -> Self {
        Self {
            ports,
            settings,
            join_limiter: Arc::new(join_limiter),
            waitlist: WaitlistPolicy::default(),
        }
    }

    /// The same services with the waiting-list offer settings (kept out of [`Settings`] so
    /// that callers that predate waiting lists build unchanged).
    #[must_use]
    pub const fn with_waitlist_policy(mut self, policy: WaitlistPolicy) -> Self {
        self.waitlist = policy;
        self
    }

    /// The waiting-list settings in force.
    #[must_use]
    pub const fn waitlist_policy(&self) -> WaitlistPolicy {
        self.waitlist
    }

    /// The settings in force.
    #[must_use]
    pub const fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The ports (for health checks and metrics collection).
    #[must_use]
    pub const fn ports(&self) -> &Ports {
        &self.ports
    }

    /// What the record stored under the request's key (if any) says to do with the request.
    pub(crate) async fn idempotency_decision(
        &self,
        user: domain::UserId,
        idempotency: &domain::IdempotencyContext,
    ) -> Result<domain::IdempotencyDecision, domain::StoreError> {
        let record = self
            .ports
            .wallets
            .idempotency_record(user, idempotency.key.clone())
            .await?;
        Ok(domain::IdempotencyDecision::decide(
            record,
            &idempotency.fingerprint,
        ))
    }

    pub(crate) fn gate(&self) -> crate::QueueGate<'_> {
        crate::QueueGate::new(self.ports.queue.as_ref(), self.settings.queue)
    }
}
