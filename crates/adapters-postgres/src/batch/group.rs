//! Grouping a batch's keys: each distinct key asked once, and keys split by the policy they are
//! judged by.

use domain::QueuePolicy;
use std::collections::HashMap;
use std::hash::Hash;

/// The distinct values of `keys` in first-seen order, and for each key the index of its value
/// there: a batch asks the database once per distinct key.
pub(crate) fn distinct<T: Clone + Eq + Hash>(keys: &[T]) -> (Vec<T>, Vec<usize>) {
    let mut index = HashMap::with_capacity(keys.len());
    let mut values = Vec::new();
    let slots = keys
        .iter()
        .map(|k| {
            *index.entry(k.clone()).or_insert_with(|| {
                values.push(k.clone());
                values.len() - 1
            })
        })
        .collect();
    (values, slots)
}

/// Splits a batch by policy (in practice a process has one, so this is one group): the indexes
/// of the keys of each distinct policy.
pub(crate) fn by_policy(
    policies: impl IntoIterator<Item = QueuePolicy>,
) -> Vec<(QueuePolicy, Vec<usize>)> {
    let mut groups: Vec<(QueuePolicy, Vec<usize>)> = Vec::new();
    for (i, policy) in policies.into_iter().enumerate() {
        match groups.iter_mut().find(|(p, _)| *p == policy) {
            Some((_, members)) => members.push(i),
            None => groups.push((policy, vec![i])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keeps_first_seen_order_and_maps_each_key() {
        let (values, slots) = distinct(&[7, 3, 7, 9, 3]);
        assert_eq!(values, vec![7, 3, 9]);
        assert_eq!(slots, vec![0, 1, 0, 2, 1]);
    }
}
