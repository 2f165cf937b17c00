//! COSE Sign1 signed requests (`content-type: application/cose`), as CCF's
//! `ccf_cose_sign1` makes them: `kid` is the signer's certificate fingerprint; the
//! signer must be a registered user or member whose certificate is valid now.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use consort_crypto::{
    cert::Certificate,
    keys::{EcdsaAlg, VerifyingKey},
};
use consort_kv::Tx;
use consort_service::identities::{MEMBERS_CERTS, USERS_CERTS};
use coset::{CborSerializable, CoseSign1, TaggedCborSerializable};

use super::AuthPolicy;
use crate::api::{ApiError, Caller, Request};

/// Pseudo-header set on COSE requests: hex SHA-256 of what was signed (protected header
/// and payload), for replay protection.
pub const ENVELOPE_DIGEST: &str = "consort.envelope_digest";
/// Pseudo-header set on COSE requests: the whole envelope, base64.
pub const ENVELOPE: &str = "consort.envelope";

/// How far (seconds) a `created_at` may be from the current time.
pub const MAX_CREATED_AT_SKEW_SECS: i64 = 3600;

/// Authenticate a COSE Sign1 request; on success the body becomes the payload and the
/// text-labelled protected headers are in `req.cose_headers`.
pub(super) fn authenticate(
    tx: &mut Tx,
    policies: &[AuthPolicy],
    req: &mut Request,
    now: i64,
) -> Result<Caller, ApiError> {
    let (sign1, kid) = parse(&req.body)?;
    let user_cert = USERS_CERTS.get(tx, &kid).ok().flatten();
    let member_cert = MEMBERS_CERTS.get(tx, &kid).ok().flatten();
    let (caller, pem) = match (
        policies.contains(&AuthPolicy::UserCose),
        user_cert,
        policies.contains(&AuthPolicy::MemberCose),
        member_cert,
    ) {
        (true, Some(pem), _, _) => (Caller::User { id: kid.clone() }, pem),
        (_, _, true, Some(pem)) => (Caller::Member { id: kid.clone() }, pem),
        (_, Some(_), _, _) | (_, _, _, Some(_)) => {
            return Err(ApiError::forbidden(format!(
                "Signer {kid} is not allowed on this endpoint."
            )))
        }
        _ => {
            return Err(ApiError::unauthorized(format!(
                "COSE signer {kid} is not a registered user or member."
            )))
        }
    };
    let cert = Certificate::from_pem(&pem)
        .map_err(|_| ApiError::internal("stored certificate is invalid"))?;
    if !cert.valid_at(now) {
        return Err(ApiError::unauthorized(format!(
            "The certificate of COSE signer {kid} is expired or not yet valid."
        )));
    }
    let mut headers = verify(&sign1, &cert, now)?;
    // Identifies what was signed (protected header and payload — not the signature,
    // which ECDSA malleability lets anyone re-form) for replay protection; the envelope
    // is kept whole for the record.
    let signed = consort_crypto::sha256_concat(&[
        sign1.protected.original_data.as_deref().unwrap_or_default(),
        sign1.payload.as_deref().unwrap_or_default(),
    ]);
    headers.insert(ENVELOPE_DIGEST.into(), serde_json::json!(signed.to_hex()));
    headers.insert(
        ENVELOPE.into(),
        serde_json::json!(base64::engine::general_purpose::STANDARD.encode(&req.body)),
    );
    req.body = Bytes::from(sign1.payload.clone().unwrap_or_default());
    req.cose_headers = headers;
    Ok(caller)
}

/// Parse a COSE_Sign1 (tagged or not); returns it and its `kid` as text.
pub fn parse(body: &[u8]) -> Result<(CoseSign1, String), ApiError> {
    let sign1 = CoseSign1::from_tagged_slice(body)
        .or_else(|_| CoseSign1::from_slice(body))
        .map_err(|e| {
            ApiError::unauthorized(format!("Request body is not a COSE Sign1 message: {e}"))
        })?;
    let kid = String::from_utf8(sign1.protected.header.key_id.clone()).map_err(|_| {
        ApiError::unauthorized("COSE kid must be the signer's certificate fingerprint in hex")
    })?;
    if kid.is_empty() {
        return Err(ApiError::unauthorized("COSE protected header has no kid"));
    }
    Ok((sign1, kid))
}

fn cbor_to_json(v: &ciborium::Value) -> serde_json::Value {
    use ciborium::Value as C;
    match v {
        C::Integer(i) => serde_json::json!(i128::from(*i)),
        C::Text(s) => serde_json::json!(s),
        C::Bool(b) => serde_json::json!(b),
        C::Bytes(b) => serde_json::json!(hex::encode(b)),
        C::Float(f) => serde_json::json!(f),
        _ => serde_json::Value::Null,
    }
}

/// Verify `sign1` with `cert`'s key; returns the text-labelled protected headers.
fn verify(
    sign1: &CoseSign1,
    cert: &Certificate,
    now: i64,
) -> Result<BTreeMap<String, serde_json::Value>, ApiError> {
    use coset::{iana, Algorithm};
    let alg = match &sign1.protected.header.alg {
        Some(Algorithm::Assigned(iana::Algorithm::ES384)) => EcdsaAlg::Es384,
        Some(Algorithm::Assigned(iana::Algorithm::ES256)) => EcdsaAlg::Es256,
        other => {
            return Err(ApiError::unauthorized(format!(
                "Unsupported COSE algorithm {other:?}; use ES384 or ES256."
            )))
        }
    };
    let key: VerifyingKey = cert
        .verifying_key()
        .map_err(|_| ApiError::unauthorized("The signer's certificate has no usable EC key."))?;
    sign1
        .verify_signature(b"", |sig, data| key.verify_fixed(alg, data, sig))
        .map_err(|_| ApiError::unauthorized("COSE Sign1 signature is invalid."))?;
    let mut headers = BTreeMap::new();
    for (label, value) in &sign1.protected.header.rest {
        if let coset::Label::Text(t) = label {
            headers.insert(t.clone(), cbor_to_json(value));
        }
    }
    for name in ["ccf.msg.created_at", "ccf.gov.msg.created_at"] {
        if let Some(t) = headers.get(name).and_then(|v| v.as_i64()) {
            if (t - now).abs() > MAX_CREATED_AT_SKEW_SECS {
                return Err(ApiError::unauthorized(format!(
                    "COSE {name} is too far from the current time."
                )));
            }
        }
    }
    Ok(headers)
}
