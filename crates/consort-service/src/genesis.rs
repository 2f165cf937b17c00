//! The writes that create a service and register identities, made in a transaction the
//! caller commits (the node's lifecycle at creation, governance's actions later).

use consort_crypto::cert::Certificate;
use consort_kv::{Tx, TxId};

use crate::{
    identities::{self, MemberInfo, UserInfo},
    jwt::{self, IssuerInfo, Jwk, JwtKey},
    nodes::{self, NodeInfo},
    service::{self, ServiceInfo, ServiceStatus},
    ServiceError,
};

/// Record a new service (status `Opening`) whose creation transaction is `create_txid`,
/// with its first node `node_id` (`info`, and its certificate endorsed by the service).
pub fn record_service(
    tx: &mut Tx,
    service_cert: &Certificate,
    create_txid: TxId,
    node_id: &str,
    info: &NodeInfo,
    node_cert: &Certificate,
) {
    service::INFO.put(
        tx,
        &ServiceInfo {
            cert: service_cert.to_pem(),
            status: ServiceStatus::Opening,
            recovery_count: 0,
            service_data: serde_json::Value::Null,
            current_service_create_txid: Some(create_txid.to_string()),
            previous_service_identity_version: None,
        },
    );
    nodes::INFO.put(tx, &node_id.to_string(), info);
    nodes::ENDORSED_CERTIFICATES.put(tx, &node_id.to_string(), &node_cert.to_pem());
}

/// Set the service's status.
pub fn set_service_status(tx: &mut Tx, status: ServiceStatus) -> Result<(), ServiceError> {
    let mut info = service::INFO
        .get(tx)?
        .ok_or(ServiceError::Missing("service"))?;
    info.status = status;
    service::INFO.put(tx, &info);
    Ok(())
}

/// Register a user: id = hex SHA-256 of the DER certificate (as CCF does).
pub fn add_user(tx: &mut Tx, cert: &Certificate, data: &serde_json::Value) -> String {
    let id = cert.fingerprint().to_hex();
    identities::USERS_CERTS.put(tx, &id, &cert.to_pem());
    if !data.is_null() {
        identities::USERS_INFO.put(
            tx,
            &id,
            &UserInfo {
                user_data: data.clone(),
            },
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
    identities::MEMBERS_CERTS.put(tx, &id, &cert.to_pem());
    if let Some(k) = enc_pub_pem {
        identities::MEMBERS_ENC_KEYS.put(tx, &id, &k.to_string());
    }
    identities::MEMBERS_INFO.put(
        tx,
        &id,
        &MemberInfo {
            status: "Accepted".into(),
            member_data: data.clone(),
            recovery_role: None,
        },
    );
    id
}

/// Trust a JWT issuer and its signing keys (a JWKS document: `{"keys": [...]}`).
/// Returns how many keys were recorded.
pub fn set_jwt_issuer(
    tx: &mut Tx,
    issuer: &str,
    jwks: &serde_json::Value,
) -> Result<usize, ServiceError> {
    let keys = jwks["keys"]
        .as_array()
        .ok_or_else(|| ServiceError::Invalid("JWKS has no keys array".into()))?;
    let mut parsed = Vec::with_capacity(keys.len());
    for k in keys {
        let jwk: Jwk = serde_json::from_value(k.clone())
            .map_err(|e| ServiceError::Invalid(format!("bad JWK: {e}")))?;
        let kid = jwk
            .kid
            .clone()
            .ok_or_else(|| ServiceError::Invalid("JWK without kid".into()))?;
        parsed.push((kid, jwk));
    }
    jwt::ISSUERS.put(
        tx,
        &issuer.to_string(),
        &IssuerInfo {
            issuer: issuer.to_string(),
        },
    );
    for (kid, jwk) in parsed {
        jwt::PUBLIC_SIGNING_KEYS.put(
            tx,
            &kid,
            &JwtKey {
                issuer: issuer.to_string(),
                jwk,
            },
        );
    }
    Ok(keys.len())
}

#[cfg(test)]
#[path = "genesis_test.rs"]
mod genesis_test;
