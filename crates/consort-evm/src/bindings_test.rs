use consort_kv::Store;

use super::*;

/// Made by `eth_account` (Python), independently: `Account.from_key("0x11"*32)` signing
/// `bind_message(its address, "abc123", 7)` with `encode_defunct`.
const VECTOR_ADDRESS: &str = "0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a";
const VECTOR_SIGNATURE: &str = "a2d4ccbb21a1f73d5499748074aac5de98ed4069d965a0b2cd740c7ad58202373f7b660e12bf9bcc5b319546a8a8faa1598699f0a696b581de91848468f9f8201c";

fn sign(sk: &secp256k1::SecretKey, message: &str) -> Vec<u8> {
    personal_sign(sk, message)
}

/// Bind `a` to `identity` with a proof by `sk` over `identity` and `nonce`.
fn prove(
    tx: &mut Tx,
    identity: &str,
    sk: &secp256k1::SecretKey,
    a: &Address,
    nonce: u64,
) -> Result<(), BindError> {
    bind(
        tx,
        identity,
        a,
        nonce,
        &sign(sk, &bind_message(a, identity, nonce)),
    )
}

fn key(n: u8) -> (secp256k1::SecretKey, Address) {
    let sk = secp256k1::SecretKey::from_slice(&[n; 32]).unwrap();
    let pk = sk.public_key(secp256k1::SECP256K1).serialize_uncompressed();
    (sk, Address::from_slice(&keccak256(&pk[1..])[12..]))
}

#[test]
fn a_personal_sign_signature_from_eth_account_recovers_its_address() {
    let a: Address = VECTOR_ADDRESS.parse().unwrap();
    let sig = hex::decode(VECTOR_SIGNATURE).unwrap();
    assert_eq!(
        recover_personal(&bind_message(&a, "abc123", 7), &sig).unwrap(),
        a
    );
    // Another message, or a flipped bit, recovers someone else (or nothing).
    assert_ne!(
        recover_personal(&bind_message(&a, "abc123", 8), &sig).ok(),
        Some(a)
    );
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert_ne!(
        recover_personal(&bind_message(&a, "abc123", 7), &bad).ok(),
        Some(a)
    );
    assert_eq!(
        recover_personal("m", &sig[..64]),
        Err(BindError::MalformedSignature)
    );
    let mut v = sig;
    v[64] = 5;
    assert_eq!(
        recover_personal("m", &v),
        Err(BindError::MalformedSignature)
    );
}

#[test]
fn an_address_is_bound_by_proof_of_possession_once_and_to_one_identity() {
    let store = Store::new();
    let mut tx = store.begin();
    let (sk, a) = key(3);
    let (_, b) = key(4);
    // The signature must be by the address's key, over this caller and nonce.
    let e = prove(&mut tx, "alice", &sk, &b, 1).unwrap_err();
    assert!(matches!(e, BindError::WrongSigner { .. }), "{e}");
    let alices = sign(&sk, &bind_message(&a, "alice", 1));
    let e = bind(&mut tx, "bob", &a, 1, &alices).unwrap_err();
    assert!(matches!(e, BindError::WrongSigner { .. }), "{e}");
    prove(&mut tx, "alice", &sk, &a, 1).unwrap();
    assert_eq!(owner(&mut tx, &a).as_deref(), Some("alice"));
    assert_eq!(addresses(&mut tx, "alice"), vec![a]);
    // Replayed or older: refused. Another identity with a fresh proof: taken.
    let e = bind(&mut tx, "alice", &a, 1, &alices).unwrap_err();
    assert!(matches!(e, BindError::StaleNonce { .. }), "{e}");
    let e = prove(&mut tx, "bob", &sk, &a, 2).unwrap_err();
    assert_eq!(e, BindError::Taken { address: a });
    // Unbound by its owner, it may go to another with a newer proof, never with the old.
    assert_eq!(
        unbind(&mut tx, "bob", &a),
        Err(BindError::NotBound { address: a })
    );
    unbind(&mut tx, "alice", &a).unwrap();
    assert_eq!(owner(&mut tx, &a), None);
    assert!(addresses(&mut tx, "alice").is_empty());
    let e = bind(&mut tx, "alice", &a, 1, &alices).unwrap_err();
    assert!(matches!(e, BindError::StaleNonce { .. }), "{e}");
    prove(&mut tx, "bob", &sk, &a, 3).unwrap();
    assert_eq!(addresses(&mut tx, "bob"), vec![a]);
}

#[test]
fn governance_bindings_come_first_and_win() {
    let store = Store::new();
    let mut tx = store.begin();
    let (sk, a) = key(5);
    let (_, g) = key(6);
    bind(
        &mut tx,
        "alice",
        &a,
        1,
        &sign(&sk, &bind_message(&a, "alice", 1)),
    )
    .unwrap();
    tx.put(
        GOV_BINDINGS,
        key_of(&g),
        br#"{"identity":"alice"}"#.to_vec(),
    );
    assert_eq!(addresses(&mut tx, "alice"), vec![g, a]);
    // Governance gives `a` to bob: alice's own binding no longer counts.
    tx.put(GOV_BINDINGS, key_of(&a), br#"{"identity":"bob"}"#.to_vec());
    assert_eq!(owner(&mut tx, &a).as_deref(), Some("bob"));
    assert_eq!(addresses(&mut tx, "alice"), vec![g]);
}

#[test]
fn a_tokens_identity_is_its_issuer_and_subject_or_the_user_governance_names() {
    let store = Store::new();
    let mut tx = store.begin();
    let jwt = |tx: &mut Tx, issuer: &str, subject: &str| {
        identity(
            tx,
            &Caller::Jwt {
                issuer: issuer.into(),
                subject: subject.into(),
            },
        )
    };
    assert_eq!(
        jwt(&mut tx, "https://idp", "s1").as_deref(),
        Some("jwt:https%3A//idp:s1")
    );
    // An issuer that is another's prefix followed by `:` does not collide with it.
    assert_ne!(jwt(&mut tx, "a:b", "c"), jwt(&mut tx, "a", "b:c"));
    assert_ne!(jwt(&mut tx, "a%3Ab", "c"), jwt(&mut tx, "a:b", "c"));
    assert_eq!(jwt(&mut tx, "a%b", "c:d").as_deref(), Some("jwt:a%25b:c:d"));
    // Governance makes idp's s1 act as user u1; idp's s2 and other issuers' s1 stay apart.
    tx.put(
        GOV_JWT_USERS,
        jwt_identity("https://idp", "s1").into_bytes(),
        br#"{"user_id":"u1"}"#.to_vec(),
    );
    assert_eq!(jwt(&mut tx, "https://idp", "s1").as_deref(), Some("u1"));
    assert_eq!(
        jwt(&mut tx, "https://idp", "s2").as_deref(),
        Some("jwt:https%3A//idp:s2")
    );
    assert_eq!(
        jwt(&mut tx, "https://other", "s1").as_deref(),
        Some("jwt:https%3A//other:s1")
    );
    let user = Caller::User { id: "u2".into() };
    assert_eq!(identity(&mut tx, &user).as_deref(), Some("u2"));
    assert_eq!(identity(&mut tx, &Caller::Member { id: "m".into() }), None);
}

fn key_of(a: &Address) -> Vec<u8> {
    format!("{a:#x}").into_bytes()
}

#[test]
fn an_identitys_addresses_keep_the_order_they_were_bound_in() {
    let store = Store::new();
    let mut tx = store.begin();
    let keys: Vec<_> = (20..24).map(key).collect();
    for (sk, a) in &keys {
        prove(&mut tx, "alice", sk, a, 1).unwrap();
    }
    // An identity that extends another's name keeps its own list.
    let (sk, z) = key(30);
    prove(&mut tx, "alice\u{0}x", &sk, &z, 1).unwrap();
    let order: Vec<Address> = keys.iter().map(|(_, a)| *a).collect();
    assert_eq!(addresses(&mut tx, "alice"), order);
    assert_eq!(addresses(&mut tx, "alice\u{0}x"), vec![z]);
    // Rebinding with a newer nonce keeps the place; unbinding one keeps the others' order;
    // binding again puts it last.
    prove(&mut tx, "alice", &keys[0].0, &keys[0].1, 2).unwrap();
    assert_eq!(addresses(&mut tx, "alice"), order);
    unbind(&mut tx, "alice", &keys[1].1).unwrap();
    assert_eq!(
        addresses(&mut tx, "alice"),
        vec![order[0], order[2], order[3]]
    );
    prove(&mut tx, "alice", &keys[1].0, &keys[1].1, 2).unwrap();
    assert_eq!(
        addresses(&mut tx, "alice"),
        vec![order[0], order[2], order[3], order[1]]
    );
}
