use consort_crypto::{cert::self_signed_leaf, keys::SigningKey};
use consort_kv::{Store, TxId};

use super::*;
use crate::nodes::NodeStatus;

fn commit(store: &Store, tx: Tx) {
    store.commit(tx, |_| Ok::<_, String>(())).unwrap();
}

#[test]
fn service_record_and_identities_read_back_typed_from_a_snapshot() {
    let store = Store::new();
    let key = SigningKey::generate().unwrap();
    let cert = self_signed_leaf(&key, "x", 1).unwrap();
    let mut tx = store.begin();
    let info = NodeInfo::trusted("pk".into());
    record_service(&mut tx, &cert, TxId::new(1, 1), "n1", &info, &cert);
    let user = add_user(&mut tx, &cert, &serde_json::json!({"a": 1}));
    let member = add_member(&mut tx, &cert, Some("enc"), &serde_json::Value::Null);
    commit(&store, tx);

    let mut snap = store.snapshot();
    let s = service::INFO.get(&mut snap).unwrap().unwrap();
    assert_eq!(s.status, ServiceStatus::Opening);
    assert_eq!(s.current_service_create_txid.as_deref(), Some("1.1"));
    assert_eq!(
        nodes::with_status(&mut snap, NodeStatus::Trusted).unwrap(),
        vec!["n1".to_string()]
    );
    assert_eq!(user, cert.fingerprint().to_hex());
    assert_eq!(
        identities::USERS_CERTS.get(&mut snap, &user).unwrap(),
        Some(cert.to_pem())
    );
    let m = identities::MEMBERS_INFO
        .get(&mut snap, &member)
        .unwrap()
        .unwrap();
    assert_eq!(m.status, "Accepted");
    // CCF's wire shape: raw PEM in the certs tables.
    assert_eq!(
        snap.get(identities::MEMBERS_ENC_KEYS.name(), member.as_bytes())
            .unwrap()
            .as_ref(),
        b"enc"
    );

    let mut tx = store.begin();
    set_service_status(&mut tx, ServiceStatus::Open).unwrap();
    commit(&store, tx);
    let s = service::INFO.get(&mut store.snapshot()).unwrap().unwrap();
    assert_eq!(s.status, ServiceStatus::Open);
}

#[test]
fn a_bad_jwks_writes_nothing() {
    let store = Store::new();
    let mut tx = store.begin();
    let bad = serde_json::json!({"keys": [{"kty": "RSA", "kid": "a"}, {"kty": "RSA"}]});
    assert!(matches!(
        set_jwt_issuer(&mut tx, "https://i", &bad),
        Err(ServiceError::Invalid(_))
    ));
    assert!(tx.is_read_only());
    let good = serde_json::json!({"keys": [{"kty": "RSA", "kid": "a", "n": "AQ", "e": "AQAB"}]});
    assert_eq!(set_jwt_issuer(&mut tx, "https://i", &good).unwrap(), 1);
    let k = jwt::PUBLIC_SIGNING_KEYS
        .get(&mut tx, &"a".to_string())
        .unwrap()
        .unwrap();
    assert_eq!(k.issuer, "https://i");
}

#[test]
fn setting_the_status_of_a_missing_service_is_an_error() {
    let store = Store::new();
    let mut tx = store.begin();
    assert!(matches!(
        set_service_status(&mut tx, ServiceStatus::Open),
        Err(ServiceError::Missing(_))
    ));
}
