//! The join policy: which attested code and hosts may join (CCF's
//! `public:ccf.gov.nodes.{snp,virtual}.*` tables), and the reading of it for
//! [`consort_attestation::policy::check`].

use std::collections::BTreeSet;

use consort_attestation::{policy::Policy, Claims, Format, Product, TcbPolicy};
use consort_kv::{
    typed::{Codec, Json, Map, Raw, Str, SINGLETON_KEY},
    KvError, Source, Tx,
};

use crate::service;

/// What CCF records for an allowed measurement.
pub const ALLOWED_TO_JOIN: &str = "AllowedToJoin";

/// SEV-SNP measurements (hex) allowed to join; value `"AllowedToJoin"`.
pub const SNP_MEASUREMENTS: Map<String, String, Str, Json> =
    Map::new("public:ccf.gov.nodes.snp.measurements");
/// SEV-SNP host data (hex) allowed to join; value: the security policy whose SHA-256 it
/// is (may be empty).
pub const SNP_HOST_DATA: Map<String, String, Str, Json> =
    Map::new("public:ccf.gov.nodes.snp.host_data");
/// Minimum TCB version per CPUID (CCF's hex CPUID).
pub const SNP_TCB_VERSIONS: Map<String, TcbPolicy, Str, Json> =
    Map::new("public:ccf.gov.nodes.snp.tcb_versions");
/// Virtual-platform measurements allowed to join; value `"AllowedToJoin"`.
pub const VIRTUAL_MEASUREMENTS: Map<String, String, Str, Json> =
    Map::new("public:ccf.gov.nodes.virtual.measurements");
/// Virtual-platform host data allowed to join (a set: the value is CCF's eight zero
/// bytes).
pub const VIRTUAL_HOST_DATA: Map<String, Vec<u8>, Str, Raw> =
    Map::new("public:ccf.gov.nodes.virtual.host_data");

/// The service configuration's flag (Consort's, in `public:ccf.gov.service.config`)
/// that refuses evidence from insecure platforms.
pub const REQUIRE_HARDWARE: &str = "require_hardware_attestation";

/// Whether the service accepts hardware evidence only. Anything but an absent value or
/// `false` counts as required (a malformed flag never lets virtual evidence in).
pub fn requires_hardware<S: Source + ?Sized>(src: &mut S) -> Result<bool, KvError> {
    Ok(service::CONFIG.get(src)?.is_some_and(|c| {
        !matches!(
            c.get(REQUIRE_HARDWARE),
            None | Some(serde_json::Value::Bool(false)) | Some(serde_json::Value::Null)
        )
    }))
}

/// The CPUID a version-2 report's minimum TCB is recorded under (such reports carry no
/// CPUID; every entry of the chip's product applies to them): CCF's CPUID of the product.
fn product_cpuid(p: Product) -> &'static str {
    match p {
        Product::Milan => "00a00f11",
        Product::Genoa => "00a10f11",
        Product::Turin => "00b00f21",
    }
}

/// Whether the join policy allows any code on `format`.
pub fn allows_any<S: Source + ?Sized>(src: &mut S, format: Format) -> Result<bool, KvError> {
    Ok(!join_policy(src, format)?.measurements.is_empty())
}

/// The keys of `m` whose value passes `keep`.
fn keys_where<S, V, C>(
    m: &Map<String, V, Str, C>,
    src: &mut S,
    keep: impl Fn(&V) -> bool,
) -> Result<BTreeSet<String>, KvError>
where
    S: Source + ?Sized,
    C: Codec<V>,
{
    Ok(m.entries(src)?
        .into_iter()
        .filter(|(_, v)| keep(v))
        .map(|(k, _)| k)
        .collect())
}

/// The join policy for evidence of `format`.
pub fn join_policy<S: Source + ?Sized>(src: &mut S, format: Format) -> Result<Policy, KvError> {
    let allowed = |status: &String| status == ALLOWED_TO_JOIN;
    let mut p = match format {
        Format::AmdSevSnpV1 => Policy {
            measurements: keys_where(&SNP_MEASUREMENTS, src, allowed)?,
            measurements_table: SNP_MEASUREMENTS.name().to_string(),
            host_data: keys_where(&SNP_HOST_DATA, src, |_| true)?,
            host_data_table: SNP_HOST_DATA.name().to_string(),
            min_tcb: SNP_TCB_VERSIONS.entries(src)?.into_iter().collect(),
            ..Default::default()
        },
        Format::InsecureVirtual => Policy {
            measurements: keys_where(&VIRTUAL_MEASUREMENTS, src, allowed)?,
            measurements_table: VIRTUAL_MEASUREMENTS.name().to_string(),
            host_data: keys_where(&VIRTUAL_HOST_DATA, src, |_| true)?,
            host_data_table: VIRTUAL_HOST_DATA.name().to_string(),
            ..Default::default()
        },
    };
    p.tcb_table = SNP_TCB_VERSIONS.name().to_string();
    p.require_hardware = requires_hardware(src)?;
    Ok(p)
}

/// Allow the code and host of `claims` to join, as the service's genesis does for its
/// first node (and a recovery for the node that recovers): its measurement, its host
/// data (with `security_policy`, SEV-SNP: the caller has checked that its SHA-256 is the
/// host data; an empty one never replaces a recorded one) and, on SEV-SNP, its reported
/// TCB as the minimum for its CPUID (for a version-2 report, its product's CPUID) unless
/// one is set.
pub fn allow(tx: &mut Tx, claims: &Claims, security_policy: &str) -> Result<(), KvError> {
    let allowed = ALLOWED_TO_JOIN.to_string();
    match claims.format {
        Format::AmdSevSnpV1 => {
            SNP_MEASUREMENTS.put(tx, &claims.measurement, &allowed);
            if !security_policy.is_empty() || SNP_HOST_DATA.get(tx, &claims.host_data)?.is_none() {
                SNP_HOST_DATA.put(tx, &claims.host_data, &security_policy.to_string());
            }
            let cpuid = claims
                .cpuid
                .clone()
                .or_else(|| claims.product.map(|p| product_cpuid(p).to_string()));
            if let (Some(cpuid), Some(tcb)) = (cpuid, &claims.reported_tcb) {
                if SNP_TCB_VERSIONS.get(tx, &cpuid)?.is_none() {
                    SNP_TCB_VERSIONS.put(tx, &cpuid, tcb);
                }
            }
        }
        Format::InsecureVirtual => {
            VIRTUAL_MEASUREMENTS.put(tx, &claims.measurement, &allowed);
            VIRTUAL_HOST_DATA.put(tx, &claims.host_data, &SINGLETON_KEY.to_vec());
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "attestation_test.rs"]
mod attestation_test;
