//! What a handler gets: [`Ctx`], and the capability traits through which it reaches the
//! rest of the node.

use consort_crypto::{cert::Certificate, Sha256Digest};
use std::time::Duration;

use consort_kv::{entry::DecodedEntry, CommitOutcome, Tx, TxId, Version, View};
use consort_ledger::{journal::TxStatus, Journal, LedgerError, Receipt};

use crate::api::{ApiError, Caller, Request};

/// Read access to this node's ledger: historical entries, receipts, the commit point.
pub trait LedgerView: Send + Sync {
    /// The last committed transaction.
    fn committed(&self) -> TxId;
    /// The last transaction appended (committed or not).
    fn last_txid(&self) -> TxId;
    /// The first seqno this node holds (after the snapshot it started from, if any).
    fn first_seqno(&self) -> Version;
    /// Seqno of the last signature transaction.
    fn last_signature(&self) -> Option<Version>;
    /// CCF's status of a transaction id.
    fn tx_status(&self, txid: TxId) -> TxStatus;
    /// The view transaction `seqno` was written in.
    fn view_of(&self, seqno: Version) -> Option<View>;
    /// The current Merkle root.
    fn merkle_root(&self) -> Sha256Digest;
    /// The decoded (and decrypted) entry at `seqno`.
    fn entry(&self, seqno: Version) -> Result<DecodedEntry, LedgerError>;
    /// A receipt for committed transaction `seqno`.
    fn receipt(&self, seqno: Version) -> Result<Receipt, LedgerError>;
    /// The Merkle leaves of `from..=to` (`None` where this node has none).
    fn leaves(&self, from: Version, to: Version) -> Vec<Option<Sha256Digest>>;
}

impl LedgerView for Journal {
    fn committed(&self) -> TxId {
        Journal::committed(self)
    }
    fn last_txid(&self) -> TxId {
        Journal::last_txid(self)
    }
    fn first_seqno(&self) -> Version {
        Journal::first_seqno(self)
    }
    fn last_signature(&self) -> Option<Version> {
        Journal::last_signature(self)
    }
    fn tx_status(&self, txid: TxId) -> TxStatus {
        Journal::tx_status(self, txid)
    }
    fn view_of(&self, seqno: Version) -> Option<View> {
        Journal::view_of(self, seqno)
    }
    fn merkle_root(&self) -> Sha256Digest {
        Journal::merkle_root(self)
    }
    fn entry(&self, seqno: Version) -> Result<DecodedEntry, LedgerError> {
        Journal::decode_entry(self, seqno)
    }
    fn receipt(&self, seqno: Version) -> Result<Receipt, LedgerError> {
        Journal::receipt(self, seqno)
    }
    fn leaves(&self, from: Version, to: Version) -> Vec<Option<Sha256Digest>> {
        Journal::leaves(self, from, to)
    }
}

/// A governance effect that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The request is wrong for the service's state or inputs (a 4xx): `code` is CCF's
    /// error code.
    #[error("{message}")]
    Refused {
        code: &'static str,
        message: String,
        status: u16,
    },
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("{0}")]
    Internal(String),
}

impl EffectError {
    /// A refusal with HTTP status 400 and `code`.
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
            status: 400,
        }
    }

    /// A refusal with HTTP status 403 and `code`.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
            status: 403,
        }
    }
}

/// A recovery share accepted: how many are in, and how many are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareProgress {
    pub submitted: usize,
    pub threshold: usize,
    /// The threshold was reached in this transaction: the private ledger is being
    /// recovered.
    pub recovery_initiated: bool,
}

/// What governance may ask of the node, in the transaction that applies a proposal (or
/// takes a member's acknowledgement or recovery share).
pub trait GovEffects: Send + Sync {
    /// Rotate the ledger secret in `tx` (CCF's `trigger_ledger_rekey`), with recovery
    /// shares for the new secret.
    fn rekey_ledger(&self, tx: &mut Tx) -> Result<(), EffectError>;
    /// Issue fresh recovery shares: always when `forced` (CCF's
    /// `trigger_recovery_shares_refresh`), otherwise only if the recovery members or the
    /// threshold changed. Nothing happens unless the service is open.
    fn refresh_recovery_shares(&self, tx: &mut Tx, forced: bool) -> Result<(), EffectError>;
    /// CCF's `transition_service_to_open`: open a new service, or move a recovering one to
    /// `WaitingForRecoveryShares` (PEM identities, checked against the service's).
    fn open_service(
        &self,
        tx: &mut Tx,
        previous_identity: Option<&str>,
        next_identity: Option<&str>,
    ) -> Result<(), EffectError>;
    /// Take `member`'s decrypted recovery share; at the threshold, start recovering the
    /// private ledger.
    fn submit_recovery_share(
        &self,
        tx: &mut Tx,
        member: &str,
        share: &[u8],
    ) -> Result<ShareProgress, EffectError>;
}

/// A bare journal (tests and tools): rekeys and opens a new service; has no recovery.
impl GovEffects for Journal {
    fn rekey_ledger(&self, tx: &mut Tx) -> Result<(), EffectError> {
        self.rekey(tx)?;
        Ok(())
    }
    fn refresh_recovery_shares(&self, _: &mut Tx, _: bool) -> Result<(), EffectError> {
        Ok(())
    }
    fn open_service(
        &self,
        tx: &mut Tx,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<(), EffectError> {
        consort_service::genesis::set_service_status(
            tx,
            consort_service::service::ServiceStatus::Open,
        )
        .map_err(|e| EffectError::Internal(e.to_string()))
    }
    fn submit_recovery_share(
        &self,
        _: &mut Tx,
        _: &str,
        _: &[u8],
    ) -> Result<ShareProgress, EffectError> {
        Err(EffectError::Unsupported(
            "this host does not recover services",
        ))
    }
}

/// This node's identity.
pub trait NodeView: Send + Sync {
    /// Hex SHA-256 of the node's DER public key.
    fn node_id(&self) -> &str;
    /// The service identity certificate.
    fn service_cert(&self) -> &Certificate;
}

/// What a handler gets.
pub struct Ctx<'a> {
    /// The handler's transaction (committed by the framework for read-write endpoints
    /// whose response is a success).
    pub tx: &'a mut Tx,
    pub req: &'a Request,
    pub ledger: &'a dyn LedgerView,
    pub gov: &'a dyn GovEffects,
    pub node: &'a dyn NodeView,
    /// The host itself, for a handler that commits transactions of its own (an
    /// application's ordered lane); most handlers only use `tx`.
    pub host: &'a dyn Host,
}

impl<'a> Ctx<'a> {
    /// The context of `req` on `tx`, reaching the rest of the node through `host`.
    pub fn new(host: &'a dyn Host, req: &'a Request, tx: &'a mut Tx) -> Self {
        Ctx {
            tx,
            req,
            ledger: host.ledger(),
            gov: host.gov(),
            node: host.node(),
            host,
        }
    }

    /// Who is calling (authenticated by the endpoint's policies).
    pub fn caller(&self) -> &Caller {
        &self.req.caller
    }
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("req", &self.req.path)
            .field("caller", &self.req.caller)
            .finish_non_exhaustive()
    }
}

/// Why the host did not commit a transaction.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// A key or range the transaction read changed since: re-execute (retryable).
    #[error("transaction conflict")]
    Conflict,
    /// This node is not (or no longer) the primary (retryable elsewhere).
    #[error("this node is not the primary")]
    NotPrimary,
    /// The host refuses the transaction as it stands (e.g. a membership change too large):
    /// the caller gets this error.
    #[error("{0}")]
    Refused(ApiError),
    /// The node cannot go on (its state may no longer match its files); it is stopping.
    #[error("fatal: {0}")]
    Fatal(String),
}

impl SubmitError {
    /// Whether trying again (here or on the primary) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict | Self::NotPrimary)
    }

    /// What the caller is told when its transaction could not be committed (a conflict:
    /// once the committer has stopped re-executing it).
    pub fn into_api_error(self) -> ApiError {
        match self {
            Self::Conflict => ApiError::unavailable(
                "TransactionCommitAttemptsExceedLimit",
                "The transaction kept conflicting; try again.",
            ),
            Self::NotPrimary => {
                ApiError::unavailable("NotPrimary", "This node stopped being the primary; retry.")
            }
            Self::Refused(e) => e,
            Self::Fatal(e) => {
                tracing::error!("commit failed: {e}");
                ApiError::internal("The transaction could not be committed.")
            }
        }
    }
}

/// What the framework needs from the node to run handlers.
pub trait Host: Send + Sync {
    /// A transaction on the current state.
    fn begin(&self) -> Tx;
    /// A transaction on the state as of `version`, while the store keeps it (a window of
    /// past versions); for reads at a past point.
    fn begin_at(&self, version: Version) -> Result<Tx, consort_kv::KvError>;
    /// Commit `tx` and replicate it.
    fn submit(&self, tx: Tx) -> Result<CommitOutcome, SubmitError>;
    fn ledger(&self) -> &dyn LedgerView;
    fn gov(&self) -> &dyn GovEffects;
    fn node(&self) -> &dyn NodeView;
    /// A transaction conflicted and is re-executed (metrics).
    fn on_conflict(&self) {}
    /// A transaction committed after `elapsed` in `submit` (metrics).
    fn on_committed(&self, elapsed: Duration) {
        let _ = elapsed;
    }
}
