//! Test helpers: a store with recovery members.

use consort_crypto::{
    cert::self_signed_leaf,
    keys::SigningKey,
    rsa::{generate_rsa_2048_pem, RsaPrivateKey},
};
use consort_kv::{Store, Tx};
use consort_service::{genesis, identities};

pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) enc_key: RsaPrivateKey,
}

pub(crate) fn commit(store: &Store, tx: Tx) {
    store
        .commit(tx, |_| Ok::<(), ()>(()))
        .expect("test transaction commits");
}

/// `n` members with encryption keys (the first `active` of them Active), threshold `t`.
pub(crate) fn service(n: usize, active: usize, t: Option<u64>) -> (Store, Vec<Member>) {
    let store = Store::new();
    let mut tx = store.begin();
    let mut members = Vec::new();
    for i in 0..n {
        let key = SigningKey::generate().unwrap();
        let cert = self_signed_leaf(&key, &format!("member{i}"), 1).unwrap();
        let (enc_priv, enc_pub) = generate_rsa_2048_pem().unwrap();
        let id = genesis::add_member(&mut tx, &cert, Some(&enc_pub), &serde_json::Value::Null);
        if i < active {
            let mut info = identities::MEMBERS_INFO.get(&mut tx, &id).unwrap().unwrap();
            info.status = "Active".into();
            identities::MEMBERS_INFO.put(&mut tx, &id, &info);
        }
        members.push(Member {
            id,
            enc_key: RsaPrivateKey::from_pem(&enc_priv).unwrap(),
        });
    }
    if let Some(t) = t {
        consort_service::service::CONFIG
            .put(&mut tx, &serde_json::json!({"recovery_threshold": t}));
    }
    commit(&store, tx);
    members.sort_by(|a, b| a.id.cmp(&b.id));
    (store, members)
}

/// Member `m`'s share, decrypted with its key (what a member does on its own machine).
pub(crate) fn decrypted_share(tx: &mut Tx, m: &Member) -> Vec<u8> {
    use base64::Engine;
    let info = consort_service::recovery::RECOVERY_SHARES
        .get(tx)
        .unwrap()
        .unwrap();
    let enc = base64::engine::general_purpose::STANDARD
        .decode(&info.encrypted_shares[&m.id])
        .unwrap();
    m.enc_key.decrypt_oaep_sha256(&enc).unwrap().to_vec()
}
