//! JWT bearer tokens (RS256, ES256, ES384) signed by a key of a trusted issuer.

use base64::Engine;
use consort_crypto::keys::{verify_rs256, EcdsaAlg, VerifyingKey};
use consort_kv::Tx;
use consort_service::jwt::PUBLIC_SIGNING_KEYS;
use serde::Deserialize;

use crate::api::{ApiError, Caller};

/// Seconds a token's `exp`/`nbf` may be off.
pub const CLOCK_SKEW_SECS: i64 = 60;

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
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

fn bad(m: &str) -> ApiError {
    ApiError::unauthorized(format!("JWT rejected: {m}"))
}

/// Whether `sig` over `signed` is valid under the issuer's key `jwk` for `alg`.
fn signature_ok(
    alg: &str,
    jwk: &consort_service::jwt::Jwk,
    kid: &str,
    signed: &[u8],
    sig: &[u8],
) -> Result<bool, ApiError> {
    let field = |v: &Option<String>| -> Result<Vec<u8>, ApiError> {
        b64url(v.as_deref().ok_or_else(|| bad("incomplete key"))?)
    };
    Ok(match (alg, jwk.kty.as_str()) {
        ("RS256", "RSA") => verify_rs256(&field(&jwk.n)?, &field(&jwk.e)?, signed, sig).is_ok(),
        (alg @ ("ES256" | "ES384"), "EC") => {
            let mut point = vec![4u8];
            point.extend(field(&jwk.x)?);
            point.extend(field(&jwk.y)?);
            let a = if alg == "ES256" {
                EcdsaAlg::Es256
            } else {
                EcdsaAlg::Es384
            };
            VerifyingKey::from_point(&point).is_ok_and(|k| k.verify_fixed(a, signed, sig).is_ok())
        }
        (alg, _) => return Err(bad(&format!("algorithm {alg} does not match key {kid}"))),
    })
}

/// Verify a compact JWS at time `now`: a known key, a valid signature, the key's issuer,
/// an `exp` in the future and no `nbf` in the future.
pub fn verify(tx: &mut Tx, token: &str, now: i64) -> Result<Caller, ApiError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS (header.payload.signature)"));
    };
    let header: Header = serde_json::from_slice(&b64url(h)?).map_err(|_| bad("bad header"))?;
    let claims: Claims = serde_json::from_slice(&b64url(p)?).map_err(|_| bad("bad claims"))?;
    let sig = b64url(s)?;
    let kid = header.kid.ok_or_else(|| bad("no kid in header"))?;
    let key = PUBLIC_SIGNING_KEYS
        .get(tx, &kid)
        .map_err(|_| ApiError::internal("stored JWT key is invalid"))?
        .ok_or_else(|| bad(&format!("unknown signing key {kid}")))?;
    let signed = format!("{h}.{p}");
    if !signature_ok(&header.alg, &key.jwk, &kid, signed.as_bytes(), &sig)? {
        return Err(bad("signature is invalid"));
    }
    let issuer = claims.iss.ok_or_else(|| bad("no iss claim"))?;
    if issuer != key.issuer {
        return Err(bad(&format!("issuer {issuer} does not own key {kid}")));
    }
    if claims.exp.is_none_or(|e| now > e + CLOCK_SKEW_SECS) {
        return Err(bad("token expired (or has no exp)"));
    }
    if claims.nbf.is_some_and(|n| now + CLOCK_SKEW_SECS < n) {
        return Err(bad("token not yet valid"));
    }
    Ok(Caller::Jwt {
        issuer,
        subject: claims.sub.unwrap_or_default(),
    })
}
