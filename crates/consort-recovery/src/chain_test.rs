use std::collections::HashMap;

use consort_kv::{LedgerSecret, Store};
use consort_service::recovery::{EncryptedLedgerSecretInfo, HISTORICAL_SECRETS};

use super::*;
use crate::testing_support::commit;

/// A service that started at 1 and rekeyed at 10 and 20: the latest secret finds the
/// others, each with the seqno it starts at.
#[test]
fn the_latest_secret_unlocks_every_previous_one() {
    let store = Store::new();
    let s1 = LedgerSecret::generate().unwrap();
    let s2 = LedgerSecret::generate().unwrap();
    let s3 = LedgerSecret::generate().unwrap();
    let mut ledger: HashMap<Version, EncryptedLedgerSecretInfo> = HashMap::new();
    let mut write = |f: &mut dyn FnMut(&mut Tx)| {
        let mut tx = store.begin();
        f(&mut tx);
        commit(&store, tx);
        let v = store.version();
        ledger.insert(
            v,
            HISTORICAL_SECRETS
                .get(&mut store.snapshot())
                .unwrap()
                .unwrap(),
        );
        v
    };
    let first = write(&mut |tx| record_first(tx, 1));
    assert_eq!(first, 1);
    let r10 = write(&mut |tx| record_change(tx, &s2, &s1, 1, None).unwrap());
    let r20 = write(&mut |tx| record_change(tx, &s3, &s2, r10 + 1, None).unwrap());
    let top = ledger[&r20].clone();
    assert_eq!(latest_from(&top, r20), r20 + 1);
    let mut read = |v: Version| Ok(ledger.get(&v).cloned());
    let got = walk(&s3, &top, 0, &mut read).unwrap();
    let got: Vec<(Version, [u8; 32])> = got.iter().map(|(v, s)| (*v, *s.raw())).collect();
    assert_eq!(got, vec![(r10 + 1, *s2.raw()), (1, *s1.raw())]);
    // Enough once a secret covers `enough`.
    assert_eq!(walk(&s3, &top, r10 + 1, &mut read).unwrap().len(), 1);
    // Another secret does not open the chain.
    let other = LedgerSecret::generate().unwrap();
    assert!(matches!(
        walk(&other, &top, 0, &mut read),
        Err(RecoveryError::Chain(_))
    ));
}
