//! Trusted JWT issuers and their signing keys.

use consort_kv::typed::{Json, Map, Str};
use serde::{Deserialize, Serialize};

/// Trusted issuers, by issuer URL.
pub const ISSUERS: Map<String, IssuerInfo, Str, Json> = Map::new("public:ccf.gov.jwt.issuers");
/// Signing keys, by `kid`, with the issuer they belong to.
pub const PUBLIC_SIGNING_KEYS: Map<String, JwtKey, Str, Json> =
    Map::new("public:ccf.gov.jwt.public_signing_keys");

/// An issuer's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerInfo {
    pub issuer: String,
}

/// A signing key of a JWT issuer, as stored in [`PUBLIC_SIGNING_KEYS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtKey {
    pub issuer: String,
    pub jwk: Jwk,
}

/// A JSON Web Key (RSA or EC P-256/P-384).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
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
