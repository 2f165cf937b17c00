//! CCF's recovery-share API: members fetch their encrypted share, and (during a recovery)
//! submit it decrypted, in a COSE Sign1 envelope of `ccf.gov.msg.type` `recovery_share`.
//! Both the 2024-07-01 paths and CCF's classic ones (`/gov/encrypted_recovery_share`,
//! `/gov/recovery_share`) are served, so CCF's `submit_recovery_share.sh` works either way.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use consort_endpoints::{
    ApiError,
    AuthPolicy::{MemberCose, NoAuth},
    Ctx,
    Mode::{ReadOnly, ReadWrite},
    Response,
};
use consort_service::{identities, recovery as tables};
use http::{Method, StatusCode};
use serde_json::json;

use super::{check_version, effect_error, signed_member, GovFrontend, Route};

fn member_id_param(ctx: &Ctx<'_>, name: &str) -> Result<String, ApiError> {
    let id = ctx.req.params[name].clone();
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "InvalidResourceName",
            format!("'{id}' is not a valid hex-encoded member ID"),
        ));
    }
    Ok(id.to_ascii_lowercase())
}

fn encrypted_share(ctx: &mut Ctx<'_>, id: &str) -> Result<String, ApiError> {
    let info = tables::RECOVERY_SHARES
        .get(ctx.tx)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    info.and_then(|i| i.encrypted_shares.get(id).cloned())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!("Recovery share not found for member m[{id}]."),
            )
        })
}

/// A member's recovery share, encrypted to its encryption key
fn get_encrypted_share(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let id = member_id_param(ctx, "memberId")?;
    let share = encrypted_share(ctx, &id)?;
    Ok(Response::json(
        &json!({"memberId": id, "encryptedShare": share}),
    ))
}

/// A member's recovery share, encrypted (CCF's classic path)
fn get_encrypted_share_classic(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    let id = member_id_param(ctx, "member_id")?;
    let share = encrypted_share(ctx, &id)?;
    Ok(Response::json(&json!({"encrypted_share": share})))
}

/// Check, record and (at the threshold) act on a submitted share: the reply's fields.
fn take_share(ctx: &mut Ctx<'_>) -> Result<(String, serde_json::Value), ApiError> {
    let member = signed_member(ctx, "recovery_share", None)?;
    let active = identities::MEMBERS_INFO
        .get(ctx.tx, &member)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .is_some_and(|m| m.status == "Active");
    if !active {
        return Err(ApiError::forbidden(format!(
            "Member m[{member}] is not active: only active members submit recovery shares."
        )));
    }
    let body: serde_json::Value = ctx.req.json()?;
    let share = body
        .get("share")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ApiError::invalid_input("The body must be {\"share\": <base64>}."))?;
    let share = zeroize::Zeroizing::new(
        B64.decode(share.trim())
            .map_err(|_| ApiError::invalid_input("The share is not base64."))?,
    );
    let p = ctx
        .gov
        .submit_recovery_share(ctx.tx, &member, &share)
        .map_err(effect_error)?;
    let mut message = format!(
        "{}/{} recovery shares successfully submitted",
        p.submitted, p.threshold
    );
    if p.recovery_initiated {
        message.push_str("\nEnd of recovery procedure initiated");
    }
    tracing::info!(
        member = %member,
        "recovery share {}/{} submitted",
        p.submitted,
        p.threshold
    );
    Ok((
        member,
        json!({
            "message": message,
            "submittedCount": p.submitted,
            "recoveryThreshold": p.threshold,
            "fullKeySubmitted": false,
        }),
    ))
}

/// Submit a recovery share (COSE Sign1, ccf.gov.msg.type = recovery_share)
fn submit_share(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let id = member_id_param(ctx, "memberId")?;
    let (member, reply) = take_share(ctx)?;
    if member != id {
        return Err(ApiError::bad_request(
            "InvalidAuthenticationInfo",
            format!(
                "Member ID from path parameter ({id}) does not match member ID from body signature ({member})."
            ),
        ));
    }
    Ok(Response::json(&reply))
}

/// Submit a recovery share (CCF's classic path)
fn submit_share_classic(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    let (_, reply) = take_share(ctx)?;
    Ok(Response::json(&json!({"message": reply["message"]})))
}

pub(super) const ENDPOINTS: &[Route] = &[
    (
        Method::GET,
        "/gov/recovery/encrypted-shares/{memberId}",
        ReadOnly,
        &[NoAuth],
        "A member's recovery share, encrypted to its encryption key",
        get_encrypted_share,
    ),
    (
        Method::POST,
        "/gov/recovery/members/{memberId}:recover",
        ReadWrite,
        &[MemberCose],
        "Submit a decrypted recovery share (COSE Sign1, ccf.gov.msg.type = recovery_share)",
        submit_share,
    ),
    (
        Method::GET,
        "/gov/encrypted_recovery_share/{member_id}",
        ReadOnly,
        &[NoAuth],
        "A member's recovery share, encrypted (CCF's classic path)",
        get_encrypted_share_classic,
    ),
    (
        Method::POST,
        "/gov/recovery_share",
        ReadWrite,
        &[MemberCose],
        "Submit a decrypted recovery share (CCF's classic path)",
        submit_share_classic,
    ),
];
