//! Why evidence was refused. Every message names the check that failed.

/// A failed attestation check. None is retryable except [`AttestError::Unavailable`]:
/// evidence that failed once fails again.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("unsupported evidence format {0:?} (known: AMD_SEV_SNP_v1, Insecure_Virtual)")]
    UnsupportedFormat(String),
    #[error("malformed evidence: {0}")]
    Malformed(String),
    /// A SEV-SNP check failed (report, signature, certificate chain, extensions).
    #[error("SEV-SNP: {0}")]
    Snp(#[from] crate::snp::SnpError),
    #[error("report data check failed: the evidence binds {found}, not the node's key (expected {expected})")]
    ReportData { expected: String, found: String },
    #[error("hardware attestation required: the service refuses {0} evidence")]
    HardwareRequired(crate::Format),
    #[error("measurement {measurement} is not in {table}")]
    MeasurementNotAllowed { measurement: String, table: String },
    #[error("host data {host_data} is not in {table}")]
    HostDataNotAllowed { host_data: String, table: String },
    #[error("TCB check failed: no minimum TCB version for CPUID {cpuid} in {table}")]
    NoMinimumTcb { cpuid: String, table: String },
    #[error("TCB check failed: reported TCB {reported} is below the minimum {minimum} for CPUID {cpuid} in {table}")]
    TcbTooLow {
        reported: String,
        minimum: String,
        cpuid: String,
        table: String,
    },
    /// The platform cannot produce evidence now (device missing, endorsements unreadable).
    #[error("attestation unavailable: {0}")]
    Unavailable(String),
}

impl AttestError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AttestError::Unavailable(_))
    }
}
