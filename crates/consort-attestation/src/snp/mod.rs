//! AMD SEV-SNP: reports from `/dev/sev-guest`, verified under AMD's roots.

use crate::{AttestError, Claims, Evidence, Format, Platform, ReportData};

/// A failed SEV-SNP check.
#[derive(Debug, thiserror::Error)]
pub enum SnpError {
    #[error("not yet implemented: {0}")]
    Unimplemented(&'static str),
}

/// Verify a raw report against its endorsements (PEM: VCEK, ASK, ARK).
pub fn verify(_report: &[u8], _endorsements: &[u8]) -> Result<Claims, SnpError> {
    Err(SnpError::Unimplemented("SEV-SNP verification"))
}

/// The SEV-SNP platform of this guest.
#[derive(Debug)]
pub struct SnpPlatform {
    #[allow(dead_code)]
    endorsements_file: std::path::PathBuf,
}

impl SnpPlatform {
    /// The platform of this guest, with the endorsements its host provides.
    pub fn new(endorsements_file: std::path::PathBuf) -> Self {
        Self { endorsements_file }
    }
}

impl Platform for SnpPlatform {
    fn format(&self) -> Format {
        Format::AmdSevSnpV1
    }
    fn quote(&self, _report_data: &ReportData) -> Result<Evidence, AttestError> {
        Err(AttestError::Unavailable(
            "SEV-SNP quoting is not built yet".into(),
        ))
    }
}
