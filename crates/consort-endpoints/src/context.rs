//! What a handler gets: [`Ctx`], and the capability traits through which it reaches the
//! rest of the node.

use consort_crypto::{cert::Certificate, Sha256Digest};
use consort_kv::{entry::DecodedEntry, Tx, TxId, Version, View};
use consort_ledger::{journal::TxStatus, Journal, LedgerError, Receipt};

use crate::api::{Caller, Request};

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
}

impl Ctx<'_> {
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
