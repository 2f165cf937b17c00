use consort_endpoints::{auth::jwt::verify, Caller};
use consort_kv::Store;

use super::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_minted_token_verifies_under_the_action_it_was_trusted_by() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer_privk.pem");
    let key = issuer_key(&path).unwrap();
    // The key is reused, not replaced, and kept owner-only.
    assert_eq!(
        issuer_key(&path).unwrap().public_key_id(),
        key.public_key_id()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let action = set_issuer_action(&key, "https://idp.example");
    assert_eq!(action["name"], "set_jwt_issuer");
    let store = Store::new();
    let mut tx = store.begin();
    consort_service::genesis::set_jwt_issuer(
        &mut tx,
        action["args"]["issuer"].as_str().unwrap(),
        &action["args"]["jwks"],
    )
    .unwrap();
    let token = mint(&key, "https://idp.example", "user0", 600).unwrap();
    assert_eq!(
        verify(&mut tx, &token, now()).unwrap(),
        Caller::Jwt {
            issuer: "https://idp.example".into(),
            subject: "user0".into()
        }
    );
    // Expired after its lifetime; refused under another issuer name or another key.
    assert!(verify(&mut tx, &token, now() + 600 + 61).is_err());
    let wrong_iss = mint(&key, "https://other", "user0", 600).unwrap();
    assert!(verify(&mut tx, &wrong_iss, now()).is_err());
    let other = SigningKey::generate().unwrap();
    let forged = mint(&other, "https://idp.example", "user0", 600).unwrap();
    assert!(verify(&mut tx, &forged, now()).is_err());
    // A flipped signature byte is refused.
    let mut bad = token.clone().into_bytes();
    let last = bad.len() - 2;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    assert!(verify(&mut tx, std::str::from_utf8(&bad).unwrap(), now()).is_err());
}
