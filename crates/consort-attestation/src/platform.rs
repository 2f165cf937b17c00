//! Platforms produce evidence; [`verify`] checks any of them.

use crate::{snp, virt, AttestError, Claims, Evidence, Format};

/// The 64 bytes a report binds: they start with the SHA-256 of the node's DER public
/// key (as CCF binds it), the rest is zero.
pub type ReportData = [u8; 64];

/// The report data binding `public_key_der`.
pub fn report_data_for_key(public_key_der: &[u8]) -> ReportData {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_key_der);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(digest.as_ref());
    out
}

/// Where a node's evidence comes from. Implementations: [`virt::VirtualPlatform`],
/// [`snp::SnpPlatform`].
pub trait Platform: Send + Sync + std::fmt::Debug {
    /// The format of the evidence this platform produces.
    fn format(&self) -> Format;
    /// Evidence binding `report_data`, with what endorses it.
    fn quote(&self, report_data: &ReportData) -> Result<Evidence, AttestError>;
}

/// Verify `evidence` on its own (signatures, certificate chain, well-formedness) and that
/// it binds `expected` report data; return what it proves. Whether the claims are
/// allowed is [`crate::policy::check`]'s job.
pub fn verify(evidence: &Evidence, expected: &ReportData) -> Result<Claims, AttestError> {
    let claims = verify_unbound(evidence)?;
    let expected_hex = hex::encode(expected);
    if claims.report_data != expected_hex {
        return Err(AttestError::ReportData {
            expected: expected_hex,
            found: claims.report_data,
        });
    }
    Ok(claims)
}

/// Verify `evidence` on its own, whatever report data it binds (offline inspection, as
/// `consort attest verify` does).
pub fn verify_unbound(evidence: &Evidence) -> Result<Claims, AttestError> {
    match evidence.format {
        Format::InsecureVirtual => virt::verify(&evidence.quote),
        Format::AmdSevSnpV1 => Ok(snp::verify(&evidence.quote, &evidence.endorsements)?),
    }
}
