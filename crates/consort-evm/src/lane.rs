//! The ordered lane: Ethereum transactions execute one after another on the primary, as
//! in every Ethereum client, instead of optimistically in their requests' own KV
//! transactions (where every transfer to one hot address conflicted with every other).
//!
//! Requests decode their transactions and recover the senders in their own threads, in
//! parallel; then they queue them here. Whichever request finds the lane idle executes
//! everything queued (its own and others', in arrival order, up to a block's gas) in one
//! KV transaction — one block, one ledger entry, a receipt per transaction — commits it,
//! hands each request its results, and leaves; the next waiting request takes the next
//! batch (flat combining: no thread of its own, no `'static` host). A batch that
//! conflicts (with a governance or binding write it read) is executed again; honest load
//! converges because the lane is the only writer of Ethereum state.
//!
//! The pool: a transaction whose nonce is ahead of its sender's waits here, as in geth's
//! txpool, until its predecessor executes; then it runs right after it, in the same batch.
//! Its request is answered at once with its hash. The pool is bounded per sender and in
//! all, its entries expire, and a pooled transaction is replaced by one with the same
//! nonce and a gas price at least 10 % higher. It lives in the primary's memory: a new
//! primary starts with an empty pool (the transactions must be sent again).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

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
    hash: B256,
    result: OnceLock<Outcome>,
    /// The request's thread, woken when the job has its outcome or the lane is its turn.
    owner: std::thread::Thread,
}

/// What became of a job: its hash and the KV transaction that holds it (`None`: it waits
/// in the pool for an earlier nonce), or why it was refused (nothing written), or why the
/// lane could not commit at all.
pub type Outcome = Result<Result<(B256, Option<TxId>), EvmError>, ApiError>;

impl Job {
    pub fn new(
        (env, from): (TxEnvelope, Address),
        deploy: Option<Privacy>,
        relayed_by: Option<String>,
    ) -> Arc<Job> {
        Arc::new(Job {
            hash: *env.tx_hash(),
            owner: std::thread::current(),
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
    queue: VecDeque<Arc<Job>>,
    busy: bool,
}

/// Transactions waiting for an earlier nonce: by sender, by nonce; and when each came.
#[derive(Debug, Default)]
struct Pool {
    by_sender: HashMap<Address, BTreeMap<u64, (Arc<Job>, Instant)>>,
    /// Where each waiting transaction is: (sender, nonce); its size is the pool's.
    by_hash: HashMap<B256, (Address, u64)>,
}

/// Most transactions one sender may have waiting (geth's `AccountQueue`).
pub const POOL_PER_SENDER: usize = 64;
/// Most transactions waiting in all (geth's `GlobalQueue` is 1024; a busy service holds more).
pub const POOL_TOTAL: usize = 8192;
/// How long a transaction may wait for its predecessor.
pub const POOL_EXPIRY: Duration = Duration::from_secs(600);

impl Pool {
    /// Park `job` (nonce ahead of its sender's), replacing a pooled one of the same nonce
    /// only for a gas price at least 10 % higher.
    fn park(&mut self, job: &Arc<Job>) -> Result<(), EvmError> {
        self.expire(Instant::now());
        let nonce = job.env.nonce();
        let waiting = self.by_sender.entry(job.from).or_default();
        if let Some((old, _)) = waiting.get(&nonce) {
            let (was, now) = (old.env.max_fee_per_gas(), job.env.max_fee_per_gas());
            if now < was.saturating_add(was / 10).max(was + 1) {
                return Err(EvmError::Invalid(
                    "replacement transaction underpriced".into(),
                ));
            }
            self.by_hash.remove(&old.hash);
        } else if waiting.len() >= POOL_PER_SENDER || self.by_hash.len() >= POOL_TOTAL {
            return Err(EvmError::Invalid(format!(
                "txpool is full: nonce {nonce} is ahead of the sender's next and {} wait",
                if waiting.len() >= POOL_PER_SENDER {
                    "too many of its transactions"
                } else {
                    "too many transactions"
                }
            )));
        }
        self.by_hash.insert(job.hash, (job.from, nonce));
        waiting.insert(nonce, (job.clone(), Instant::now()));
        Ok(())
    }

    /// The waiting transaction of `from` with `nonce`, taken out.
    fn take(&mut self, from: &Address, nonce: u64) -> Option<Arc<Job>> {
        let waiting = self.by_sender.get_mut(from)?;
        let (job, _) = waiting.remove(&nonce)?;
        self.by_hash.remove(&job.hash);
        if waiting.is_empty() {
            self.by_sender.remove(from);
        }
        Some(job)
    }

    fn expire(&mut self, now: Instant) {
        let by_hash = &mut self.by_hash;
        self.by_sender.retain(|_, w| {
            w.retain(|_, (j, at)| {
                let keep = now.duration_since(*at) < POOL_EXPIRY;
                if !keep {
                    by_hash.remove(&j.hash);
                }
                keep
            });
            !w.is_empty()
        });
    }

    /// A waiting transaction by hash.
    fn find(&self, hash: &B256) -> Option<Arc<Job>> {
        let (from, nonce) = self.by_hash.get(hash)?;
        Some(self.by_sender.get(from)?.get(nonce)?.0.clone())
    }
}

/// How often a batch that conflicts is executed again before its requests are told to
/// retry (never reached by honest load: only governance and bindings race the lane).
const MAX_ATTEMPTS: usize = 1000;

#[derive(Debug, Default)]
pub struct Lane {
    state: Mutex<State>,
    /// Touched by the request executing a batch, and by readers looking a hash up.
    pool: Mutex<Pool>,
}

impl Lane {
    /// Queue `jobs` (in order) and return once each has its outcome; meanwhile this
    /// request executes whatever batches are queued whenever the lane is idle. Waiting
    /// requests sleep; the one that finishes a batch wakes the owners of its jobs and the
    /// owner of the next queued job (who takes the next batch), not every waiter.
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
                let owners: Vec<std::thread::Thread> =
                    batch.iter().map(|j| j.owner.clone()).collect();
                self.execute(host, base, batch);
                st = self.state.lock().expect("lane lock");
                st.busy = false;
                if let Some(next) = st.queue.front() {
                    next.owner.unpark();
                }
                for o in owners {
                    o.unpark();
                }
                continue;
            }
            drop(st);
            // An unpark between the unlock and the park is kept (park returns at once); a
            // wake-up may also come early (a stray unpark). Either way, look again, and
            // every 2 ms at the latest.
            std::thread::park_timeout(Duration::from_millis(2));
            st = self.state.lock().expect("lane lock");
        }
        drop(st);
        jobs.iter()
            .map(|j| j.result.get().cloned().expect("every job has an outcome"))
            .collect()
    }

    /// A transaction waiting in the pool, by hash: (envelope, sender).
    pub fn pooled(&self, hash: &B256) -> Option<(TxEnvelope, Address)> {
        let j = self.pool.lock().expect("pool lock").find(hash)?;
        Some((j.env.clone(), j.from))
    }

    /// The transactions queued to execute now, and those waiting in the pool for an
    /// earlier nonce: (envelope, sender).
    #[allow(clippy::type_complexity)]
    pub fn waiting(&self) -> (Vec<(TxEnvelope, Address)>, Vec<(TxEnvelope, Address)>) {
        let of = |j: &Arc<Job>| (j.env.clone(), j.from);
        let queued: Vec<_> = self
            .state
            .lock()
            .expect("lane lock")
            .queue
            .iter()
            .map(of)
            .collect();
        let mut pool = self.pool.lock().expect("pool lock");
        pool.expire(Instant::now());
        let pooled = pool
            .by_sender
            .values()
            .flat_map(|w| w.values().map(|(j, _)| of(j)))
            .collect();
        (queued, pooled)
    }

    /// Execute `batch` (and the pooled successors of what it executes) in one KV
    /// transaction and commit it, again on conflict; park what is ahead of its sender's
    /// nonce; set each job's outcome.
    fn execute(&self, host: &dyn Host, base: crate::Chain, batch: Vec<Arc<Job>>) {
        let ledger = host.ledger();
        let hashes = move |n: u64| ledger.leaves(n, n).pop().flatten().map(|d| B256::from(d.0));
        for _ in 0..MAX_ATTEMPTS {
            let mut tx = host.begin();
            let chain = settings::chain(&mut tx, base);
            let earlier = Mutex::default();
            let block = BlockCtx {
                chain: &chain,
                number: tx.read_version() + 1,
                timestamp: crate::chain::now(),
                hashes: &hashes,
                earlier: Some(&earlier),
            };
            let mut list = batch.clone();
            let (mut done, mut ahead, mut promoted) = (Vec::new(), Vec::new(), Vec::new());
            let mut refused = Vec::new();
            let mut gas = batch.iter().map(|j| j.env.gas_limit()).sum::<u64>();
            let mut i = 0;
            while let Some(j) = list.get(i).cloned() {
                i += 1;
                match exec::send_decoded(&mut tx, &block, (j.env.clone(), j.from), j.deploy) {
                    Ok(r) => {
                        if let Some(id) = &j.relayed_by {
                            privacy::record_relayed(&mut tx, r.transaction_hash.as_slice(), id);
                        }
                        done.push(j.clone());
                        let next = self
                            .pool
                            .lock()
                            .expect("pool lock")
                            .take(&j.from, j.env.nonce() + 1);
                        if let Some(next) = next {
                            if gas.saturating_add(next.env.gas_limit()) <= chain.block_gas_limit {
                                gas += next.env.gas_limit();
                                promoted.push(next.clone());
                                list.push(next);
                            } else {
                                self.state.lock().expect("lane lock").queue.push_front(next);
                            }
                        }
                    }
                    Err(EvmError::Nonce { expected, got }) if got > expected => ahead.push(j),
                    Err(e) => refused.push((j, e)),
                }
            }
            let txid = if done.is_empty() {
                None
            } else {
                exec::seal_claims(&mut tx, &earlier.lock().expect("earlier"));
                match host.submit(tx) {
                    Ok(CommitOutcome::Committed(c)) => Some(c.txid),
                    Ok(CommitOutcome::ReadOnly { .. }) => {
                        unreachable!("a batch that executed writes")
                    }
                    Err(SubmitError::Conflict) => {
                        host.on_conflict();
                        let mut pool = self.pool.lock().expect("pool lock");
                        for p in &promoted {
                            let _ = pool.park(p);
                        }
                        continue;
                    }
                    Err(e) => return fail(&batch, e.into_api_error()),
                }
            };
            for j in &done {
                let _ = j.result.set(Ok(Ok((j.hash, txid))));
            }
            for (j, e) in refused {
                let _ = j.result.set(Ok(Err(e)));
            }
            let mut pool = self.pool.lock().expect("pool lock");
            for j in ahead {
                let _ = j.result.set(Ok(pool.park(&j).map(|()| (j.hash, None))));
            }
            return;
        }
        fail(
            &batch,
            ApiError::unavailable(
                "TransactionCommitAttemptsExceedLimit",
                format!("The Ethereum lane conflicted {MAX_ATTEMPTS} times; try again."),
            ),
        );
    }
}

/// The queued jobs, oldest first, whose gas limits fit one block (at least one).
fn take_batch(queue: &mut VecDeque<Arc<Job>>, gas: u64) -> Vec<Arc<Job>> {
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

fn fail(batch: &[Arc<Job>], e: ApiError) {
    for j in batch {
        let _ = j.result.set(Err(e.clone()));
    }
}

#[cfg(test)]
#[path = "lane_test.rs"]
mod lane_test;
