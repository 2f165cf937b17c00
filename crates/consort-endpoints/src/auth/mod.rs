//! Authentication policies, as in CCF: TLS client certificates ([`cert`]), COSE Sign1
//! signed requests ([`cose`]), JWT bearer tokens whose issuers' keys are in the KV
//! ([`jwt`]), and no authentication.
//!
//! Identities are in the governance tables (`consort_service::identities`, `::jwt`):
//! users and members by the SHA-256 fingerprint of their certificate; JWT signing keys by
//! `kid` with the issuer they belong to. A caller with no acceptable credentials gets 401;
//! a known identity of the wrong kind gets 403.

pub mod cert;
pub mod cose;
pub mod jwt;

use consort_kv::Tx;

use crate::api::{ApiError, Caller, Request};

pub use cose::{ENVELOPE, ENVELOPE_DIGEST};

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
    /// A TLS client certificate whose key is that of a node `Trusted` in
    /// `public:ccf.gov.nodes.info` (node-to-node file transfer: snapshots, ledger chunks).
    NodeCert,
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
            AuthPolicy::NodeCert => Some("node_cert"),
        }
    }
}

/// Seconds since the Unix epoch, from the system clock.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Decide who is calling an endpoint with `policies` at time `now` (Unix seconds), reading
/// identities through `tx`, or refuse. For COSE requests the body is replaced by the
/// verified payload and the signed headers are set.
pub fn authenticate(
    tx: &mut Tx,
    policies: &[AuthPolicy],
    req: &mut Request,
    now: i64,
) -> Result<Caller, ApiError> {
    use AuthPolicy::*;
    if policies.contains(&NoAuth) {
        return Ok(Caller::Anonymous);
    }
    // As in CCF, the request is accepted if any of the endpoint's policies accepts it: a
    // bad bearer token does not make a registered client certificate fail. If none does,
    // the first refusal (in this order) is the answer.
    let mut refused: Option<ApiError> = None;
    let mut refuse = |e: ApiError| {
        refused.get_or_insert(e);
    };
    let is_cose = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/cose"));
    if is_cose && (policies.contains(&UserCose) || policies.contains(&MemberCose)) {
        match cose::authenticate(tx, policies, req, now) {
            Ok(c) => return Ok(c),
            Err(e) => refuse(e),
        }
    }
    if policies.contains(&Jwt) {
        let bearer = req
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")));
        match bearer {
            Some(Some(token)) => match jwt::verify(tx, token.trim(), now) {
                Ok(c) => return Ok(c),
                Err(e) => refuse(e),
            },
            Some(None) => refuse(ApiError::unauthorized(
                "The Authorization header is not of the form `Bearer <JWT>`.",
            )),
            None => {}
        }
    }
    if policies.contains(&UserCert) || policies.contains(&MemberCert) {
        if let Some(c) = &req.client_cert {
            match cert::caller(tx, policies, c, now) {
                Ok(c) => return Ok(c),
                Err(e) => refuse(e),
            }
        }
    }
    if policies.contains(&NodeCert) {
        match &req.client_cert {
            Some(c) => match cert::node(tx, c, now) {
                Ok(c) => return Ok(c),
                Err(e) => refuse(e),
            },
            None => refuse(ApiError::unauthorized(
                "This endpoint is for the service's trusted nodes: present the node's TLS client certificate.",
            )),
        }
    }
    Err(refused.unwrap_or_else(|| {
        ApiError::unauthorized(
            "This endpoint requires authentication: a TLS client certificate of a registered user or member, a COSE Sign1 signed request, or a JWT bearer token; none was presented.",
        )
    }))
}

#[cfg(test)]
#[path = "auth_test.rs"]
mod auth_test;
