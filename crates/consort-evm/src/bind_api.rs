//! The self-service binding endpoints: `GET /app/eth/bind/message` (what to sign),
//! `POST /app/eth/bind` (bind with the signature), `DELETE /app/eth/bind?address=`
//! (unbind one's own), `GET /app/eth/bindings` (the caller's addresses).

use alloy_primitives::Address;
use consort_endpoints::{
    ApiError,
    AuthPolicy::*,
    Ctx,
    Mode::{ReadOnly, ReadWrite},
    Registry, Response,
};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::bindings::{self, BindError};

fn caller_identity(ctx: &mut Ctx<'_>) -> Result<String, ApiError> {
    bindings::identity(ctx.tx, &ctx.req.caller)
        .ok_or_else(|| ApiError::forbidden("Only users and JWT holders bind addresses."))
}

fn address_param(ctx: &Ctx<'_>) -> Result<Address, ApiError> {
    let a: String = ctx.req.query_param("address")?;
    a.parse()
        .map_err(|_| ApiError::invalid_query("address must be a 0x-prefixed 20-byte address"))
}

fn refused(e: BindError) -> ApiError {
    let (status, code) = match e {
        BindError::Taken { .. } => (StatusCode::CONFLICT, "AddressTaken"),
        BindError::NotBound { .. } => (StatusCode::NOT_FOUND, "ResourceNotFound"),
        BindError::Anonymous => (StatusCode::FORBIDDEN, "AuthorizationFailed"),
        BindError::StaleNonce { .. } => (StatusCode::BAD_REQUEST, "StaleNonce"),
        BindError::MalformedSignature | BindError::WrongSigner { .. } => {
            (StatusCode::BAD_REQUEST, "InvalidSignature")
        }
    };
    ApiError::new(status, code, e.to_string())
}

fn message(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let identity = caller_identity(ctx)?;
    let address = address_param(ctx)?;
    let nonce: u64 = ctx.req.query_param("nonce")?;
    Ok(Response::json(&json!({
        "message": bindings::bind_message(&address, &identity, nonce),
        "identity": identity,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindIn {
    address: Address,
    nonce: u64,
    /// 0x-hex, 65 bytes.
    signature: String,
}

fn bind(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let identity = caller_identity(ctx)?;
    let body: BindIn = ctx.req.json()?;
    let sig = hex::decode(body.signature.trim_start_matches("0x"))
        .map_err(|_| refused(BindError::MalformedSignature))?;
    bindings::bind(ctx.tx, &identity, &body.address, body.nonce, &sig).map_err(refused)?;
    Ok(Response::json(&json!({
        "address": format!("{:#x}", body.address),
        "identity": identity,
    })))
}

fn unbind(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let identity = caller_identity(ctx)?;
    let address = address_param(ctx)?;
    bindings::unbind(ctx.tx, &identity, &address).map_err(refused)?;
    Ok(Response::json(&json!({})).with_status(StatusCode::NO_CONTENT))
}

fn list(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let identity = caller_identity(ctx)?;
    let addresses: Vec<String> = bindings::addresses(ctx.tx, &identity)
        .iter()
        .map(|a| format!("{a:#x}"))
        .collect();
    Ok(Response::json(
        &json!({ "identity": identity, "addresses": addresses }),
    ))
}

/// Register the binding endpoints (users and JWT holders).
pub fn register(r: &mut Registry) {
    let who = &[UserCert, Jwt];
    r.add(Method::GET, "/app/eth/bind/message", ReadOnly, who,
        "The message an address's key signs (personal_sign) to bind it to the caller (?address=&nonce=)", message);
    r.add(Method::POST, "/app/eth/bind", ReadWrite, who,
        "Bind an address to the caller: {address, nonce, signature} (EIP-191 over the bind message)", bind);
    r.add(
        Method::DELETE,
        "/app/eth/bind",
        ReadWrite,
        who,
        "Unbind one of the caller's own addresses (?address=)",
        unbind,
    );
    r.add(
        Method::GET,
        "/app/eth/bindings",
        ReadOnly,
        who,
        "The caller's identity and bound addresses",
        list,
    );
}
