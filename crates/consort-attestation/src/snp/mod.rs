//! AMD SEV-SNP: reports from `/dev/sev-guest`, verified under AMD's roots.
//!
//! [`verify`] checks, in order, and names the first check that fails:
//! 1. the report parses (size, version 2, 3 or 5, reserved bytes zero, signature
//!    algorithm ECDSA P-384 SHA-384, signed by the VCEK — VLEKs are not supported);
//! 2. the endorsements are three PEM certificates, VCEK, ASK, ARK;
//! 3. the ARK is one of AMD's bundled Milan, Genoa, Turin ARKs (same bytes or same key)
//!    and is self-signed; the ASK is signed by the ARK; the VCEK by the ASK (RSA-PSS,
//!    SHA-384, salt 48); each is valid now;
//! 4. the product (from the report's CPUID, version 3 on; the VCEK's productName) is the
//!    product of the ARK;
//! 5. the report is signed by the VCEK's key (ECDSA P-384 SHA-384 over bytes 0..0x2A0);
//! 6. the VCEK's TCB extensions equal the report's reported TCB;
//! 7. the guest: the report was requested at VMPL 0 (reports above VMPL 3 are made by the
//!    host, which chooses their report data), the chip id is not masked, and the guest
//!    policy allows neither debugging nor a migration agent;
//! 8. the VCEK's hwID equals the report's chip id.

pub mod certs;
pub mod device;
pub mod report;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};

pub use certs::{pem_certificates, Endorsements, BUNDLED_ARKS};
pub use device::SnpPlatform;
pub use report::Report;

use crate::{Claims, Format, GuestPolicy, Product, TcbPolicy};
use certs::{parse_cert, Cert};

/// A failed SEV-SNP check. Each message starts with the name of the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnpError {
    #[error("report parse failed: {0}")]
    Parse(String),
    #[error("unsupported report version {0} (supported: 2, 3, 5)")]
    UnsupportedVersion(u32),
    #[error("signature algorithm check failed: the report says algorithm {0}, only 1 (ECDSA P-384 SHA-384) is defined")]
    SignatureAlgorithm(u32),
    #[error("signing key check failed: the report is signed by {}, only VCEK-signed reports are supported", signing_key_name(*.0))]
    SigningKey(u32),
    #[error("endorsements parse failed: {0}")]
    Endorsements(String),
    #[error("ARK check failed: {0}")]
    Ark(String),
    #[error("VCEK chain check failed: {0}")]
    Chain(String),
    #[error("certificate validity check failed: {0}")]
    Validity(String),
    #[error("product check failed: {0}")]
    Product(String),
    #[error("report signature check failed: the report is not signed by the VCEK")]
    ReportSignature,
    #[error("VCEK TCB check failed: {0}")]
    Tcb(String),
    #[error("VCEK hardware id check failed: {0}")]
    HwId(String),
    #[error("guest policy check failed: {0}")]
    Policy(String),
    #[error("VMPL check failed: the report was requested at VMPL {0}, only VMPL 0 (the guest's own kernel) is accepted; reports above VMPL 3 are made by the host")]
    Vmpl(u32),
}

fn signing_key_name(k: u32) -> String {
    match k {
        1 => "a VLEK (signing_key 1)".into(),
        7 => "no key (signing_key 7)".into(),
        other => format!("an unknown key (signing_key {other})"),
    }
}

/// CCF's endorsements from a VCEK (DER or PEM) and its ASK/ARK chain (PEM).
pub fn endorsements_from(vcek_der_or_pem: &[u8], chain_pem: &[u8]) -> Vec<u8> {
    let mut out = if vcek_der_or_pem
        .trim_ascii_start()
        .starts_with(b"-----BEGIN")
    {
        vcek_der_or_pem.to_vec()
    } else {
        pem::encode(&pem::Pem::new("CERTIFICATE", vcek_der_or_pem.to_vec())).into_bytes()
    };
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(chain_pem);
    out
}

/// Verify a raw report against its endorsements (PEM: VCEK, ASK, ARK) now.
pub fn verify(report: &[u8], endorsements: &[u8]) -> Result<Claims, SnpError> {
    verify_at(report, endorsements, certs::now())
}

/// [`verify`] at `now` (seconds since the Unix epoch) for the validity periods.
pub fn verify_at(report_bytes: &[u8], endorsements: &[u8], now: i64) -> Result<Claims, SnpError> {
    let report = Report::parse(report_bytes)?;
    let e = Endorsements::parse(endorsements)?;
    let ark = parse_cert("ARK", &e.ark)?;
    let ask = parse_cert("ASK", &e.ask)?;
    let vcek = parse_cert("VCEK", &e.vcek)?;
    let ark_product = certs::bundled_product(&ark, &e.ark)?;
    certs::check_rsa_pss(&ark, &ark)?;
    certs::check_rsa_pss(&ask, &ark)?;
    certs::check_rsa_pss(&vcek, &ask)?;
    for c in [&ark, &ask, &vcek] {
        certs::check_validity(c, now)?;
    }
    let product = check_product(&report, &vcek, ark_product)?;
    check_signature(report_bytes, &report, &vcek)?;
    let tcb = TcbPolicy::from_raw(report.reported_tcb, product);
    certs::check_tcb(&vcek, &tcb)?;
    let policy = check_guest(&report)?;
    certs::check_hw_id(&vcek, &report.chip_id)?;
    Ok(claims_of(&report, product, tcb, policy))
}

/// The product of the report: the ARK's, which must agree with the report's CPUID
/// (version 3 on) and the VCEK's productName.
fn check_product(report: &Report, vcek: &Cert<'_>, ark: Product) -> Result<Product, SnpError> {
    if let Some(c) = report.cpuid {
        let Some(cpu) = Product::from_family_model(c.family, c.model) else {
            return Err(SnpError::Product(format!(
                "CPUID family 0x{:x} model 0x{:x} is not a Milan, Genoa or Turin chip",
                c.family, c.model
            )));
        };
        if cpu != ark {
            return Err(SnpError::Ark(format!(
                "the chain is rooted in AMD's {ark} ARK, the report is from a {cpu} chip"
            )));
        }
    }
    if let Some(named) = certs::vcek_product(vcek) {
        if named != ark {
            return Err(SnpError::Chain(format!(
                "the VCEK is for {named} chips, its chain is rooted in AMD's {ark} ARK"
            )));
        }
    }
    Ok(ark)
}

/// Check the report's ECDSA P-384 SHA-384 signature over its first 0x2A0 bytes.
fn check_signature(bytes: &[u8], report: &Report, vcek: &Cert<'_>) -> Result<(), SnpError> {
    let signed = bytes
        .get(..report::SIGNED_LEN)
        .ok_or(SnpError::ReportSignature)?;
    UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, certs::vcek_public_key(vcek))
        .verify(signed, &report.signature_fixed())
        .map_err(|_| SnpError::ReportSignature)
}

/// The guest: its own report (VMPL 0), its chip named (not masked), and a guest policy
/// that lets neither a debugger (the host could read the guest) nor a migration agent
/// (the guest, with the secrets it holds, could be copied elsewhere) in.
pub fn check_guest(report: &Report) -> Result<GuestPolicy, SnpError> {
    if report.vmpl != 0 {
        return Err(SnpError::Vmpl(report.vmpl));
    }
    if report.mask_chip_key() {
        return Err(SnpError::HwId(
            "the guest masked its chip id, so the report cannot be tied to the VCEK".into(),
        ));
    }
    let policy = GuestPolicy::from_raw(report.policy);
    if policy.debug_allowed {
        return Err(SnpError::Policy(
            "debugging is allowed (guest policy bit 19)".into(),
        ));
    }
    if policy.migrate_ma_allowed {
        return Err(SnpError::Policy(
            "a migration agent is allowed (guest policy bit 18)".into(),
        ));
    }
    Ok(policy)
}

fn claims_of(report: &Report, product: Product, tcb: TcbPolicy, policy: GuestPolicy) -> Claims {
    let chip_id = report
        .chip_id
        .iter()
        .any(|&b| b != 0)
        .then(|| hex::encode(report.chip_id));
    Claims {
        format: Format::AmdSevSnpV1,
        insecure: false,
        measurement: hex::encode(report.measurement),
        host_data: hex::encode(report.host_data),
        report_data: hex::encode(report.report_data),
        policy: Some(policy),
        reported_tcb: Some(tcb),
        cpuid: report.cpuid.map(report::Cpuid::to_hex),
        product: Some(product),
        chip_id,
        report_version: Some(report.version),
    }
}

#[cfg(test)]
#[path = "mod_test.rs"]
mod mod_test;
