//! The pre-queue draw: the tokens that joined before a sale opened get their places in a
//! uniformly random order, drawn once. The shuffle is written here once, driven by a small
//! seeded generator, so both stores produce the same permutation for the same seed; the seed
//! comes from a [`SeedSource`] port (OS randomness in service, fixed in tests).

use std::sync::atomic::{AtomicU64, Ordering};

/// Where a draw's seed comes from.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SeedSource: Send + Sync {
    /// A fresh seed for one draw.
    fn next_seed(&self) -> u64;
}

/// Seeds from the operating system's random generator (the one UUID v4 uses): what the service
/// draws with.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSeeds;

impl SeedSource for OsSeeds {
    fn next_seed(&self) -> u64 {
        let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
        high
    }
}

/// Seeds `start`, `start + 1`, …: reproducible draws for tests and demos.
#[derive(Debug, Default)]
pub struct SeedSequence {
    next: AtomicU64,
}

impl SeedSequence {
    /// A sequence whose first seed is `start`.
    #[must_use]
    pub const fn starting_at(start: u64) -> Self {
        Self {
            next: AtomicU64::new(start),
        }
    }
}

impl SeedSource for SeedSequence {
    fn next_seed(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// splitmix64: expands one 64-bit seed into the generator's state (the standard seeding of
/// xoshiro).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256**: a small, fast generator with good statistical quality, fully determined by its
/// seed (no platform dependence), which is what "the same permutation on every store" needs.
#[derive(Debug, Clone)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// The generator seeded with `seed` through splitmix64.
    #[must_use]
    pub fn from_seed(seed: u64) -> Self {
        let mut sm = seed;
        Self {
            s: [
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
            ],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..bound` (`bound` ≥ 1), without modulo bias (Lemire's method with
    /// rejection).
    pub fn below(&mut self, bound: u64) -> u64 {
        let bound = bound.max(1);
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(bound);
            // The low half decides rejection; the high half is the value.
            #[allow(clippy::cast_possible_truncation)]
            let low = m as u64;
            if low >= threshold {
                #[allow(clippy::cast_possible_truncation)]
                return (m >> 64) as u64;
            }
        }
    }
}

/// The drawn places of `n` entrants in arrival order: `places[i]` is the 0-based place of the
/// `i`-th arrival. A Fisher–Yates shuffle of `0..n` driven by [`Xoshiro256`] seeded with `seed`:
/// every one of the `n!` orders is equally likely, and the same seed always gives the same
/// order.
#[must_use]
pub fn draw_places(seed: u64, n: usize) -> Vec<usize> {
    let mut places: Vec<usize> = (0..n).collect();
    let mut rng = Xoshiro256::from_seed(seed);
    for i in (1..n).rev() {
        let bound = u64::try_from(i + 1).unwrap_or(u64::MAX);
        let j = usize::try_from(rng.below(bound)).unwrap_or(0);
        places.swap(i, j);
    }
    places
}

/// The seed as PostgreSQL stores it (`BIGINT`): the same 64 bits, signed.
#[must_use]
pub const fn seed_to_i64(seed: u64) -> i64 {
    i64::from_ne_bytes(seed.to_ne_bytes())
}

/// A stored seed back to the generator's seed.
#[must_use]
pub const fn seed_from_i64(stored: i64) -> u64 {
    u64::from_ne_bytes(stored.to_ne_bytes())
}

/// What one draw did for one concert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawReport {
    /// The concert.
    pub concert_id: crate::ConcertId,
    /// The seed it drew with.
    pub seed: u64,
    /// How many PRE_QUEUE tokens it placed.
    pub drawn: u64,
}

/// Spearman's rank correlation between two rankings of the same `n` items, given as the rank
/// of each item in both (no ties): `1 - 6 Σd² / (n(n² - 1))`. Used by the tests that check a
/// draw does not follow arrival order.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn spearman_rho(first: &[usize], second: &[usize]) -> f64 {
    let n = first.len().min(second.len());
    if n < 2 {
        return 0.0;
    }
    let d2: f64 = first
        .iter()
        .zip(second)
        .map(|(a, b)| {
            let d = *a as f64 - *b as f64;
            d * d
        })
        .sum();
    let n = n as f64;
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draw_is_a_permutation_fixed_by_its_seed() {
        for n in [0, 1, 2, 7, 1000] {
            let places = draw_places(42, n);
            let mut sorted = places.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            assert_eq!(draw_places(42, n), places);
        }
        assert_ne!(draw_places(1, 50), draw_places(2, 50));
    }

    #[test]
    fn the_generator_matches_the_reference() {
        // xoshiro256** reference output for state [1, 2, 3, 4].
        let mut rng = Xoshiro256 { s: [1, 2, 3, 4] };
        assert_eq!(rng.next_u64(), 11_520);
        assert_eq!(rng.next_u64(), 0);
        assert_eq!(rng.next_u64(), 1_509_978_240);
        assert_eq!(rng.next_u64(), 1_215_971_899_390_074_240);
    }

    #[test]
    fn every_order_of_three_is_about_equally_likely() {
        let mut counts = std::collections::HashMap::new();
        let rounds = 60_000u64;
        for seed in 0..rounds {
            *counts.entry(draw_places(seed, 3)).or_insert(0u64) += 1;
        }
        assert_eq!(counts.len(), 6);
        // Expected 10,000 each; a binomial sd is ~91, so ±500 is over 5 sd.
        assert!(
            counts.values().all(|c| c.abs_diff(rounds / 6) < 500),
            "{counts:?}"
        );
    }

    #[test]
    fn seeds_round_trip_through_bigint() {
        for seed in [0, 1, u64::MAX, 1 << 63] {
            assert_eq!(seed_from_i64(seed_to_i64(seed)), seed);
        }
        let seq = SeedSequence::starting_at(7);
        assert_eq!((seq.next_seed(), seq.next_seed()), (7, 8));
        assert_ne!(OsSeeds.next_seed(), OsSeeds.next_seed());
    }

    #[test]
    fn spearman_is_one_for_the_same_order_and_minus_one_reversed() {
        let a: Vec<usize> = (0..10).collect();
        let b: Vec<usize> = (0..10).rev().collect();
        assert!((spearman_rho(&a, &a) - 1.0).abs() < 1e-12);
        assert!((spearman_rho(&a, &b) + 1.0).abs() < 1e-12);
    }
}
