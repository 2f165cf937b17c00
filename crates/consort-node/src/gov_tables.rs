//! Governance tables used by the node (CCF's names). Governance proper (proposals,
//! ballots, the constitution) will own these; the node reads them to authenticate.

use bytes::Bytes;
use consort_crypto::cert::Certificate;
use consort_kv::Tx;
use serde_json::json;

pub const USERS_CERTS: &str = "public:ccf.gov.users.certs";
pub const USERS_INFO: &str = "public:ccf.gov.users.info";
pub const MEMBERS_CERTS: &str = "public:ccf.gov.members.certs";
pub const MEMBERS_INFO: &str = "public:ccf.gov.members.info";
pub const MEMBERS_ENC_KEYS: &str = "public:ccf.gov.members.encryption_public_keys";
pub const JWT_ISSUERS: &str = "public:ccf.gov.jwt.issuers";
pub const JWT_KEYS: &str = "public:ccf.gov.jwt.public_signing_keys";

/// Trust a JWT issuer and its signing keys (a JWKS document: `{"keys": [...]}`).
pub fn set_jwt_issuer(
    tx: &mut Tx,
    issuer: &str,
    jwks: &serde_json::Value,
) -> Result<usize, String> {
    let keys = jwks["keys"].as_array().ok_or("JWKS has no keys array")?;
    tx.put(
        JWT_ISSUERS,
        Bytes::from(issuer.to_string()),
        serde_json::to_vec(&json!({"issuer": issuer})).expect("json"),
    );
    for k in keys {
        let jwk: crate::auth::Jwk =
            serde_json::from_value(k.clone()).map_err(|e| format!("bad JWK: {e}"))?;
        let kid = jwk.kid.clone().ok_or("JWK without kid")?;
        tx.put(
            JWT_KEYS,
            Bytes::from(kid),
            serde_json::to_vec(&json!({"issuer": issuer, "jwk": jwk})).expect("json"),
        );
    }
    Ok(keys.len())
}

/// Register a user: id = hex SHA-256 of the DER certificate (as CCF does).
pub fn add_user(tx: &mut Tx, cert: &Certificate, data: &serde_json::Value) -> String {
    let id = cert.fingerprint().to_hex();
    tx.put(
        USERS_CERTS,
        Bytes::from(id.clone()),
        cert.to_pem().into_bytes(),
    );
    if !data.is_null() {
        tx.put(
            USERS_INFO,
            Bytes::from(id.clone()),
            serde_json::to_vec(&json!({"user_data": data})).expect("json"),
        );
    }
    id
}

/// Register a member (state `Accepted` until it acknowledges, as in CCF).
pub fn add_member(
    tx: &mut Tx,
    cert: &Certificate,
    enc_pub_pem: Option<&str>,
    data: &serde_json::Value,
) -> String {
    let id = cert.fingerprint().to_hex();
    tx.put(
        MEMBERS_CERTS,
        Bytes::from(id.clone()),
        cert.to_pem().into_bytes(),
    );
    if let Some(k) = enc_pub_pem {
        tx.put(
            MEMBERS_ENC_KEYS,
            Bytes::from(id.clone()),
            k.as_bytes().to_vec(),
        );
    }
    tx.put(
        MEMBERS_INFO,
        Bytes::from(id.clone()),
        serde_json::to_vec(&json!({"status": "Accepted", "member_data": data})).expect("json"),
    );
    id
}
