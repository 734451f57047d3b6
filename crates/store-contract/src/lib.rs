//! A port-level contract test suite that any store implementation can run, so the in-memory
//! store and the PostgreSQL store are held to exactly the same rules.
//!
//! An adapter's `tests/contract.rs` provides an async factory returning a fresh
//! [`StoreUnderTest`] and expands the whole suite with one line:
//!
//! ```ignore
//! async fn fresh_memory_store() -> store_contract::StoreUnderTest {
//!     store_contract::StoreUnderTest::from_store(MemoryStore::new(Arc::new(RealClock)))
//! }
//!
//! store_contract::store_contract_tests!(fresh_memory_store);
//! ```
//!
//! Every case gets its own fresh store. Cases that need time to pass use short real TTLs
//! (about a second) and [`StoreUnderTest::wait`], because a database store decides expiry by the
//! database's clock, which a test cannot move; a store driven by a fake clock may pass a
//! [`WaitFn`] that moves its clock instead.

pub mod cases;
pub mod fixtures;

pub use cases::CONTRACT_DRAW_SEED;

use domain::ports::{
    CatalogueStore, QueueStore, ReservationStore, StoreHealth, WaitlistStore, WalletStore,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Lets time pass for the store under test (at least the given duration, by the store's clock).
pub type WaitFn = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// One fresh store, seen through every port it implements.
#[derive(Clone)]
pub struct StoreUnderTest {
    /// Concerts, schedules and seats.
    pub catalogue: Arc<dyn CatalogueStore>,
    /// The waiting queue.
    pub queue: Arc<dyn QueueStore>,
    /// Holds and reservations.
    pub reservations: Arc<dyn ReservationStore>,
    /// Wallets, ledger and payments.
    pub wallets: Arc<dyn WalletStore>,
    /// Waiting lists for sold-out dates.
    pub waitlist: Arc<dyn WaitlistStore>,
    /// Liveness.
    pub health: Arc<dyn StoreHealth>,
    /// How time passes for this store (real sleeping by default).
    pub wait: WaitFn,
}

impl std::fmt::Debug for StoreUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreUnderTest").finish_non_exhaustive()
    }
}

impl StoreUnderTest {
    /// Wraps one value implementing every port; time passes by really sleeping.
    pub fn from_store<S>(store: S) -> Self
    where
        S: CatalogueStore
            + QueueStore
            + ReservationStore
            + WalletStore
            + WaitlistStore
            + StoreHealth
            + 'static,
    {
        let store = Arc::new(store);
        Self {
            catalogue: store.clone(),
            queue: store.clone(),
            reservations: store.clone(),
            wallets: store.clone(),
            waitlist: store.clone(),
            health: store,
            wait: Self::real_time(),
        }
    }

    /// A [`WaitFn`] that sleeps in real time.
    #[must_use]
    pub fn real_time() -> WaitFn {
        Arc::new(|d| Box::pin(tokio::time::sleep(d)))
    }

    /// Replaces how time passes (for a store driven by a fake clock).
    #[must_use]
    pub fn with_wait(mut self, wait: WaitFn) -> Self {
        self.wait = wait;
        self
    }

    /// Lets `d` pass for the store.
    pub async fn wait(&self, d: Duration) {
        (self.wait)(d).await;
    }
}

#[doc(hidden)]
pub mod __private {
    pub use tokio;
}

/// Expands one `#[tokio::test]` per contract case, each calling `$factory().await` for a fresh
/// [`StoreUnderTest`]. `$factory` is an async fn (or closure returning a future) with no
/// arguments. The test runtime comes from this crate's re-exported tokio, so the dependency must
/// keep its name `store_contract` (do not rename it in `Cargo.toml`).
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:expr) => {
        $crate::__store_contract_cases!(
            $factory;
            health_ping_answers,
            catalogue_creates_and_lists_concerts,
            catalogue_lists_only_future_schedules_in_order,
            catalogue_unknown_ids_are_not_found,
            seat_availability_follows_holds,
            join_returns_the_live_token,
            one_live_token_per_user_and_concert,
            concurrent_joins_issue_one_token,
            a_join_storm_numbers_the_line_without_gaps,
            join_unknown_concert_is_not_found,
            admission_is_fifo_and_never_exceeds_max_active,
            admission_respects_the_batch,
            concurrent_admission_ticks_respect_the_cap,
            one_slot_admits_one_batch,
            paused_concert_admits_nobody,
            settings_overrides_are_stored,
            positions_count_from_one_and_never_go_up,
            poll_keeps_a_place_and_drop_idle_drops_the_rest,
            poll_and_leave_check_the_holder,
            leave_expires_the_token,
            active_window_closes_without_a_sweep,
            hold_is_all_or_nothing,
            hold_needs_an_open_schedule_and_its_seats,
            hold_limit_counts_every_live_hold,
            concurrent_holds_of_one_seat_yield_one,
            concurrent_overlapping_holds_never_share_a_seat,
            expired_hold_is_expired_everywhere_without_a_sweep,
            expire_holds_is_bounded_by_batch,
            hold_rechecks_the_queue_token,
            cancel_frees_seats_once,
            other_users_reservation_is_invisible,
            reservations_page_newest_first,
            charge_limits_and_idempotent_replay,
            stored_rejections_replay_as_the_same_error,
            pay_confirms_debits_and_expires_the_token,
            pay_requires_own_reservation_and_active_token,
            a_free_seat_is_paid_without_a_wallet,
            concurrent_pays_from_a_wallet_affording_one,
            a_payment_storm_answers_each_as_alone,
            ledger_sums_to_balance_and_pages,
            concurrent_money_movements_read_like_a_statement,
            refund_credits_frees_seats_and_replays,
            refund_of_another_users_reservation_is_not_found,
            only_a_confirmed_reservation_is_refundable,
            refund_window_closes_at_the_cutoff,
            a_refund_may_pass_the_balance_maximum,
            concurrent_refunds_of_one_reservation_credit_once,
            // Sale windows and the pre-queue draw (cases/sale.rs).
            sale_window_is_listed_and_patched,
            a_join_before_the_opening_waits_in_the_pre_queue,
            an_idle_pre_queue_place_is_dropped,
            a_join_after_the_close_is_refused_and_the_line_goes_on,
            the_opening_moves_only_before_the_sale_opened,
            the_draw_places_the_pre_queue_once_then_admission_follows,
            a_paused_queue_still_draws,
            draws_do_not_follow_arrival_order,
            queue_stats_show_the_pre_queue_and_the_draw,
            waitlist_join_only_when_sold_out,
            waitlist_offers_in_order_and_keeps_seats_for_the_list,
            waitlist_offer_on_hold_expiry_lapses_and_passes_on,
            waitlist_paying_an_offer_needs_no_token_and_fulfils,
            waitlist_leave_releases_the_offer_to_the_next,
            waitlist_entries_page_newest_first_and_stay_private,
            waitlist_counts_go_by_effective_status,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_cases {
    ($factory:expr; $($case:ident),+ $(,)?) => {
        $(
            #[$crate::__private::tokio::test(
                flavor = "multi_thread",
                worker_threads = 4,
                crate = "store_contract::__private::tokio"
            )]
            async fn $case() {
                let store: $crate::StoreUnderTest = ($factory)().await;
                $crate::cases::$case(store).await;
            }
        )+
    };
}
