//! The ordered lane: Ethereum transactions execute one after another on the primary, as
//! in every Ethereum client, instead of optimistically in their requests' own KV
//! transactions (where every transfer to one hot address conflicted with every other).
//!
//! Requests decode their transactions and recover the senders in their own threads, in
//! parallel, and first execute them optimistically in their own KV transactions (parallel
//! too: most transactions touch disjoint state). A request whose transaction conflicted
//! queues it here instead (the JSON-RPC `send` module). Whichever request finds the lane idle executes
//! everything queued (its own and others', in arrival order, up to a block's gas) in one
//! KV transaction — one block, one ledger entry, a receipt per transaction — commits it,
//! hands each request its results, and leaves; the next waiting request takes the next
//! batch (flat combining: no thread of its own, no `'static` host). A batch that
//! conflicts (with a governance or binding write it read) is executed again; honest load
//! converges because the lane is the only writer of Ethereum state.

use std::sync::{Arc, Condvar, Mutex, OnceLock};

use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_primitives::{Address, B256};
use consort_endpoints::{
    execute::{Host, SubmitError},
    ApiError,
};
use consort_kv::{CommitOutcome, TxId};

use crate::{
    exec::{self, BlockCtx},
    privacy::{self, Privacy},
    settings, EvmError,
};

/// A transaction ready to execute: decoded, its sender recovered and allowed to the caller.
#[derive(Debug)]
pub struct Job {
    pub env: TxEnvelope,
    pub from: Address,
    /// The deployer's privacy choice (`x-consort-eth-privacy`).
    pub deploy: Option<Privacy>,
    /// The relayer that submitted it for another's sender.
    pub relayed_by: Option<String>,
    result: OnceLock<Outcome>,
}

/// What became of a job: its hash and the KV transaction that holds it, or why it was
/// refused (nothing written), or why the lane could not commit at all.
pub type Outcome = Result<Result<(B256, TxId), EvmError>, ApiError>;

impl Job {
    pub fn new(
        (env, from): (TxEnvelope, Address),
        deploy: Option<Privacy>,
        relayed_by: Option<String>,
    ) -> Arc<Job> {
        Arc::new(Job {
            env,
            from,
            deploy,
            relayed_by,
            result: OnceLock::new(),
        })
    }
}

#[derive(Debug, Default)]
struct State {
    queue: std::collections::VecDeque<Arc<Job>>,
    busy: bool,
}

/// How often a batch that conflicts is executed again before its requests are told to
/// retry (never reached by honest load: only governance and bindings race the lane).
const MAX_ATTEMPTS: usize = 1000;

#[derive(Debug, Default)]
pub struct Lane {
    state: Mutex<State>,
    turn: Condvar,
}

impl Lane {
    /// Queue `jobs` (in order) and return once each has its outcome; meanwhile this
    /// request executes whatever batches are queued whenever the lane is idle.
    pub fn run(&self, host: &dyn Host, base: crate::Chain, jobs: &[Arc<Job>]) -> Vec<Outcome> {
        let mut st = self.state.lock().expect("lane lock");
        st.queue.extend(jobs.iter().cloned());
        loop {
            if jobs.iter().all(|j| j.result.get().is_some()) {
                break;
            }
            if !st.busy && !st.queue.is_empty() {
                st.busy = true;
                let batch = take_batch(&mut st.queue, base.block_gas_limit);
                drop(st);
                execute(host, base, &batch);
                st = self.state.lock().expect("lane lock");
                st.busy = false;
                self.turn.notify_all();
                continue;
            }
            st = self.turn.wait(st).expect("lane lock");
        }
        drop(st);
        jobs.iter()
            .map(|j| j.result.get().cloned().expect("every job has an outcome"))
            .collect()
    }
}

/// The queued jobs, oldest first, whose gas limits fit one block (at least one).
fn take_batch(queue: &mut std::collections::VecDeque<Arc<Job>>, gas: u64) -> Vec<Arc<Job>> {
    let mut batch = Vec::new();
    let mut used = 0u64;
    while let Some(j) = queue.front() {
        let g = j.env.gas_limit();
        if !batch.is_empty() && used.saturating_add(g) > gas {
            break;
        }
        used = used.saturating_add(g);
        batch.extend(queue.pop_front());
    }
    batch
}

/// Execute `batch` in one KV transaction and commit it, again on conflict; set each job's
/// outcome.
fn execute(host: &dyn Host, base: crate::Chain, batch: &[Arc<Job>]) {
    let ledger = host.ledger();
    let hashes = move |n: u64| ledger.leaves(n, n).pop().flatten().map(|d| B256::from(d.0));
    for _ in 0..MAX_ATTEMPTS {
        let mut tx = host.begin();
        let chain = settings::chain(&mut tx, base);
        let block = BlockCtx {
            chain: &chain,
            number: tx.read_version() + 1,
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            hashes: &hashes,
        };
        let mut results = Vec::with_capacity(batch.len());
        for j in batch {
            let r = exec::send_decoded(&mut tx, &block, (j.env.clone(), j.from), j.deploy);
            if let (Ok(r), Some(id)) = (&r, &j.relayed_by) {
                privacy::record_relayed(&mut tx, r.transaction_hash.as_slice(), id);
            }
            results.push(r.map(|r| r.transaction_hash));
        }
        if results.iter().all(Result::is_err) {
            // Nothing to commit: every transaction was refused before it wrote anything.
            for (j, r) in batch.iter().zip(results) {
                let _ = j.result.set(Ok(Err(r.expect_err("every one was refused"))));
            }
            return;
        }
        let txid = match host.submit(tx) {
            Ok(CommitOutcome::Committed(c)) => c.txid,
            Ok(CommitOutcome::ReadOnly { .. }) => unreachable!("a batch that executed writes"),
            Err(SubmitError::Conflict) => {
                host.on_conflict();
                continue;
            }
            Err(e) => return fail(batch, submit_error(e)),
        };
        for (j, r) in batch.iter().zip(results) {
            let _ = j.result.set(Ok(r.map(|h| (h, txid))));
        }
        return;
    }
    fail(
        batch,
        ApiError::unavailable(
            "TransactionCommitAttemptsExceedLimit",
            format!("The Ethereum lane conflicted {MAX_ATTEMPTS} times; try again."),
        ),
    );
}

fn fail(batch: &[Arc<Job>], e: ApiError) {
    for j in batch {
        let _ = j.result.set(Err(e.clone()));
    }
}

fn submit_error(e: SubmitError) -> ApiError {
    match e {
        SubmitError::NotPrimary => {
            ApiError::unavailable("NotPrimary", "This node stopped being the primary; retry.")
        }
        SubmitError::Refused(e) => e,
        SubmitError::Conflict => unreachable!("handled by re-execution"),
        SubmitError::Fatal(e) => {
            tracing::error!("commit failed: {e}");
            ApiError::internal("The transaction could not be committed.")
        }
    }
}

#[cfg(test)]
#[path = "lane_test.rs"]
mod lane_test;
