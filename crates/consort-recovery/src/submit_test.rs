use consort_kv::LedgerSecret;

use super::*;
use crate::testing_support::{commit, decrypted_share, service};

#[test]
fn shares_are_checked_kept_sealed_and_combined_at_the_threshold() {
    let (store, members) = service(3, 3, Some(2));
    let old_latest = LedgerSecret::generate().unwrap();
    let mut tx = store.begin();
    shares::issue(&mut tx, &old_latest).unwrap();
    commit(&store, tx);
    let plain: Vec<Vec<u8>> = members
        .iter()
        .map(|m| decrypted_share(&mut store.begin(), m))
        .collect();
    // The recovering service's own secret seals what members submit.
    let current = LedgerSecret::generate().unwrap();
    let mut tx = store.begin();
    let p = submit(&mut tx, &members[0].id, &plain[0], &current).unwrap();
    assert_eq!(
        p,
        Progress {
            submitted: 1,
            threshold: 2
        }
    );
    assert!(matches!(
        combine(&mut tx, &current),
        Err(RecoveryError::TooFewShares {
            submitted: 1,
            threshold: 2
        })
    ));
    assert!(matches!(
        submit(&mut tx, &members[0].id, &plain[0], &current),
        Err(RecoveryError::AlreadySubmitted(_))
    ));
    let mut forged = plain[1].clone();
    forged[5] ^= 1;
    assert!(matches!(
        submit(&mut tx, &members[1].id, &forged, &current),
        Err(RecoveryError::WrongShare(_))
    ));
    assert!(
        matches!(
            submit(&mut tx, &members[1].id, &plain[2], &current),
            Err(RecoveryError::WrongShare(_))
        ),
        "another member's share"
    );
    assert!(matches!(
        submit(&mut tx, "not-a-member", &plain[1], &current),
        Err(RecoveryError::NotRecoveryMember(_))
    ));
    assert!(matches!(
        submit(&mut tx, &members[1].id, &[0u8], &current),
        Err(RecoveryError::MalformedShare(_))
    ));
    // Sealed: no share in clear in the table.
    for (_, v) in recovery::SUBMITTED_SHARES.entries(&mut tx).unwrap() {
        assert!(!v.contains(&B64.encode(&plain[0])));
    }
    commit(&store, tx);
    let mut tx = store.begin();
    let p = submit(&mut tx, &members[2].id, &plain[2], &current).unwrap();
    assert!(p.complete());
    let got = combine(&mut tx, &current).unwrap();
    assert_eq!(got.raw(), old_latest.raw());
    // Under another secret the sealed shares do not open.
    let other = LedgerSecret::generate().unwrap();
    assert!(combine(&mut tx, &other).is_err());
    clear(&mut tx).unwrap();
    assert_eq!(progress(&mut tx).unwrap().submitted, 0);
}
