//! `GET /gov/service/join-policy`: which attested code, hosts and TCB versions may join,
//! in CCF's shape (`sgx`, `snp`, `virtual`).

use consort_endpoints::{ApiError, AuthPolicy::NoAuth, Ctx, Mode::ReadOnly, Response};
use consort_service::{attestation as a, nodes};
use http::Method;
use serde_json::{json, Map, Value};

use super::{check_version, GovFrontend, Route};

fn internal(e: consort_kv::KvError) -> ApiError {
    ApiError::internal(e.to_string())
}

fn join_policy(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let allowed = |entries: Vec<(String, String)>| -> Vec<String> {
        entries
            .into_iter()
            .filter(|(_, s)| s == a::ALLOWED_TO_JOIN)
            .map(|(k, _)| k)
            .collect()
    };
    let sgx: Vec<String> = nodes::CODE_IDS
        .entries(ctx.tx)
        .map_err(internal)?
        .into_iter()
        .filter(|(_, s)| s.contains(a::ALLOWED_TO_JOIN))
        .map(|(k, _)| k)
        .collect();
    let snp_host: Map<String, Value> = a::SNP_HOST_DATA
        .entries(ctx.tx)
        .map_err(internal)?
        .into_iter()
        .map(|(k, policy)| (k, json!(policy)))
        .collect();
    let tcb: Map<String, Value> = a::SNP_TCB_VERSIONS
        .entries(ctx.tx)
        .map_err(internal)?
        .into_iter()
        .map(|(k, t)| (k, json!(t)))
        .collect();
    let virtual_host: Vec<String> = a::VIRTUAL_HOST_DATA
        .entries(ctx.tx)
        .map_err(internal)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    Ok(Response::json(&json!({
        "sgx": {"measurements": sgx},
        "snp": {
            "measurements": allowed(a::SNP_MEASUREMENTS.entries(ctx.tx).map_err(internal)?),
            "hostData": snp_host,
            "uvmEndorsements": {},
            "tcbVersions": tcb,
        },
        "virtual": {
            "measurements": allowed(a::VIRTUAL_MEASUREMENTS.entries(ctx.tx).map_err(internal)?),
            "hostData": virtual_host,
        },
        "requireHardwareAttestation": a::requires_hardware(ctx.tx).map_err(internal)?,
    })))
}

pub(super) const ENDPOINTS: &[Route] = &[(
    Method::GET,
    "/gov/service/join-policy",
    ReadOnly,
    &[NoAuth],
    "Which attested code, host data and TCB versions may join",
    join_policy,
)];
