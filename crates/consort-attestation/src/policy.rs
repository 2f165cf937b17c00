//! Whether verified claims are allowed by the service's governance (CCF's join policy).
//!
//! The caller reads the governance tables of the evidence's platform into a [`Policy`]
//! (their names go into the refusals, so an operator knows which table to change).

use std::collections::{BTreeMap, BTreeSet};

use crate::{AttestError, Claims, Product, TcbPolicy};

/// The join policy for one platform.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Allowed measurements (hex), and the table they come from.
    pub measurements: BTreeSet<String>,
    pub measurements_table: String,
    /// Allowed host data (hex).
    pub host_data: BTreeSet<String>,
    pub host_data_table: String,
    /// Minimum TCB per CPUID (CCF's hex CPUID), SEV-SNP only.
    pub min_tcb: BTreeMap<String, TcbPolicy>,
    pub tcb_table: String,
    /// The service accepts hardware evidence only.
    pub require_hardware: bool,
}

/// Check `claims` against `policy`: hardware if required, then measurement, host data
/// and (SEV-SNP) the minimum TCB for the chip.
pub fn check(claims: &Claims, policy: &Policy) -> Result<(), AttestError> {
    if policy.require_hardware && claims.insecure {
        return Err(AttestError::HardwareRequired(claims.format));
    }
    if !policy.measurements.contains(&claims.measurement) {
        return Err(AttestError::MeasurementNotAllowed {
            measurement: claims.measurement.clone(),
            table: policy.measurements_table.clone(),
        });
    }
    if !policy.host_data.contains(&claims.host_data) {
        return Err(AttestError::HostDataNotAllowed {
            host_data: claims.host_data.clone(),
            table: policy.host_data_table.clone(),
        });
    }
    if let Some(reported) = &claims.reported_tcb {
        check_tcb(claims, reported, policy)?;
    }
    Ok(())
}

/// The minimum TCB entries that apply to the claims' chip: the one for its exact CPUID
/// (report version 3 on, as CCF), or, for reports without a CPUID (version 2), every
/// entry of its product.
fn applicable<'a>(claims: &Claims, policy: &'a Policy) -> Vec<(&'a String, &'a TcbPolicy)> {
    match (&claims.cpuid, claims.product) {
        (Some(cpuid), _) => {
            let want = Product::parse_cpuid(cpuid);
            policy
                .min_tcb
                .iter()
                .filter(|(k, _)| want.is_some() && Product::parse_cpuid(k) == want)
                .collect()
        }
        (None, Some(product)) => policy
            .min_tcb
            .iter()
            .filter(|(k, _)| {
                Product::parse_cpuid(k).and_then(|(f, m, _)| Product::from_family_model(f, m))
                    == Some(product)
            })
            .collect(),
        (None, None) => Vec::new(),
    }
}

fn check_tcb(claims: &Claims, reported: &TcbPolicy, policy: &Policy) -> Result<(), AttestError> {
    let chip = claims
        .cpuid
        .clone()
        .or_else(|| claims.product.map(|p| format!("of any {p} chip")))
        .unwrap_or_else(|| "unknown".into());
    let entries = applicable(claims, policy);
    if entries.is_empty() {
        return Err(AttestError::NoMinimumTcb {
            cpuid: chip,
            table: policy.tcb_table.clone(),
        });
    }
    for (cpuid, minimum) in entries {
        if !reported.meets(minimum) {
            return Err(AttestError::TcbTooLow {
                reported: reported.summary(),
                minimum: minimum.summary(),
                cpuid: cpuid.clone(),
                table: policy.tcb_table.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "policy_test.rs"]
mod policy_test;
