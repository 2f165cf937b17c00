use proptest::prelude::*;

use super::*;

#[test]
fn field_inverse() {
    for a in 1..=255u8 {
        assert_eq!(mul(a, inv(a)), 1, "{a}");
    }
    assert_eq!(mul(0x57, 0x83), 0xc1, "FIPS-197's example");
}

#[test]
fn refuses_bad_parameters_and_shares() {
    assert!(split(b"k", 0, 3).is_err());
    assert!(split(b"k", 4, 3).is_err());
    assert!(split(b"k", 2, 256).is_err());
    assert!(split(b"", 1, 1).is_err());
    assert!(Share::from_bytes(&[0, 1]).is_err());
    assert!(Share::from_bytes(&[1]).is_err());
    let s = split(&[7u8; 32], 2, 3).unwrap();
    assert!(combine(&[]).is_err());
    assert!(
        combine(&[s[0].clone(), s[0].clone()]).is_err(),
        "duplicate x"
    );
    let short = Share::from_bytes(&s[1].as_bytes()[..10]).unwrap();
    assert!(combine(&[s[0].clone(), short]).is_err());
}

#[test]
fn debug_hides_the_share() {
    let s = split(&[0xab; 4], 1, 1).unwrap();
    let d = format!("{:?}", s[0]);
    assert!(!d.contains("ab") && !d.contains("171"), "{d}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any `threshold` shares, in any order, give the secret back; threshold - 1 do not.
    #[test]
    fn any_threshold_subset_recovers(
        secret in proptest::collection::vec(any::<u8>(), 1..48),
        count in 1usize..8,
        t_seed in any::<usize>(),
        pick in any::<u64>(),
    ) {
        let threshold = 1 + t_seed % count;
        let shares = split(&secret, threshold, count).unwrap();
        prop_assert_eq!(shares.len(), count);
        // A pseudo-random subset of exactly `threshold` shares.
        let mut idx: Vec<usize> = (0..count).collect();
        let mut r = pick;
        for i in (1..idx.len()).rev() {
            idx.swap(i, (r % (i as u64 + 1)) as usize);
            r = r.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
        }
        let subset: Vec<Share> = idx[..threshold].iter().map(|&i| shares[i].clone()).collect();
        prop_assert_eq!(&combine(&subset).unwrap()[..], &secret[..]);
        let all: Vec<Share> = shares.clone();
        prop_assert_eq!(&combine(&all).unwrap()[..], &secret[..]);
        if threshold > 1 && secret.len() >= 16 {
            // With 16+ random bytes the chance of a coincidence is negligible.
            let fewer = &subset[..threshold - 1];
            prop_assert_ne!(&combine(fewer).unwrap()[..], &secret[..]);
        }
    }

    /// A changed y-value changes the result (a forged share never combines to the secret).
    #[test]
    fn tampered_share_gives_another_secret(
        secret in proptest::collection::vec(any::<u8>(), 16..33),
        byte in any::<usize>(),
        bit in 0u8..8,
    ) {
        let shares = split(&secret, 2, 3).unwrap();
        let mut forged = shares[1].as_bytes().to_vec();
        let i = 1 + byte % (forged.len() - 1);
        forged[i] ^= 1 << bit;
        let forged = Share::from_bytes(&forged).unwrap();
        prop_assert_ne!(&combine(&[shares[0].clone(), forged]).unwrap()[..], &secret[..]);
    }
}
