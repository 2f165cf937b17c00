use consort_crypto::CryptoError;
use consort_kv::KvError;

/// Why a recovery step was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("there is no active recovery member (an active member with an encryption key) to issue recovery shares to")]
    NoRecoveryMembers,
    #[error(
        "the recovery threshold {threshold} is more than the {members} active recovery members"
    )]
    ThresholdTooHigh { threshold: usize, members: usize },
    #[error("member {0} is not a recovery member: it holds no recovery share")]
    NotRecoveryMember(String),
    #[error("member {0} has already submitted its recovery share")]
    AlreadySubmitted(String),
    #[error("the recovery share is malformed: {0}")]
    MalformedShare(String),
    #[error(
        "the recovery share does not match the one issued to member {0} (wrong or forged share)"
    )]
    WrongShare(String),
    #[error(
        "only {submitted} recovery shares were submitted but the recovery threshold is {threshold}"
    )]
    TooFewShares { submitted: usize, threshold: usize },
    #[error("this ledger holds no recovery shares: it cannot be recovered")]
    NoShares,
    #[error("the recovery shares do not unwrap the latest ledger secret: {0}")]
    Unwrap(String),
    #[error("the chain of previous ledger secrets is broken: {0}")]
    Chain(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Kv(#[from] KvError),
}

impl RecoveryError {
    /// Whether the caller's input is at fault (a refusal), not the service's state.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::NotRecoveryMember(_)
                | Self::AlreadySubmitted(_)
                | Self::MalformedShare(_)
                | Self::WrongShare(_)
                | Self::ThresholdTooHigh { .. }
                | Self::NoRecoveryMembers
        )
    }
}
