//! Authentication policies, as in CCF: TLS client certificates, COSE Sign1 signed
//! requests, JWT bearer tokens whose issuers' keys are in the KV, and no authentication.
//!
//! Identities are in the governance tables: users and members by the SHA-256 fingerprint of
//! their certificate; JWT signing keys by `kid` with the issuer they belong to. A caller
//! with no acceptable credentials gets 401; a known identity of the wrong kind gets 403.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use consort_crypto::{
    cert::Certificate,
    keys::{verify_rs256, EcdsaAlg, VerifyingKey},
};
use coset::{CborSerializable, CoseSign1, TaggedCborSerializable};
use serde::Deserialize;

use crate::{
    api::{ApiError, Caller, Request},
    gov_tables,
    node::NodeState,
};

/// Who may call an endpoint. Any listed policy that accepts the caller admits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPolicy {
    /// Anyone (credentials, if presented, are ignored).
    NoAuth,
    /// A TLS client certificate registered in `public:ccf.gov.users.certs`.
    UserCert,
    /// A TLS client certificate registered in `public:ccf.gov.members.certs`.
    MemberCert,
    /// A COSE Sign1 body signed by a registered user (`kid` = certificate fingerprint).
    UserCose,
    /// A COSE Sign1 body signed by a registered member.
    MemberCose,
    /// `Authorization: Bearer <JWT>` signed by a key in `public:ccf.gov.jwt.public_signing_keys`.
    Jwt,
}

impl AuthPolicy {
    pub fn openapi_name(self) -> Option<&'static str> {
        match self {
            AuthPolicy::NoAuth => None,
            AuthPolicy::UserCert => Some("user_cert"),
            AuthPolicy::MemberCert => Some("member_cert"),
            AuthPolicy::UserCose => Some("user_cose_sign1"),
            AuthPolicy::MemberCose => Some("member_cose_sign1"),
            AuthPolicy::Jwt => Some("jwt"),
        }
    }
}

/// Pseudo-header set on COSE requests: hex SHA-256 of the envelope's signature.
pub const ENVELOPE_DIGEST: &str = "consort.envelope_digest";
/// Pseudo-header set on COSE requests: the whole envelope, base64.
pub const ENVELOPE: &str = "consort.envelope";

/// Seconds a COSE `created_at` or JWT `exp`/`nbf` may be off.
const CLOCK_SKEW_SECS: i64 = 300;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Decide who is calling an endpoint with `policies`, or refuse. For COSE requests the
/// body is replaced by the verified payload.
pub(crate) fn authenticate(
    node: &NodeState,
    policies: &[AuthPolicy],
    req: &mut Request,
) -> Result<Caller, ApiError> {
    use AuthPolicy::*;
    if policies.contains(&NoAuth) {
        return Ok(Caller::Anonymous);
    }
    let mut tx = node.journal.begin();
    let is_cose = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/cose"));
    if is_cose && (policies.contains(&UserCose) || policies.contains(&MemberCose)) {
        let (sign1, kid) = parse_cose(&req.body)?;
        let (user_cert, member_cert) = (
            tx.get(gov_tables::USERS_CERTS, kid.as_bytes()),
            tx.get(gov_tables::MEMBERS_CERTS, kid.as_bytes()),
        );
        let (caller, pem) = match (
            policies.contains(&UserCose),
            user_cert,
            policies.contains(&MemberCose),
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
        let cert = Certificate::from_pem(std::str::from_utf8(&pem).unwrap_or_default())
            .map_err(|_| ApiError::internal("stored certificate is invalid"))?;
        let mut headers = verify_cose(&sign1, &cert)?;
        // Identifies what was signed (protected header and payload — not the signature,
        // which ECDSA malleability lets anyone re-form) for replay protection; the
        // envelope is kept whole for the record.
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
        return Ok(caller);
    }
    if policies.contains(&Jwt) {
        if let Some(token) = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            return verify_jwt(&mut tx, token.trim());
        }
    }
    if policies.contains(&UserCert) || policies.contains(&MemberCert) {
        if let Some(cert) = &req.client_cert {
            return cert_caller(&mut tx, policies, cert);
        }
    }
    Err(ApiError::unauthorized(
        "This endpoint requires authentication: a TLS client certificate of a registered user or member, a COSE Sign1 signed request, or a JWT bearer token; none was presented.",
    ))
}

fn cert_caller(
    tx: &mut consort_kv::Tx,
    policies: &[AuthPolicy],
    cert: &Certificate,
) -> Result<Caller, ApiError> {
    if !cert.valid_at(now()) {
        return Err(ApiError::unauthorized(
            "The client certificate is expired or not yet valid.",
        ));
    }
    let id = cert.fingerprint().to_hex();
    let pem = cert.pem();
    let is_user = tx
        .get(gov_tables::USERS_CERTS, id.as_bytes())
        .is_some_and(|p| p.as_ref() == pem.as_bytes());
    let is_member = tx
        .get(gov_tables::MEMBERS_CERTS, id.as_bytes())
        .is_some_and(|p| p.as_ref() == pem.as_bytes());
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

/// Parse a COSE_Sign1 (tagged or not); returns it and its `kid` as text.
fn parse_cose(body: &[u8]) -> Result<(CoseSign1, String), ApiError> {
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
fn verify_cose(
    sign1: &CoseSign1,
    cert: &Certificate,
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
            if (t - now()).abs() > CLOCK_SKEW_SECS * 12 {
                return Err(ApiError::unauthorized(format!(
                    "COSE {name} is too far from the current time."
                )));
            }
        }
    }
    Ok(headers)
}

/// A signing key of a JWT issuer, as stored in `public:ccf.gov.jwt.public_signing_keys`.
#[derive(Debug, Deserialize)]
pub struct JwtKey {
    pub issuer: String,
    pub jwk: Jwk,
}

/// A JSON Web Key (RSA or EC P-256/P-384).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct JwtClaims {
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
}

fn b64url(s: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| ApiError::unauthorized("JWT is not base64url"))
}

fn verify_jwt(tx: &mut consort_kv::Tx, token: &str) -> Result<Caller, ApiError> {
    let bad = |m: &str| ApiError::unauthorized(format!("JWT rejected: {m}"));
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS (header.payload.signature)"));
    };
    let header: JwtHeader = serde_json::from_slice(&b64url(h)?).map_err(|_| bad("bad header"))?;
    let claims: JwtClaims = serde_json::from_slice(&b64url(p)?).map_err(|_| bad("bad claims"))?;
    let sig = b64url(s)?;
    let kid = header.kid.ok_or_else(|| bad("no kid in header"))?;
    let stored = tx
        .get(gov_tables::JWT_KEYS, kid.as_bytes())
        .ok_or_else(|| bad(&format!("unknown signing key {kid}")))?;
    let key: JwtKey = serde_json::from_slice(&stored)
        .map_err(|_| ApiError::internal("stored JWT key is invalid"))?;
    let signed = format!("{h}.{p}");
    let field = |v: &Option<String>| -> Result<Vec<u8>, ApiError> {
        b64url(v.as_deref().ok_or_else(|| bad("incomplete key"))?)
    };
    let ok = match (header.alg.as_str(), key.jwk.kty.as_str()) {
        ("RS256", "RSA") => verify_rs256(
            &field(&key.jwk.n)?,
            &field(&key.jwk.e)?,
            signed.as_bytes(),
            &sig,
        )
        .is_ok(),
        (alg @ ("ES256" | "ES384"), "EC") => {
            let mut point = vec![4u8];
            point.extend(field(&key.jwk.x)?);
            point.extend(field(&key.jwk.y)?);
            let a = if alg == "ES256" {
                EcdsaAlg::Es256
            } else {
                EcdsaAlg::Es384
            };
            VerifyingKey::from_point(&point)
                .is_ok_and(|k| k.verify_fixed(a, signed.as_bytes(), &sig).is_ok())
        }
        (alg, _) => return Err(bad(&format!("algorithm {alg} does not match key {kid}"))),
    };
    if !ok {
        return Err(bad("signature is invalid"));
    }
    let issuer = claims.iss.ok_or_else(|| bad("no iss claim"))?;
    if issuer != key.issuer {
        return Err(bad(&format!("issuer {issuer} does not own key {kid}")));
    }
    let t = now();
    if claims.exp.is_none_or(|e| t > e + 60) {
        return Err(bad("token expired (or has no exp)"));
    }
    if claims.nbf.is_some_and(|n| t + 60 < n) {
        return Err(bad("token not yet valid"));
    }
    Ok(Caller::Jwt {
        issuer,
        subject: claims.sub.unwrap_or_default(),
    })
}
