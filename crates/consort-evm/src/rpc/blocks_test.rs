use proptest::prelude::*;

use super::*;

proptest! {
    /// Added in batches, every (prefix, number) is found, and nothing else.
    #[test]
    fn sorted_runs_find_every_block(batches in proptest::collection::vec(proptest::collection::vec(0u64..500, 0..300), 1..20)) {
        let mut s = Sorted::default();
        let mut all = Vec::new();
        let mut n = 0;
        for b in batches {
            let batch: Vec<(u64, u64)> = b.into_iter().map(|p| { n += 1; (p, n) }).collect();
            all.extend(batch.iter().copied());
            s.add(batch.into_iter());
            prop_assert!(s.tail.len() * 8 < s.main.len().max(1) || s.tail.is_empty());
        }
        for p in 0..500u64 {
            let mut want: Vec<u64> = all.iter().filter(|(q, _)| *q == p).map(|(_, n)| *n).collect();
            let mut got = s.candidates(p);
            want.sort_unstable();
            got.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }
}
