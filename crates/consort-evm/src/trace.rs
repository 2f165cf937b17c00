//! geth's `debug` tracers over revm (revm-inspectors, as anvil and reth use them): the
//! default struct logger and `callTracer`, for a transaction re-executed on the state its
//! block started from, or for a call. A trace also names every account whose code ran, so
//! that the caller's right to see each one's state can be checked before it is shown.

use alloy_consensus::TxEnvelope;
use alloy_primitives::Address;
use alloy_rpc_types_trace::geth::{
    GethDebugBuiltInTracerType, GethDebugTracerType, GethDebugTracingOptions, GethTrace,
};
use consort_kv::Tx;
use revm::context_interface::{result::ExecutionResult, transaction::AccessList};
use revm::{
    context::{CfgEnv, Context, TxEnv},
    database::EmptyDB,
    handler::{MainBuilder, MainContext},
    inspector::InspectEvm,
};
use revm_inspectors::{access_list::AccessListInspector, tracing::DebugInspector};

use crate::{
    db::{EvmDb, KvDb},
    exec::{self, BlockCtx, CallRequest},
    guard::Party,
    visibility::Viewer,
    EvmError,
};

/// A trace, and the accounts whose code it ran (as the context of a call or a creation).
#[derive(Debug)]
pub struct Traced {
    pub trace: GethTrace,
    pub executed: Vec<Address>,
}

/// The tracer options of a `debug_trace*` request (geth's `TraceConfig`): the default
/// struct logger or `callTracer`; others are refused.
pub fn options(v: Option<&serde_json::Value>) -> Result<GethDebugTracingOptions, EvmError> {
    let opts: GethDebugTracingOptions = match v {
        None | Some(serde_json::Value::Null) => GethDebugTracingOptions::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| EvmError::Decode(format!("bad tracer options: {e}")))?,
    };
    match &opts.tracer {
        None => {}
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::CallTracer)) => {}
        Some(t) if t.as_str().is_empty() => {}
        Some(t) => {
            return Err(EvmError::Invalid(format!(
                "tracer {} is not supported: use the default struct logger or callTracer",
                t.as_str()
            )))
        }
    }
    Ok(opts)
}

/// Trace `target` after executing `before` (the transactions ahead of it in its block) in
/// `tx`, which holds the state the block started from; `tx` is left with their writes.
pub fn transaction(
    tx: &mut Tx,
    b: &BlockCtx<'_>,
    before: Vec<(TxEnvelope, Address)>,
    (env, from): (&TxEnvelope, Address),
    opts: GethDebugTracingOptions,
) -> Result<Traced, EvmError> {
    for t in before {
        exec::send_decoded(tx, b, t, None)?;
    }
    let t = exec::tx_env(env, from);
    run(tx, b, exec::cfg(b.chain), t, Party::sender(from), opts)
}

/// Trace a call (`debug_traceCall`) as `viewer` makes it.
pub fn call(
    tx: &mut Tx,
    b: &BlockCtx<'_>,
    req: &CallRequest,
    viewer: &Viewer,
    opts: GethDebugTracingOptions,
) -> Result<Traced, EvmError> {
    let (c, t) = exec::call_env(tx, b, req);
    run(tx, b, c, t, Party::caller(viewer.clone()), opts)
}

/// The context revm runs in here.
type EvmContext<'a> = Context<
    revm::context::BlockEnv,
    TxEnv,
    CfgEnv,
    EvmDb<'a>,
    revm::context::Journal<EvmDb<'a>>,
    Party,
>;

/// Run `t` on `tx` with `insp` watching, the guard installed as for any execution.
fn inspect<'a, I: revm::Inspector<EvmContext<'a>>>(
    tx: &'a mut Tx,
    b: &BlockCtx<'a>,
    cfg: CfgEnv,
    t: TxEnv,
    party: Party,
    insp: &mut I,
) -> Result<revm::context_interface::result::ResultAndState, EvmError> {
    let db = EvmDb {
        kv: KvDb { tx },
        hashes: b.hashes,
    };
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(cfg)
        .with_block(exec::block_env(b))
        .with_chain(party)
        .build_mainnet_with_inspector(insp);
    crate::guard::install(&mut evm.instruction);
    evm.inspect_tx(t)
        .map_err(|e| EvmError::Invalid(e.to_string()))
}

fn run(
    tx: &mut Tx,
    b: &BlockCtx<'_>,
    cfg: CfgEnv,
    t: TxEnv,
    party: Party,
    opts: GethDebugTracingOptions,
) -> Result<Traced, EvmError> {
    let mut insp = DebugInspector::new(opts).map_err(|e| EvmError::Invalid(e.to_string()))?;
    let block = exec::block_env(b);
    let res = inspect(tx, b, cfg, t.clone(), party, &mut insp)?;
    let executed = match &insp {
        DebugInspector::Default(i, _) | DebugInspector::CallTracer(i, _) => {
            let mut a: Vec<Address> = i.traces().nodes().iter().map(|n| n.trace.address).collect();
            a.sort();
            a.dedup();
            a
        }
        _ => return Err(EvmError::Invalid("unsupported tracer".into())),
    };
    let trace = insp
        .get_result(None, &t, &block, &res, &mut EmptyDB::default())
        .map_err(|e| EvmError::Invalid(e.to_string()))?;
    Ok(Traced { trace, executed })
}

/// `eth_createAccessList`'s answer: the accounts and slots a call touches (leaving out its
/// sender, its target and the precompiles, as geth does), the gas it uses with that list,
/// and why it failed, if it did.
#[derive(Debug)]
pub struct AccessListResult {
    pub access_list: AccessList,
    pub gas_used: u64,
    pub error: Option<String>,
}

/// Most runs to reach a list that a run with it no longer changes (geth stops at none; a
/// call whose accesses depend on its own gas could go on).
const ACCESS_LIST_RUNS: usize = 16;

/// Run `req` with the list found so far until the list it touches stays the same.
pub fn access_list(
    tx: &mut Tx,
    b: &BlockCtx<'_>,
    req: &CallRequest,
    viewer: &Viewer,
) -> Result<AccessListResult, EvmError> {
    let mut list = req.access_list.clone();
    for _ in 0..ACCESS_LIST_RUNS {
        let q = CallRequest {
            access_list: list.clone(),
            ..req.clone()
        };
        let (cfg, t) = exec::call_env(tx, b, &q);
        let mut insp = AccessListInspector::new(list.clone());
        let result = inspect(tx, b, cfg, t, Party::caller(viewer.clone()), &mut insp)?.result;
        let found = insp.into_access_list();
        if found == list {
            return Ok(AccessListResult {
                access_list: list,
                gas_used: result.tx_gas_used(),
                error: match result {
                    ExecutionResult::Success { .. } => None,
                    ExecutionResult::Revert { .. } => Some("execution reverted".into()),
                    ExecutionResult::Halt { reason, .. } => Some(exec::halt_message(&reason)),
                },
            });
        }
        list = found;
    }
    Err(EvmError::Invalid(
        "the access list did not settle: the call touches other state each time".into(),
    ))
}
