//! Sale windows: when a concert's queue opens (joins before that wait in a pre-queue for the
//! draw) and when it closes to new joins. The verdicts are written once here and called by both
//! stores inside their atomic step.

use crate::Timestamp;

/// A concert's sale window; either end may be absent. Valid by construction: when both are
/// set, the sale closes after it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaleWindow {
    opens_at: Option<Timestamp>,
    closes_at: Option<Timestamp>,
}

/// Why a sale window was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSaleWindow {
    /// `saleClosesAt` is not after `saleOpensAt`.
    #[error("saleClosesAt must be after saleOpensAt")]
    ClosesBeforeOpening,
}

impl SaleWindow {
    /// No window: the sale is open from the start and never closes (a concert as before v1.1).
    pub const ALWAYS_OPEN: Self = Self {
        opens_at: None,
        closes_at: None,
    };

    /// Checks the order of the two ends.
    ///
    /// # Errors
    /// [`InvalidSaleWindow::ClosesBeforeOpening`] when both are set and `closes_at <= opens_at`.
    pub fn new(
        opens_at: Option<Timestamp>,
        closes_at: Option<Timestamp>,
    ) -> Result<Self, InvalidSaleWindow> {
        if let (Some(open), Some(close)) = (opens_at, closes_at) {
            if close <= open {
                return Err(InvalidSaleWindow::ClosesBeforeOpening);
            }
        }
        Ok(Self {
            opens_at,
            closes_at,
        })
    }

    /// When the sale opens (the draw's moment), if it has an opening.
    #[must_use]
    pub const fn opens_at(&self) -> Option<Timestamp> {
        self.opens_at
    }

    /// When the sale closes to new joins, if ever.
    #[must_use]
    pub const fn closes_at(&self) -> Option<Timestamp> {
        self.closes_at
    }

    /// True when a join at `now` comes too late.
    #[must_use]
    pub fn closed_at(&self, now: Timestamp) -> bool {
        self.closes_at.is_some_and(|close| close <= now)
    }
}

/// Where a new token goes when a user joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinPhase {
    /// Into the pre-queue: the sale has an opening and the draw has not happened yet (a join
    /// between the opening and the first tick after it still takes part in the draw, so nobody
    /// who came before the draw is placed ahead of it).
    PreQueue,
    /// To the back of the line, as WAITING.
    Line,
    /// Nowhere: the sale has closed.
    Closed,
}

/// Where a join at `now` puts a new token, given the window and whether the draw happened.
#[must_use]
pub fn join_phase(window: SaleWindow, drawn: bool, now: Timestamp) -> JoinPhase {
    if window.closed_at(now) {
        JoinPhase::Closed
    } else if window.opens_at.is_some() && !drawn {
        JoinPhase::PreQueue
    } else {
        JoinPhase::Line
    }
}

/// True when the draw of a concert is due at `now`: it has an opening that has come, and no
/// draw has happened yet.
#[must_use]
pub fn draw_due(window: SaleWindow, drawn: bool, now: Timestamp) -> bool {
    !drawn && window.opens_at.is_some_and(|open| open <= now)
}

/// An operator's change of a sale window; a field left out stays. `saleOpensAt` cannot be
/// removed (set it to now to open the sale at once); `saleClosesAt` can (`Some(None)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SalePatch {
    opens_at: Option<Timestamp>,
    closes_at: Option<Option<Timestamp>>,
}

impl SalePatch {
    /// A patch: the new opening (if it changes), the new closing (`Some(None)` removes it).
    #[must_use]
    pub const fn new(opens_at: Option<Timestamp>, closes_at: Option<Option<Timestamp>>) -> Self {
        Self {
            opens_at,
            closes_at,
        }
    }

    /// The new opening, if it changes.
    #[must_use]
    pub const fn opens_at(&self) -> Option<Timestamp> {
        self.opens_at
    }

    /// The new closing, if it changes (`Some(None)`: no closing).
    #[must_use]
    pub const fn closes_at(&self) -> Option<Option<Timestamp>> {
        self.closes_at
    }
}

/// What the store knows of a concert's sale when an operator patches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleState {
    /// The window now.
    pub window: SaleWindow,
    /// Whether the pre-queue draw has happened.
    pub drawn: bool,
    /// Whether any token was ever issued for the concert.
    pub tokens_issued: bool,
}

/// Why an operator's sale window change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SalePatchRefused {
    /// The window it would give is not valid.
    #[error(transparent)]
    Invalid(#[from] InvalidSaleWindow),
    /// `saleOpensAt` would move after the draw, or after the sale was open with tokens in line.
    #[error("the sale has already opened; saleOpensAt can no longer move")]
    AlreadyOpen,
}

/// The window after `patch`, or why not: moving the opening is refused once the draw has
/// happened, and once the sale has been open with tokens issued (they are in line already, so
/// a pre-queue could only be drawn behind them, or would strand them); setting the same
/// opening again is not a move.
///
/// # Errors
/// [`SalePatchRefused::AlreadyOpen`], or `Invalid` when the closing would not follow the
/// opening.
pub fn patch_sale(
    state: SaleState,
    patch: SalePatch,
    now: Timestamp,
) -> Result<SaleWindow, SalePatchRefused> {
    let current = state.window;
    let opens_at = patch.opens_at.map_or(current.opens_at, Some);
    if opens_at != current.opens_at {
        let open_now = current.opens_at.is_none_or(|open| open <= now);
        if state.drawn || (open_now && state.tokens_issued) {
            return Err(SalePatchRefused::AlreadyOpen);
        }
    }
    let closes_at = patch.closes_at.unwrap_or(current.closes_at);
    Ok(SaleWindow::new(opens_at, closes_at)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    #[test]
    fn a_window_closes_after_it_opens() {
        let now = Utc::now();
        assert!(SaleWindow::new(Some(now), Some(now + Duration::seconds(1))).is_ok());
        assert_eq!(
            SaleWindow::new(Some(now), Some(now)),
            Err(InvalidSaleWindow::ClosesBeforeOpening)
        );
        assert!(SaleWindow::new(None, Some(now)).is_ok());
        assert!(SaleWindow::new(Some(now), None).is_ok());
    }

    #[test]
    fn joins_go_to_the_pre_queue_until_the_draw_and_stop_at_the_close() {
        let now = Utc::now();
        let later = now + Duration::seconds(60);
        let opening = SaleWindow::new(Some(later), None).unwrap_or_default();
        assert_eq!(join_phase(opening, false, now), JoinPhase::PreQueue);
        assert_eq!(join_phase(opening, false, later), JoinPhase::PreQueue);
        assert_eq!(join_phase(opening, true, later), JoinPhase::Line);
        assert_eq!(
            join_phase(SaleWindow::ALWAYS_OPEN, false, now),
            JoinPhase::Line
        );
        let closing = SaleWindow::new(None, Some(later)).unwrap_or_default();
        assert_eq!(join_phase(closing, false, now), JoinPhase::Line);
        assert_eq!(join_phase(closing, false, later), JoinPhase::Closed);
        assert!(!draw_due(opening, false, now));
        assert!(draw_due(opening, false, later));
        assert!(!draw_due(opening, true, later));
        assert!(!draw_due(SaleWindow::ALWAYS_OPEN, false, now));
    }

    #[test]
    fn the_opening_moves_only_before_the_sale_opened() {
        let now = Utc::now();
        let soon = now + Duration::seconds(60);
        let later = now + Duration::seconds(120);
        let ahead = SaleState {
            window: SaleWindow::new(Some(soon), None).unwrap_or_default(),
            drawn: false,
            tokens_issued: true,
        };
        let move_it = SalePatch::new(Some(later), None);
        assert!(patch_sale(ahead, move_it, now).is_ok());
        let drawn = SaleState {
            drawn: true,
            ..ahead
        };
        assert_eq!(
            patch_sale(drawn, move_it, now),
            Err(SalePatchRefused::AlreadyOpen)
        );
        // The same opening again is not a move; the closing may still change.
        let same = SalePatch::new(Some(soon), Some(Some(later)));
        assert!(patch_sale(drawn, same, now).is_ok());
        // Open with tokens in line: no opening may be added.
        let open = SaleState {
            window: SaleWindow::ALWAYS_OPEN,
            drawn: false,
            tokens_issued: true,
        };
        assert_eq!(
            patch_sale(open, move_it, now),
            Err(SalePatchRefused::AlreadyOpen)
        );
        let fresh = SaleState {
            tokens_issued: false,
            ..open
        };
        assert!(patch_sale(fresh, move_it, now).is_ok());
        assert_eq!(
            patch_sale(ahead, SalePatch::new(None, Some(Some(now))), now),
            Err(SalePatchRefused::Invalid(
                InvalidSaleWindow::ClosesBeforeOpening
            ))
        );
    }
}
