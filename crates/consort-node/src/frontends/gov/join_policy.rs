//! `GET /gov/service/join-policy`: which attested code, hosts and TCB versions may join,
//! in CCF's shape (`sgx`, `snp`, `virtual`).

use consort_attestation::Format;
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
    // What the join service checks, read as it reads it; SEV-SNP host data shown with the
    // security policy recorded for each.
    let snp = a::join_policy(ctx.tx, Format::AmdSevSnpV1).map_err(internal)?;
    let virt = a::join_policy(ctx.tx, Format::InsecureVirtual).map_err(internal)?;
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
    Ok(Response::json(&json!({
        "sgx": {"measurements": sgx},
        "snp": {
            "measurements": snp.measurements,
            "hostData": snp_host,
            "uvmEndorsements": {},
            "tcbVersions": snp.min_tcb,
        },
        "virtual": {
            "measurements": virt.measurements,
            "hostData": virt.host_data,
        },
        "requireHardwareAttestation": snp.require_hardware,
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
