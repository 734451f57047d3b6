//! A growable Fenwick (binary indexed) tree: prefix sums in O(log n), used to give every waiting
//! queue token its exact place in line without scanning the line.

/// Prefix sums over positions `1..=len()`, growable one position at a time.
#[derive(Debug, Clone, Default)]
pub struct Fenwick {
    /// `tree[i - 1]` holds the sum of the values at `(i - lowbit(i), i]`.
    tree: Vec<i64>,
}

const fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl Fenwick {
    /// An empty tree.
    #[must_use]
    pub const fn new() -> Self {
        Self { tree: Vec::new() }
    }

    /// How many positions the tree covers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// True when the tree covers no position.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Appends position `len() + 1` with `value`, in O(log n).
    pub fn push(&mut self, value: i64) {
        let i = self.tree.len() + 1;
        // The new node covers (i - lowbit(i), i]: the values already stored in (i - lowbit(i), i - 1]
        // plus the new one.
        let covered = self.prefix(i - 1) - self.prefix(i - lowbit(i));
        self.tree.push(covered + value);
    }

    /// Adds `delta` to the value at `pos` (1-based). Positions outside the tree are ignored.
    pub fn add(&mut self, pos: usize, delta: i64) {
        let mut i = pos;
        if i == 0 {
            return;
        }
        while let Some(node) = self.tree.get_mut(i - 1) {
            *node += delta;
            i += lowbit(i);
        }
    }

    /// The sum of the values at positions `1..=pos` (clamped to the tree's length).
    #[must_use]
    pub fn prefix(&self, pos: usize) -> i64 {
        let mut i = pos.min(self.tree.len());
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i - 1];
            i -= lowbit(i);
        }
        sum
    }

    /// The sum of every value.
    #[must_use]
    pub fn total(&self) -> i64 {
        self.prefix(self.tree.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Fenwick;
    use proptest::prelude::*;

    #[test]
    fn prefix_sums_of_pushed_values() {
        let mut f = Fenwick::new();
        assert!(f.is_empty());
        assert_eq!(f.prefix(3), 0);
        for v in 1..=10 {
            f.push(v);
        }
        assert_eq!(f.len(), 10);
        assert_eq!(f.prefix(0), 0);
        assert_eq!(f.prefix(1), 1);
        assert_eq!(f.prefix(4), 10);
        assert_eq!(f.total(), 55);
        assert_eq!(f.prefix(99), 55);
        f.add(3, -3);
        assert_eq!(f.prefix(2), 3);
        assert_eq!(f.prefix(3), 3);
        assert_eq!(f.total(), 52);
        f.add(0, 7);
        f.add(11, 7);
        assert_eq!(f.total(), 52);
    }

    #[test]
    fn a_million_positions_stay_fast() {
        let mut f = Fenwick::new();
        for _ in 0..1_000_000 {
            f.push(1);
        }
        f.add(500_000, -1);
        assert_eq!(f.prefix(1_000_000), 999_999);
        assert_eq!(f.prefix(499_999), 499_999);
        assert_eq!(f.prefix(500_001), 500_000);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(i64),
        Add(usize, i64),
        Prefix(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (-5i64..5).prop_map(Op::Push),
            (0usize..80, -5i64..5).prop_map(|(p, d)| Op::Add(p, d)),
            (0usize..80).prop_map(Op::Prefix),
        ]
    }

    proptest! {
        #[test]
        fn matches_a_naive_model(ops in proptest::collection::vec(op(), 0..300)) {
            let mut f = Fenwick::new();
            let mut model: Vec<i64> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(v) => {
                        f.push(v);
                        model.push(v);
                    }
                    Op::Add(p, d) => {
                        f.add(p, d);
                        if p >= 1 && p <= model.len() {
                            model[p - 1] += d;
                        }
                    }
                    Op::Prefix(p) => {
                        let expected: i64 = model.iter().take(p).sum();
                        prop_assert_eq!(f.prefix(p), expected);
                    }
                }
                prop_assert_eq!(f.len(), model.len());
                prop_assert_eq!(f.total(), model.iter().sum::<i64>());
            }
            for p in 0..=model.len() {
                prop_assert_eq!(f.prefix(p), model.iter().take(p).sum::<i64>());
            }
        }
    }
}
