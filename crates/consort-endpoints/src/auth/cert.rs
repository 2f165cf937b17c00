//! TLS client certificates of registered users and members.

use consort_crypto::cert::Certificate;
use consort_kv::Tx;
use consort_service::{
    identities::{MEMBERS_CERTS, USERS_CERTS},
    nodes::{NodeStatus, INFO},
};

use super::AuthPolicy;
use crate::api::{ApiError, Caller};

/// Whether the certificate registered as `id` in `table` is `pem` (compared as stored
/// bytes: this runs on every request).
fn registered(tx: &mut Tx, table: &'static str, id: &str, pem: &str) -> bool {
    tx.get(table, id.as_bytes())
        .is_some_and(|p| p.as_ref() == pem.as_bytes())
}

/// The caller whose TLS client certificate is `cert`, under `policies`.
pub fn caller(
    tx: &mut Tx,
    policies: &[AuthPolicy],
    cert: &Certificate,
    now: i64,
) -> Result<Caller, ApiError> {
    if !cert.valid_at(now) {
        return Err(ApiError::unauthorized(
            "The client certificate is expired or not yet valid.",
        ));
    }
    let id = cert.fingerprint().to_hex();
    let pem = cert.pem();
    let is_user = registered(tx, USERS_CERTS.name(), &id, pem);
    let is_member = registered(tx, MEMBERS_CERTS.name(), &id, pem);
    if policies.contains(&AuthPolicy::UserCert) && is_user {
        return Ok(Caller::User { id });
    }
    if policies.contains(&AuthPolicy::MemberCert) && is_member {
        return Ok(Caller::Member { id });
    }
    if is_user || is_member {
        let is = if is_user { "user" } else { "member" };
        return Err(ApiError::forbidden(format!(
            "Caller {id} is a {is}; this endpoint is not for {is}s."
        )));
    }
    Err(ApiError::unauthorized(format!(
        "Could not find matching user or member certificate (fingerprint {id})."
    )))
}

/// The trusted node whose key `cert` carries (a node's id is the SHA-256 of its public key).
pub fn node(tx: &mut Tx, cert: &Certificate, now: i64) -> Result<Caller, ApiError> {
    if !cert.valid_at(now) {
        return Err(ApiError::unauthorized(
            "The client certificate is expired or not yet valid.",
        ));
    }
    let id = cert.public_key_id();
    match INFO.get(tx, &id) {
        Ok(Some(info)) if info.status == NodeStatus::Trusted => Ok(Caller::Node { id }),
        Ok(Some(info)) => Err(ApiError::forbidden(format!(
            "Node {id} is {:?}, not trusted.",
            info.status
        ))),
        Ok(None) => Err(ApiError::unauthorized(format!(
            "The client certificate's key is not that of a node of this service ({id})."
        ))),
        Err(e) => Err(ApiError::internal(format!("nodes table: {e}"))),
    }
}
