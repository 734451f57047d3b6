//! Identifiers. Catalogue ids are database sequences (small positive integers); ids a client
//! must not guess (reservations, payments, ledger entries, queue tokens) are UUIDs.

use std::fmt;
use uuid::Uuid;

/// Raised when a textual or numeric id is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: must be a positive integer")]
pub struct InvalidId {
    /// Which id was being parsed.
    pub kind: &'static str,
}

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            /// Accepts only positive values, so a zero or negative id never reaches a store.
            ///
            /// # Errors
            /// [`InvalidId`] when `value <= 0`.
            pub fn new(value: i64) -> Result<Self, InvalidId> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err(InvalidId { kind: $kind })
                }
            }

            /// The raw value, for storage and serialisation.
            #[must_use]
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let value: i64 = s.parse().map_err(|_| InvalidId { kind: $kind })?;
                Self::new(value)
            }
        }
    };
}

positive_id!(
    /// A user, as named by the `sub` claim of the identity provider's JWT.
    UserId,
    "user id"
);
positive_id!(
    /// A concert in the catalogue.
    ConcertId,
    "concert id"
);
positive_id!(
    /// One dated performance of a concert.
    ScheduleId,
    "schedule id"
);
positive_id!(
    /// One seat of one schedule.
    SeatId,
    "seat id"
);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID produced by the id generator or read back from a store.
            #[must_use]
            pub const fn from_uuid(value: Uuid) -> Self {
                Self(value)
            }

            /// The raw UUID, for storage and serialisation.
            #[must_use]
            pub const fn get(self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A place in a concert's waiting line (the `Queue-Token` header).
    QueueTokenId
);
uuid_id!(
    /// A hold (and, once paid, a booking) of one or more seats.
    ReservationId
);
uuid_id!(
    /// A completed payment.
    PaymentId
);
uuid_id!(
    /// One ledger entry of a wallet.
    TransactionId
);
uuid_id!(
    /// A refund of a paid reservation.
    RefundId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_ids_reject_zero_and_negatives() {
        assert!(UserId::new(0).is_err());
        assert!(UserId::new(-5).is_err());
        assert_eq!(UserId::new(7).map(UserId::get), Ok(7));
    }

    #[test]
    fn ids_parse_from_text() {
        assert_eq!("42".parse::<SeatId>().map(SeatId::get), Ok(42));
        assert!("abc".parse::<SeatId>().is_err());
        assert!("-1".parse::<ConcertId>().is_err());
    }
}
