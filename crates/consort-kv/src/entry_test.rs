use bytes::Bytes;
use consort_crypto::{sha256, Sha256Digest};
use proptest::prelude::*;

use super::*;
use crate::{LedgerSecret, LedgerSecrets, TxId, WriteSet};

fn secrets() -> LedgerSecrets {
    LedgerSecrets::single(LedgerSecret::from_raw([9u8; 32]).unwrap())
}

fn meta(txid: TxId) -> EntryMeta {
    EntryMeta {
        txid,
        claims_digest: Sha256Digest::ZERO,
        commit_evidence_digest: sha256(b"ce"),
        max_conflict_version: txid.seqno as i64 - 1,
        read_version: txid.seqno - 1,
        flags: 0,
    }
}

#[test]
fn layout_matches_ccf() {
    let mut ws = WriteSet::default();
    ws.put("public:t", &b"k"[..], &b"v"[..]);
    let e = serialize_entry(&meta(TxId::new(2, 7)), &ws, &secrets()).unwrap();
    // Header: version 1, flags 0, size = len - 8.
    assert_eq!(e[0], 1);
    assert_eq!(e[1], 0);
    assert_eq!(entry_len(&e), Some(e.len() as u64));
    // IV: seqno then view.
    assert_eq!(&e[24..32], &7u64.to_le_bytes());
    assert_eq!(&e[32..36], &2u32.to_le_bytes());
    // Public domain: type 4, seqno, claims, commit evidence, max conflict version, then map.
    let public_len = u64::from_le_bytes(e[36..44].try_into().unwrap()) as usize;
    let p = &e[44..44 + public_len];
    assert_eq!(p[0], 4);
    assert_eq!(&p[1..9], &7u64.to_le_bytes());
    assert_eq!(&p[9..41], &[0u8; 32]);
    assert_eq!(&p[41..73], sha256(b"ce").as_bytes());
    assert_eq!(&p[73..81], &6i64.to_le_bytes());
    let mut rest = Vec::new();
    rest.extend_from_slice(&8u64.to_le_bytes());
    rest.extend_from_slice(b"public:t");
    rest.extend_from_slice(&6u64.to_le_bytes()); // read version
    rest.extend_from_slice(&0u64.to_le_bytes()); // reads
    rest.extend_from_slice(&1u64.to_le_bytes()); // writes
    rest.extend_from_slice(&1u64.to_le_bytes());
    rest.extend_from_slice(b"k");
    rest.extend_from_slice(&1u64.to_le_bytes());
    rest.extend_from_slice(b"v");
    rest.extend_from_slice(&0u64.to_le_bytes()); // removes
    assert_eq!(&p[81..], &rest[..]);
    // No private maps: no private bytes.
    assert_eq!(e.len(), 44 + public_len);
}

#[test]
fn private_maps_are_encrypted_and_round_trip() {
    let mut ws = WriteSet::default();
    ws.put("public:t", &b"pk"[..], &b"public value"[..]);
    ws.put("records", &b"id1"[..], &b"TOP-SECRET-VALUE"[..]);
    ws.remove("records", &b"id0"[..]);
    let ss = secrets();
    let e = serialize_entry(&meta(TxId::new(1, 3)), &ws, &ss).unwrap();
    let hay = e.windows(16).any(|w| w == b"TOP-SECRET-VALUE");
    assert!(!hay, "private value in clear");
    assert!(e.windows(12).any(|w| w == b"public value"));
    let d = decode_entry(&e, &ss).unwrap();
    assert_eq!(d.txid, TxId::new(1, 3));
    assert_eq!(d.write_set, ws);
    assert_eq!(d.public.maps.maps.len(), 1);

    // Wrong key fails authentication.
    let other = LedgerSecrets::single(LedgerSecret::from_raw([8u8; 32]).unwrap());
    assert!(matches!(decode_entry(&e, &other), Err(KvError::Decrypt(_))));
}

#[test]
fn any_flipped_byte_is_rejected_with_the_key() {
    let mut ws = WriteSet::default();
    ws.put("public:t", &b"a"[..], &b"b"[..]);
    ws.put("priv", &b"c"[..], &b"d"[..]);
    let ss = secrets();
    let e = serialize_entry(&meta(TxId::new(1, 1)), &ws, &ss).unwrap();
    for i in 0..e.len() {
        let mut bad = e.clone();
        bad[i] ^= 0x40;
        let r = decode_entry(&bad, &ss);
        // The flags byte (1) and entry version byte (0) are not authenticated by GCM in
        // CCF's format; the Merkle tree covers them (the write-set digest is over all bytes).
        if i >= 2 {
            assert!(
                r.is_err() || r.unwrap().write_set != ws,
                "byte {i} flip accepted"
            );
        }
    }
}

proptest! {
    #[test]
    fn round_trip(
        view in 0u64..1000,
        seqno in 1u64..1_000_000,
        maps in proptest::collection::btree_map(
            prop_oneof!["public:[a-z]{1,8}", "[a-z]{1,8}"],
            proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 0..16), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)), 1..6),
            0..5),
    ) {
        let mut ws = WriteSet::default();
        for (name, kv) in maps {
            for (k, v) in kv {
                match v {
                    Some(v) => ws.put(&name, Bytes::from(k), Bytes::from(v)),
                    None => ws.remove(&name, Bytes::from(k)),
                }
            }
        }
        let ss = secrets();
        let e = serialize_entry(&meta(TxId::new(view, seqno)), &ws, &ss).unwrap();
        let d = decode_entry(&e, &ss).unwrap();
        prop_assert_eq!(d.txid, TxId::new(view, seqno));
        prop_assert_eq!(d.write_set, ws);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_entry(&bytes, &secrets());
        if let Ok(v) = EntryView::parse(&bytes) {
            let _ = decode_public(v.public);
        }
    }
}

#[test]
fn public_decoding_needs_no_secret_and_leaves_private_bytes_alone() {
    let mut ws = WriteSet::default();
    ws.put("public:t", &b"k"[..], &b"v"[..]);
    ws.put("secret", &b"sk"[..], &b"PRIVATE"[..]);
    let e = serialize_entry(&meta(TxId::new(2, 7)), &ws, &secrets()).unwrap();
    let d = decode_entry_public(&e).unwrap();
    assert_eq!(d.txid, TxId::new(2, 7));
    assert_eq!(d.write_set.maps.keys().collect::<Vec<_>>(), ["public:t"]);
    assert_eq!(d.write_set, d.public.maps);
    assert_eq!(decode_entry(&e, &secrets()).unwrap().public, d.public);
    // Structure is still checked.
    assert!(decode_entry_public(&e[..e.len() - 1]).is_err());
    let mut twice = e.clone();
    twice.extend_from_slice(&e);
    assert!(decode_entry_public(&twice).is_err());
    // The buffer-reusing private decoder agrees with the plain one.
    let view = EntryView::parse(&e).unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        view.decrypt_private_with(&secrets(), &mut buf).unwrap(),
        view.decrypt_private(&secrets()).unwrap()
    );
    let other = LedgerSecrets::single(LedgerSecret::from_raw([8u8; 32]).unwrap());
    assert!(matches!(
        view.decrypt_private_with(&other, &mut buf),
        Err(KvError::Decrypt(_))
    ));
}
