//! The node's recovery runtime, a background thread from start until the application
//! frontend opens:
//!
//! 1. While the node's private state is missing (a recovering service), it waits for the
//!    record the threshold share writes (the old latest secret, encrypted under this
//!    service's secret), walks the chain of previous secrets back through the ledger, and
//!    replays the private domain of the old ledger (progress logged every few seconds),
//!    then reseals its secrets.
//! 2. The primary then ends the recovery: fresh shares under a fresh wrapping key, and the
//!    service `Open`.
//! 3. Once the service is open and the private state complete, the application frontend
//!    opens on this node.

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use consort_endpoints::execute::Host;
use consort_kv::{LedgerSecret, Version};
use consort_ledger::Journal;
use consort_recovery::{chain, submit, RecoveryError};
use consort_service::{
    recovery::{self as tables, EncryptedLedgerSecretInfo},
    service::{self, ServiceStatus},
    SINGLETON_KEY,
};

use crate::NodeError;

/// What the runtime needs of its node (the node implements it).
pub(crate) trait RecoveryHost: Host + Send + Sync + 'static {
    fn journal(&self) -> &Journal;
    /// The node stopped (or a fatal error stopped it).
    fn stopped(&self) -> bool;
    /// Stop the node for `e`.
    fn trip(&self, e: &NodeError);
    fn is_primary(&self) -> bool;
    /// The application frontend may serve now.
    fn open_app_frontend(&self);
    /// Seal this node's secrets again, with every ledger secret its journal holds.
    fn reseal(&self) -> Result<(), NodeError>;
}

const POLL: Duration = Duration::from_millis(100);

/// Run the recovery runtime for `state` on a thread of its own.
pub(crate) fn spawn<H: RecoveryHost>(state: &Arc<H>) {
    let weak = Arc::downgrade(state);
    let r = std::thread::Builder::new()
        .name("consort-recovery".into())
        .spawn(move || run(weak));
    if let Err(e) = r {
        tracing::error!("cannot start the recovery runtime: {e}");
    }
}

fn run<H: RecoveryHost>(weak: Weak<H>) {
    loop {
        let Some(state) = weak.upgrade() else { return };
        if state.stopped() {
            return;
        }
        match step(&*state) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) if e.is_fatal() => {
                state.trip(&e);
                return;
            }
            Err(e) => tracing::error!("recovery: {e}"),
        }
        drop(state);
        std::thread::sleep(POLL);
    }
}

/// One look at the service; `true` once the application frontend is open.
fn step<H: RecoveryHost>(state: &H) -> Result<bool, NodeError> {
    let journal = state.journal();
    if let Some(r) = journal.private_missing_below() {
        if let Some(secrets) = unlocked_secrets(journal, r)? {
            recover_private(state, secrets)?;
        }
        return Ok(false);
    }
    let mut snap = journal.store().snapshot();
    let Some(info) = service::INFO.get(&mut snap)? else {
        return Ok(false);
    };
    match info.status {
        ServiceStatus::Open => {
            state.open_app_frontend();
            tracing::info!("application frontend open");
            Ok(true)
        }
        ServiceStatus::WaitingForRecoveryShares if state.is_primary() => {
            finish(state)?;
            Ok(false)
        }
        _ => Ok(false),
    }
}

/// Every old ledger secret, once the threshold share's record (written at or after `r`,
/// by this service) is in the ledger.
fn unlocked_secrets(
    journal: &Journal,
    r: Version,
) -> Result<Option<Vec<(Version, LedgerSecret)>>, NodeError> {
    let mut snap = journal.store().snapshot();
    let written = snap
        .key_version(tables::HISTORICAL_SECRETS.name(), &SINGLETON_KEY)
        .unwrap_or(0);
    if written < r {
        return Ok(None);
    }
    let Some(record) = tables::HISTORICAL_SECRETS.get(&mut snap)? else {
        return Ok(None);
    };
    let current = journal.secret_for(written)?;
    let enough = journal.first_seqno().saturating_sub(1);
    let mut read_at = |seqno: Version| -> Result<Option<EncryptedLedgerSecretInfo>, RecoveryError> {
        if seqno < journal.first_seqno() {
            return Ok(None);
        }
        let public = journal
            .read_public(seqno)
            .map_err(|e| RecoveryError::Chain(format!("entry {seqno}: {e}")))?;
        let value = public
            .maps
            .get(tables::HISTORICAL_SECRETS.name())
            .and_then(|m| m.get(&SINGLETON_KEY[..]).cloned().flatten());
        value
            .map(|v| {
                serde_json::from_slice(&v)
                    .map_err(|e| RecoveryError::Chain(format!("entry {seqno}: {e}")))
            })
            .transpose()
    };
    let secrets = chain::walk(&current, &record, enough, &mut read_at)
        .map_err(|e| NodeError::Config(format!("recovering the ledger secrets: {e}")))?;
    Ok(Some(secrets))
}

fn recover_private(
    state: &impl RecoveryHost,
    secrets: Vec<(Version, LedgerSecret)>,
) -> Result<(), NodeError> {
    tracing::info!(
        secrets = secrets.len(),
        "recovery: ledger secrets unlocked; replaying the private ledger"
    );
    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut progress = |done: u64, total: u64| {
        if last_log.elapsed() >= Duration::from_secs(3) {
            last_log = Instant::now();
            tracing::info!("recovery: private ledger {done}/{total} transactions");
        }
    };
    let n = state.journal().recover_private(secrets, &mut progress)?;
    tracing::info!(
        "recovery: private ledger replayed ({n} transactions in {:.1}s)",
        started.elapsed().as_secs_f64()
    );
    state.reseal()?;
    Ok(())
}

/// End the recovery (primary): fresh shares for this service's secret, and open.
fn finish<H: RecoveryHost>(state: &H) -> Result<(), NodeError> {
    let mut tx = state.begin();
    let mut info = crate::recovery::effects::service_info(&mut tx)
        .map_err(|e| NodeError::Config(e.to_string()))?;
    if info.status != ServiceStatus::WaitingForRecoveryShares {
        return Ok(());
    }
    submit::clear(&mut tx).map_err(|e| NodeError::Config(e.to_string()))?;
    let (_, latest) = state.journal().latest_secret()?;
    if let Err(e) = consort_recovery::shares::issue_if_possible(&mut tx, &latest) {
        tracing::warn!("recovery: no fresh recovery shares: {e}");
    }
    info.previous_service_identity_version = tx.get_version(service::INFO.name(), &SINGLETON_KEY);
    info.status = ServiceStatus::Open;
    service::INFO.put(&mut tx, &info);
    match state.submit(tx) {
        Ok(_) => {
            tracing::info!("recovery complete: the service is open");
            Ok(())
        }
        Err(e) => {
            tracing::warn!("recovery: opening the service failed ({e:?}); retrying");
            Ok(())
        }
    }
}
