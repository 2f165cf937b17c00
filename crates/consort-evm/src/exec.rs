//! Executing Ethereum transactions inside KV transactions: decode (legacy, EIP-155,
//! EIP-2930, EIP-1559 envelopes), recover the sender, check chain id and nonce, run revm,
//! write the state changes, the transaction and its receipt — all in the caller's KV
//! transaction, so they commit together or not at all.

use alloy_consensus::{transaction::SignerRecoverable, Transaction as _, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, Bytes as ABytes, TxKind, B256, U256};
use consort_kv::{Bytes, Tx};
use revm::{
    context::{BlockEnv, CfgEnv, Context, TxEnv},
    context_interface::result::{EVMError, ExecutionResult, InvalidTransaction, Output},
    handler::{ExecuteEvm, MainContext},
    primitives::hardfork::SpecId,
};

pub use crate::chain::Chain;
pub use crate::receipt::{bloom, claim, claims, LogRecord, Receipt};
use crate::{
    db::{EvmDb, KvDb},
    visibility::Viewer,
    EvmError,
};

/// Transactions by hash: the raw signed envelope.
pub const TRANSACTIONS: &str = "eth.transactions";
/// Receipts by transaction hash (JSON).
pub const RECEIPTS: &str = "eth.receipts";

/// The result of `eth_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResult {
    pub success: bool,
    pub output: ABytes,
    pub gas_used: u64,
    /// Why execution stopped without returning or reverting (e.g. "out of gas").
    pub halted: Option<String>,
}

/// A call request (`eth_call`, `eth_estimateGas`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    pub from: Option<Address>,
    pub to: Option<Address>,
    pub data: ABytes,
    pub value: U256,
    pub gas: Option<u64>,
    /// EIP-2930 access list (warm from the start, charged as in a transaction).
    pub access_list: revm::context_interface::transaction::AccessList,
}

/// The block a transaction or call runs in.
#[derive(Clone, Copy)]
pub struct BlockCtx<'a> {
    pub chain: &'a Chain,
    /// The block number the EVM sees (`NUMBER`). For a transaction: its KV transaction's
    /// read version + 1, the seqno it gets if nothing commits before it; a transaction that
    /// reads `NUMBER` (or `BLOCKHASH`, whose range depends on it) is pinned to that seqno
    /// ([`Tx::pin_next_version`]) and retried otherwise. For calls: one past the commit point.
    pub number: u64,
    pub timestamp: u64,
    /// Hashes of earlier blocks (`BLOCKHASH`).
    pub hashes: &'a (dyn Fn(u64) -> Option<B256> + Sync),
    /// What the KV transaction's earlier Ethereum transactions used, kept by a caller that
    /// executes many in one (the lane); `None`: read back from their receipts.
    pub earlier: Option<&'a std::sync::Mutex<Earlier>>,
}

/// The Ethereum transactions a KV transaction holds so far: how many, their logs and gas,
/// and each receipt's claim digest (see [`claims`]).
#[derive(Debug, Default)]
pub struct Earlier {
    pub count: u64,
    pub logs: u64,
    pub gas: u64,
    pub claims: Vec<String>,
}

/// Set the KV transaction's claims digest to that of `earlier`'s claims (see [`claims`]):
/// once every Ethereum transaction it holds is recorded.
pub fn seal_claims(tx: &mut Tx, earlier: &Earlier) {
    let claims = serde_json::to_string(&earlier.claims).expect("json");
    tx.set_claims_digest(consort_crypto::sha256(claims.as_bytes()));
}

impl Earlier {
    fn of(tx: &Tx, b: &BlockCtx<'_>) -> Earlier {
        if let Some(e) = b.earlier {
            let e = e.lock().expect("earlier");
            return Earlier {
                count: e.count,
                logs: e.logs,
                gas: e.gas,
                claims: Vec::new(),
            };
        }
        let rs = receipts_in(tx);
        Earlier {
            count: rs.len() as u64,
            logs: rs.iter().map(|r| r.logs.len() as u64).sum(),
            gas: rs.iter().map(|r| r.gas_used).sum(),
            claims: rs.iter().map(claim_digest).collect(),
        }
    }
}

fn claim_digest(r: &Receipt) -> String {
    consort_crypto::sha256(claim(r).as_bytes()).to_string()
}

impl std::fmt::Debug for BlockCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCtx")
            .field("chain", self.chain)
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

/// A block whose `NUMBER` reads are recorded in `used`.
struct TrackedBlock<'a> {
    env: BlockEnv,
    used: &'a std::cell::Cell<bool>,
}

impl revm::context_interface::Block for TrackedBlock<'_> {
    fn number(&self) -> U256 {
        self.used.set(true);
        self.env.number
    }
    fn beneficiary(&self) -> Address {
        self.env.beneficiary
    }
    fn timestamp(&self) -> U256 {
        self.env.timestamp
    }
    fn gas_limit(&self) -> u64 {
        self.env.gas_limit
    }
    fn basefee(&self) -> u64 {
        self.env.basefee
    }
    fn difficulty(&self) -> U256 {
        self.env.difficulty
    }
    fn prevrandao(&self) -> Option<B256> {
        self.env.prevrandao
    }
    fn blob_excess_gas_and_price(
        &self,
    ) -> Option<revm::context_interface::block::BlobExcessGasAndPrice> {
        self.env.blob_excess_gas_and_price
    }
}

pub(crate) fn block_env(b: &BlockCtx<'_>) -> BlockEnv {
    BlockEnv {
        number: U256::from(b.number),
        timestamp: U256::from(b.timestamp),
        gas_limit: b.chain.block_gas_limit,
        basefee: 0,
        ..Default::default()
    }
}

pub(crate) fn cfg(chain: &Chain) -> CfgEnv {
    let mut c = CfgEnv::new_with_spec(SpecId::PRAGUE);
    c.chain_id = chain.chain_id;
    c
}

/// Decode a raw transaction and recover its sender.
pub fn decode(raw: &[u8]) -> Result<(TxEnvelope, Address), EvmError> {
    let mut buf = raw;
    let env = TxEnvelope::decode_2718(&mut buf)
        .map_err(|e| EvmError::Decode(format!("not a signed transaction: {e}")))?;
    if !buf.is_empty() {
        return Err(EvmError::Decode(
            "trailing bytes after the transaction".into(),
        ));
    }
    if env.is_eip4844() || env.is_eip7702() {
        return Err(EvmError::Decode(
            "blob and EIP-7702 transactions are not supported".into(),
        ));
    }
    let from = env
        .recover_signer()
        .map_err(|e| EvmError::Signature(e.to_string()))?;
    Ok((env, from))
}

pub(crate) fn tx_env(env: &TxEnvelope, from: Address) -> TxEnv {
    TxEnv::builder()
        .tx_type(Some(env.tx_type() as u8))
        .caller(from)
        .gas_limit(env.gas_limit())
        .gas_price(env.max_fee_per_gas())
        .gas_priority_fee(env.max_priority_fee_per_gas())
        .kind(env.kind())
        .value(env.value())
        .data(env.input().clone())
        .nonce(env.nonce())
        .chain_id(env.chain_id())
        .access_list(env.access_list().cloned().unwrap_or_default())
        .build_fill()
}

fn logs_of(r: &ExecutionResult) -> Vec<LogRecord> {
    let logs = match r {
        ExecutionResult::Success { logs, .. }
        | ExecutionResult::Revert { logs, .. }
        | ExecutionResult::Halt { logs, .. } => logs,
    };
    logs.iter()
        .map(|l| LogRecord {
            address: l.address,
            topics: l.data.topics().to_vec(),
            data: l.data.data.clone(),
        })
        .collect()
}

/// Execute the signed transaction `raw` in `tx` (in block `b`): state changes, the
/// transaction and its receipt are written to `tx`, and the receipts of all Ethereum
/// transactions in `tx` become its claims (bound into the Merkle leaf, see [`claims`]). A
/// transaction that cannot be included (bad encoding, signature, chain id, nonce, funds for
/// gas, a sender governance does not allow) is an error and writes nothing; one that
/// reverts or runs out of gas is included with status 0.
/// Contracts it creates get the mode [`send_decoded`] gives them when no one chose.
pub fn send_raw(tx: &mut Tx, b: &BlockCtx<'_>, raw: &[u8]) -> Result<Receipt, EvmError> {
    let decoded = decode(raw)?;
    send_decoded(tx, b, decoded, None)
}

/// [`send_raw`] for a transaction already decoded (sender recovered) by [`decode`]. The
/// contracts it creates are recorded with the sender as their deployer and, for a
/// deployment, the deployer's choice `deploy` (else the service default); contracts a call
/// creates (a factory's children) take the mode of the contract called.
pub fn send_decoded(
    tx: &mut Tx,
    b: &BlockCtx<'_>,
    (env, from): (TxEnvelope, Address),
    deploy: Option<crate::privacy::Privacy>,
) -> Result<Receipt, EvmError> {
    let chain = b.chain;
    admit(tx, b, &env, from)?;
    let number_used = std::cell::Cell::new(false);
    let result = {
        let db = EvmDb {
            kv: KvDb { tx },
            hashes: b.hashes,
        };
        let block = TrackedBlock {
            env: block_env(b),
            used: &number_used,
        };
        let mut evm = crate::frames::build(
            Context::mainnet()
                .with_db(db)
                .with_cfg(cfg(chain))
                .with_block(block)
                .with_chain(crate::guard::Party::sender(from)),
        );
        crate::guard::install(&mut evm.instruction);
        let r = evm.transact(tx_env(&env, from));
        crate::frames::recycle(evm);
        r.map_err(|e| match e {
            EVMError::Transaction(
                t @ (InvalidTransaction::LackOfFundForMaxFee { .. }
                | InvalidTransaction::OverflowPaymentInTransaction),
            ) => EvmError::InsufficientFunds(t.to_string()),
            e => EvmError::Invalid(e.to_string()),
        })?
    };
    let (result, mut state) = (result.result, result.state);
    if number_used.get() {
        // Its outcome holds only as block `b.number`: commit there or retry.
        tx.pin_next_version();
    }
    // Fees are burnt (the base fee is 0; a priority fee is paid by the sender and credited
    // to nobody): a coinbase credited by every transaction would be one key every
    // transaction writes, and so conflicts between all of them.
    let fee = U256::from(env.effective_gas_price(Some(0))) * U256::from(result.tx_gas_used());
    if let Some(coinbase) = state.get_mut(&block_env(b).beneficiary) {
        coinbase.info.balance = coinbase.info.balance.saturating_sub(fee);
    }
    let created: Vec<Address> = state
        .iter()
        .filter(|(_, a)| a.is_created())
        .map(|(addr, _)| *addr)
        .collect();
    KvDb { tx }.commit(state);
    if !created.is_empty() {
        let privacy = match env.to() {
            None => deploy.unwrap_or_else(|| crate::privacy::default_privacy(tx)),
            Some(to) => crate::privacy::privacy_of(tx, &to),
        };
        for a in &created {
            let c = crate::privacy::Contract {
                privacy,
                deployer: from,
            };
            crate::privacy::record_contract(tx, a, c);
        }
    }
    Ok(record(tx, b, &env, from, &result))
}

/// The checks before a transaction runs: chain id, allowed sender, not seen before, room
/// in the block, the sender's next nonce.
fn admit(tx: &mut Tx, b: &BlockCtx<'_>, env: &TxEnvelope, from: Address) -> Result<(), EvmError> {
    let chain = b.chain;
    match env.chain_id() {
        Some(id) if id != chain.chain_id => {
            return Err(EvmError::ChainId {
                expected: chain.chain_id,
                got: id,
            })
        }
        None => {
            return Err(EvmError::Invalid(
                "transactions without a chain id (pre-EIP-155) are refused".into(),
            ))
        }
        _ => {}
    }
    if !crate::settings::sender_allowed(tx, &from) {
        return Err(EvmError::SenderNotAllowed(from));
    }
    let hash = *env.tx_hash();
    if tx.get(RECEIPTS, hash.as_slice()).is_some() {
        return Err(EvmError::Invalid("transaction already known".into()));
    }
    let earlier_gas = Earlier::of(tx, b).gas;
    if earlier_gas + env.gas_limit() > chain.block_gas_limit {
        return Err(EvmError::Invalid(format!(
            "block gas limit reached: {earlier_gas} used of {} in this batch; send the transaction in another request",
            chain.block_gas_limit
        )));
    }
    let expected = KvDb { tx }.account(&from).nonce;
    if env.nonce() != expected {
        return Err(EvmError::Nonce {
            expected,
            got: env.nonce(),
        });
    }
    Ok(())
}

/// Record a transaction's outcome: the transaction, its receipt, and the claims digest of
/// every receipt of this KV transaction.
fn record(
    tx: &mut Tx,
    b: &BlockCtx<'_>,
    env: &TxEnvelope,
    from: Address,
    result: &ExecutionResult,
) -> Receipt {
    let hash = *env.tx_hash();
    let to = match env.kind() {
        TxKind::Call(a) => Some(a),
        TxKind::Create => None,
    };
    let (status, output, contract_address) = match result {
        ExecutionResult::Success { output, .. } => match output {
            Output::Create(_, addr) => (true, ABytes::new(), *addr),
            Output::Call(b) => (true, b.clone(), None),
        },
        ExecutionResult::Revert { output, .. } => (false, output.clone(), None),
        ExecutionResult::Halt { .. } => (false, ABytes::new(), None),
    };
    let mut earlier = Earlier::of(tx, b);
    let gas_used = result.tx_gas_used();
    let receipt = Receipt {
        transaction_hash: hash,
        index: earlier.count,
        first_log_index: earlier.logs,
        cumulative_gas_used: earlier.gas + gas_used,
        timestamp: b.timestamp,
        from,
        to,
        contract_address,
        status,
        gas_used,
        effective_gas_price: env.effective_gas_price(Some(0)),
        tx_type: env.tx_type() as u8,
        logs: logs_of(result),
        output,
    };
    tx.put(
        TRANSACTIONS,
        Bytes::copy_from_slice(hash.as_slice()),
        env.encoded_2718(),
    );
    // One serialization: the stored receipt is its claim's exact text.
    let json = serde_json::to_vec(&receipt).expect("json");
    let digest = consort_crypto::sha256(&json).to_string();
    tx.put(RECEIPTS, Bytes::copy_from_slice(hash.as_slice()), json);
    match b.earlier {
        Some(e) => {
            // The caller seals the claims once, when its KV transaction is complete.
            let mut e = e.lock().expect("earlier");
            e.count += 1;
            e.logs += receipt.logs.len() as u64;
            e.gas += gas_used;
            e.claims.push(digest);
        }
        None => {
            earlier.claims.push(digest);
            seal_claims(tx, &earlier);
        }
    }
    receipt
}

/// The receipts this KV transaction has written so far, in execution order.
fn receipts_in(tx: &Tx) -> Vec<Receipt> {
    let mut v: Vec<Receipt> = tx
        .write_set()
        .maps
        .get(RECEIPTS)
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|r| serde_json::from_slice(r.as_ref()?).ok())
        .collect();
    v.sort_by_key(|r| r.index);
    v
}

/// Why execution halted, as geth says it.
pub(crate) fn halt_message(reason: &revm::context_interface::result::HaltReason) -> String {
    match reason {
        revm::context_interface::result::HaltReason::OutOfGas(e) => e.to_string(),
        other => format!("execution halted: {other:?}"),
    }
}

/// The configuration and transaction a call runs as: no balance, base fee or nonce checks,
/// gas price 0, the sender's current nonce.
pub(crate) fn call_env(tx: &mut Tx, b: &BlockCtx<'_>, req: &CallRequest) -> (CfgEnv, TxEnv) {
    let chain = b.chain;
    let from = req.from.unwrap_or_default();
    let nonce = KvDb { tx }.account(&from).nonce;
    let mut c = cfg(chain);
    c.disable_balance_check = true;
    c.disable_base_fee = true;
    c.disable_nonce_check = true;
    let t = TxEnv::builder()
        .caller(from)
        .gas_limit(req.gas.unwrap_or(chain.block_gas_limit))
        .gas_price(0)
        .kind(req.to.map_or(TxKind::Create, TxKind::Call))
        .value(req.value)
        .data(req.data.clone())
        .nonce(nonce)
        .chain_id(Some(chain.chain_id))
        .access_list(req.access_list.clone())
        .build_fill();
    (c, t)
}

/// Run a call against the state in `tx` without changing it (`eth_call`), for `viewer`
/// (what its code may read: [`crate::guard`]).
pub fn call(
    tx: &mut Tx,
    b: &BlockCtx<'_>,
    req: &CallRequest,
    viewer: &Viewer,
) -> Result<CallResult, EvmError> {
    let (c, t) = call_env(tx, b, req);
    let db = EvmDb {
        kv: KvDb { tx },
        hashes: b.hashes,
    };
    let mut evm = crate::frames::build(
        Context::mainnet()
            .with_db(db)
            .with_cfg(c)
            .with_block(block_env(b))
            .with_chain(crate::guard::Party::caller(viewer.clone())),
    );
    crate::guard::install(&mut evm.instruction);
    let r = evm.transact(t);
    crate::frames::recycle(evm);
    let r = r.map_err(|e| EvmError::Invalid(e.to_string()))?.result;
    let gas_used = r.tx_gas_used();
    Ok(match r {
        ExecutionResult::Success { output, .. } => CallResult {
            success: true,
            output: output.into_data(),
            gas_used,
            halted: None,
        },
        ExecutionResult::Revert { output, .. } => CallResult {
            success: false,
            output,
            gas_used,
            halted: None,
        },
        ExecutionResult::Halt { reason, .. } => CallResult {
            success: false,
            output: ABytes::new(),
            gas_used,
            halted: Some(halt_message(&reason)),
        },
    })
}
