//! What governance asks of the node for recovery: shares on open, rekey and member
//! changes; opening (or, recovering, waiting for shares); taking members' shares and, at
//! the threshold, unlocking the old ledger secrets (CCF's `ShareManager` and
//! `transition_service_to_open`).

use std::sync::Arc;

use consort_crypto::cert::Certificate;
use consort_endpoints::{EffectError, GovEffects, ShareProgress};
use consort_kv::{Tx, Version};
use consort_ledger::Journal;
use consort_recovery::{chain, shares, submit, RecoveryError};
use consort_service::{
    recovery as tables,
    service::{self, ServiceInfo, ServiceStatus},
    SINGLETON_KEY,
};

/// The node's [`GovEffects`]: over its journal.
#[derive(Debug)]
pub(crate) struct NodeEffects {
    pub(crate) journal: Arc<Journal>,
}

fn internal(e: impl std::fmt::Display) -> EffectError {
    EffectError::Internal(e.to_string())
}

fn refusal(e: RecoveryError) -> EffectError {
    match e {
        e @ RecoveryError::NotRecoveryMember(_) => {
            EffectError::forbidden("AuthorizationFailed", e.to_string())
        }
        e @ RecoveryError::AlreadySubmitted(_) => {
            EffectError::refused("RecoveryShareAlreadySubmitted", e.to_string())
        }
        e @ (RecoveryError::WrongShare(_) | RecoveryError::MalformedShare(_)) => {
            EffectError::refused("InvalidRecoveryShare", e.to_string())
        }
        e @ (RecoveryError::ThresholdTooHigh { .. } | RecoveryError::NoRecoveryMembers) => {
            EffectError::refused("InvalidRecoveryThreshold", e.to_string())
        }
        e @ RecoveryError::NoShares => EffectError::refused("NoRecoveryShares", e.to_string()),
        e => internal(e),
    }
}

pub(crate) fn service_info(tx: &mut Tx) -> Result<ServiceInfo, EffectError> {
    service::INFO
        .get(tx)
        .map_err(internal)?
        .ok_or_else(|| internal("no service record"))
}

/// Issue shares for `latest`; a service with too few active recovery members is left
/// without fresh shares (logged) unless `strict`.
fn issue(tx: &mut Tx, latest: &consort_kv::LedgerSecret, strict: bool) -> Result<(), EffectError> {
    if strict {
        shares::issue(tx, latest).map_err(refusal)?;
    } else {
        shares::issue_if_possible(tx, latest).map_err(refusal)?;
    }
    Ok(())
}

fn same_cert(a: &str, b: &str) -> bool {
    match (Certificate::from_pem(a), Certificate::from_pem(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Open a new service (`Opening` → `Open`): see `consort_recovery::shares::open_service`.
fn open_new_service(journal: &Journal, tx: &mut Tx) -> Result<(), EffectError> {
    let (from, latest) = journal.latest_secret()?;
    shares::open_service(tx, from, &latest).map_err(refusal)
}

impl NodeEffects {
    /// The seqno private state is missing below, while the node recovers.
    fn recovering_from(&self) -> Option<Version> {
        self.journal.private_missing_below()
    }
}

impl GovEffects for NodeEffects {
    fn rekey_ledger(&self, tx: &mut Tx) -> Result<(), EffectError> {
        if service_info(tx)?.status != ServiceStatus::Open {
            return Err(EffectError::forbidden(
                "ServiceNotOpen",
                "The ledger is rekeyed only while the service is open.",
            ));
        }
        let r = self.journal.rekey(tx)?;
        chain::record_change(tx, &r.next, &r.previous, r.previous_from, None).map_err(internal)?;
        issue(tx, &r.next, false)
    }

    fn refresh_recovery_shares(&self, tx: &mut Tx, forced: bool) -> Result<(), EffectError> {
        if service_info(tx)?.status != ServiceStatus::Open {
            return if forced {
                Err(EffectError::forbidden(
                    "ServiceNotOpen",
                    "Recovery shares are refreshed only while the service is open.",
                ))
            } else {
                Ok(())
            };
        }
        let (_, latest) = self.journal.latest_secret()?;
        if forced {
            return issue(tx, &latest, true);
        }
        shares::refresh_if_needed(tx, &latest).map_err(refusal)?;
        Ok(())
    }

    fn open_service(
        &self,
        tx: &mut Tx,
        previous_identity: Option<&str>,
        next_identity: Option<&str>,
    ) -> Result<(), EffectError> {
        let mut info = service_info(tx)?;
        if matches!(
            info.status,
            ServiceStatus::Open | ServiceStatus::WaitingForRecoveryShares
        ) {
            return Ok(());
        }
        if let Some(next) = next_identity {
            if !same_cert(next, &info.cert) {
                return Err(EffectError::refused(
                    "InvalidServiceIdentity",
                    "Service identity mismatch: next_service_identity is not this service's identity.",
                ));
            }
        }
        if info.status != ServiceStatus::Recovering {
            return open_new_service(&self.journal, tx);
        }
        let recorded = tables::PREVIOUS_SERVICE_IDENTITY
            .get(tx)
            .map_err(internal)?;
        let matches =
            matches!((&recorded, previous_identity), (Some(r), Some(p)) if same_cert(r, p));
        if !matches {
            return Err(EffectError::refused(
                "InvalidServiceIdentity",
                "Previous service identity does not match.",
            ));
        }
        submit::clear(tx).map_err(internal)?;
        info.status = ServiceStatus::WaitingForRecoveryShares;
        service::INFO.put(tx, &info);
        Ok(())
    }

    fn submit_recovery_share(
        &self,
        tx: &mut Tx,
        member: &str,
        share: &[u8],
    ) -> Result<ShareProgress, EffectError> {
        if service_info(tx)?.status != ServiceStatus::WaitingForRecoveryShares {
            return Err(EffectError::forbidden(
                "ServiceNotWaitingForRecoveryShares",
                "Service is not waiting for recovery shares.",
            ));
        }
        let recovering_from = self.recovering_from();
        let initiated = recovering_from.is_none_or(|r| {
            tx.get_version(tables::HISTORICAL_SECRETS.name(), &SINGLETON_KEY)
                .is_some_and(|v| v >= r)
        });
        if initiated {
            return Err(EffectError::forbidden(
                "NodeAlreadyRecovering",
                "Node is already recovering private ledger.",
            ));
        }
        let recovery_start = recovering_from.expect("checked");
        let (_, current) = self.journal.latest_secret()?;
        let p = submit::submit(tx, member, share, &current).map_err(refusal)?;
        if !p.complete() {
            return Ok(ShareProgress {
                submitted: p.submitted,
                threshold: p.threshold,
                recovery_initiated: false,
            });
        }
        let old_latest = submit::combine(tx, &current).map_err(refusal)?;
        // Where the old latest secret starts: after the old ledger's last record.
        let record = tables::HISTORICAL_SECRETS
            .get(tx)
            .map_err(internal)?
            .ok_or_else(|| internal("the ledger has no record of its ledger secrets"))?;
        let written = tx
            .get_version(tables::HISTORICAL_SECRETS.name(), &SINGLETON_KEY)
            .unwrap_or(0);
        let from = chain::latest_from(&record, written);
        // The unwrapped secret must be the one the chain starts from.
        chain::walk(&old_latest, &record, Version::MAX, &mut |_| Ok(None)).map_err(|e| {
            internal(format!(
                "the recovered ledger secret is not the latest: {e}"
            ))
        })?;
        chain::record_change(tx, &current, &old_latest, from, Some(recovery_start))
            .map_err(internal)?;
        tracing::info!(
            "recovery threshold reached: ledger secrets unlocked, private ledger recovery initiated"
        );
        Ok(ShareProgress {
            submitted: p.submitted,
            threshold: p.threshold,
            recovery_initiated: true,
        })
    }
}
