//! This node's own attestation: its platform, its evidence (bound to its key), and what
//! a node records of it.

use consort_attestation::{
    report_data_for_key, snp::SnpPlatform, verify, virt::VirtualPlatform, Claims, Evidence,
    Platform,
};
use consort_service::nodes::{NodeInfo, QuoteInfo};

use super::{config, read_text, NodeConfig};
use crate::NodeError;

/// The platform `config` names.
pub(crate) fn platform(config: &NodeConfig) -> Result<Box<dyn Platform>, NodeError> {
    let a = &config.attestation;
    Ok(match a.platform {
        config::Platform::Virtual => Box::new(VirtualPlatform::of_this_process(
            a.security_policy_file.as_deref(),
        )?),
        config::Platform::SevSnp => {
            let f = a.snp_endorsements_file.clone().ok_or_else(|| {
                NodeError::Config(
                    "attestation.platform sev-snp needs attestation.snp_endorsements_file (the VCEK, ASK and ARK the host provides)".into(),
                )
            })?;
            Box::new(SnpPlatform::new(f))
        }
    })
}

/// This node's attestation: its evidence, what that proves, and the security policy it
/// runs under (empty without one).
pub(crate) struct Own {
    pub(crate) evidence: Evidence,
    pub(crate) claims: Claims,
    pub(crate) security_policy: String,
}

/// This node's evidence over its DER public key, checked as a verifier would check it
/// (a misconfigured platform fails here, at start, not at the service).
pub(crate) fn own_evidence(config: &NodeConfig, public_key_der: &[u8]) -> Result<Own, NodeError> {
    let p = platform(config)?;
    let rd = report_data_for_key(public_key_der);
    let evidence = p.quote(&rd)?;
    let claims = verify(&evidence, &rd)?;
    // The host set the host data at launch: a policy file must be the one it names.
    let policy = security_policy(config)?;
    let digest = consort_crypto::sha256(policy.as_bytes()).to_hex();
    if !policy.is_empty() && digest != claims.host_data {
        return Err(NodeError::Config(format!(
            "attestation.security_policy_file has SHA-256 {digest}, but this node's host data is {}",
            claims.host_data
        )));
    }
    let insecure = if claims.insecure {
        " (insecure: virtual platform, proves nothing)"
    } else {
        ""
    };
    tracing::info!(
        "attestation: {} measurement {} host data {}{insecure}",
        evidence.format.as_str(),
        claims.measurement,
        claims.host_data
    );
    Ok(Own {
        evidence,
        claims,
        security_policy: policy,
    })
}

/// The security policy file's text (empty without one).
fn security_policy(config: &NodeConfig) -> Result<String, NodeError> {
    config
        .attestation
        .security_policy_file
        .as_deref()
        .map(read_text)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The evidence as CCF's `QuoteInfo`.
pub(crate) fn quote_info(e: &Evidence) -> QuoteInfo {
    QuoteInfo {
        format: e.format.as_str().to_string(),
        quote: e.quote_b64(),
        endorsements: e.endorsements_b64(),
    }
}

/// Record verified evidence in a node's record.
pub(crate) fn record(info: &mut NodeInfo, e: &Evidence, claims: &Claims) {
    info.quote_info = quote_info(e);
    info.code_digest = Some(claims.measurement.clone());
}

/// The evidence in CCF's `QuoteInfo` (a join request's, a node record's).
pub(crate) fn evidence_of(q: &QuoteInfo) -> Result<Evidence, consort_attestation::AttestError> {
    Evidence::from_parts(&q.format, &q.quote, &q.endorsements)
}
