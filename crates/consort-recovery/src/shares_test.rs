use consort_crypto::sharing::{combine, Share};
use consort_kv::LedgerSecret;
use consort_service::recovery;

use super::*;
use crate::testing_support::{decrypted_share, service};

#[test]
fn issues_shares_any_threshold_of_which_unwrap_the_latest_secret() {
    let (store, members) = service(3, 3, Some(2));
    let latest = LedgerSecret::generate().unwrap();
    let mut tx = store.begin();
    let issued = issue(&mut tx, &latest).unwrap();
    assert_eq!(
        issued,
        Issued {
            members: 3,
            threshold: 2
        }
    );
    let info = recovery::RECOVERY_SHARES.get(&mut tx).unwrap().unwrap();
    assert_eq!(info.encrypted_shares.len(), 3);
    let plain: Vec<Share> = members
        .iter()
        .map(|m| Share::from_bytes(&decrypted_share(&mut tx, m)).unwrap())
        .collect();
    let wrapped = B64.decode(&info.wrapped_latest_ledger_secret).unwrap();
    for pair in [[0, 1], [1, 2], [0, 2]] {
        let key = combine(&[plain[pair[0]].clone(), plain[pair[1]].clone()]).unwrap();
        assert_eq!(unwrap(&key, &wrapped).unwrap().raw(), latest.raw());
    }
    // One share alone gives nothing that unwraps.
    let one = combine(&plain[..1]).unwrap();
    assert!(unwrap(&one, &wrapped).is_err());
    // Nothing in the table is the secret or a share in clear.
    let text = serde_json::to_string(&info).unwrap();
    assert!(!text.contains(&B64.encode(latest.raw())));
    for p in &plain {
        assert!(!text.contains(&B64.encode(p.as_bytes())));
    }
}

#[test]
fn refuses_without_enough_active_recovery_members() {
    let latest = LedgerSecret::generate().unwrap();
    let (store, _) = service(3, 1, Some(2));
    let mut tx = store.begin();
    assert!(matches!(
        issue(&mut tx, &latest),
        Err(RecoveryError::ThresholdTooHigh {
            threshold: 2,
            members: 1
        })
    ));
    assert_eq!(refresh_if_needed(&mut tx, &latest).unwrap(), None);
    let (store, _) = service(2, 0, None);
    let mut tx = store.begin();
    assert!(matches!(
        issue(&mut tx, &latest),
        Err(RecoveryError::NoRecoveryMembers)
    ));
}

#[test]
fn refresh_follows_members_and_threshold() {
    let (store, members) = service(3, 3, Some(2));
    let latest = LedgerSecret::generate().unwrap();
    let mut tx = store.begin();
    assert!(needs_refresh(&mut tx).unwrap(), "no shares yet");
    issue(&mut tx, &latest).unwrap();
    crate::testing_support::commit(&store, tx);
    let mut tx = store.begin();
    assert!(!needs_refresh(&mut tx).unwrap());
    consort_service::service::CONFIG.put(&mut tx, &serde_json::json!({"recovery_threshold": 3}));
    assert!(needs_refresh(&mut tx).unwrap(), "threshold changed");
    let mut tx = store.begin();
    consort_service::identities::MEMBERS_ENC_KEYS.remove(&mut tx, &members[0].id);
    assert!(needs_refresh(&mut tx).unwrap(), "a recovery member left");
    let before = recovery::RECOVERY_SHARES.get(&mut tx).unwrap().unwrap();
    let issued = refresh_if_needed(&mut tx, &latest).unwrap().unwrap();
    assert_eq!(issued.members, 2);
    let after = recovery::RECOVERY_SHARES.get(&mut tx).unwrap().unwrap();
    assert_ne!(
        before.wrapped_latest_ledger_secret,
        after.wrapped_latest_ledger_secret
    );
    assert!(!after.encrypted_shares.contains_key(&members[0].id));
}
