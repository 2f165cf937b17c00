//! The constitution runtime.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use rquickjs::{Context, Ctx, Function, Module, Runtime, Value};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What scripts see besides the language: `ccf.kv[table]` (string keys and values, over
/// the governance tables only, recording writes) and `ccf.pemToId(pem)`.
const PRELUDE: &str = r#"
let __state = {};
let __writes = [];
const NODE_MARKER = "::node";
function __map(name) {
  if (typeof name !== "string" || !name.startsWith("public:ccf.gov.")) {
    throw new Error(`governance may only use public:ccf.gov.* tables, not ${String(name)}`);
  }
  const m = () => (__state[name] = __state[name] || {});
  return {
    get(k) { const v = m()[k]; return v === null ? undefined : v; },
    has(k) { const v = m()[k]; return v !== undefined && v !== null; },
    set(k, v) {
      if (typeof k !== "string" || typeof v !== "string") throw new Error("keys and values are strings");
      m()[k] = v; __writes.push([name, k, v]);
    },
    delete(k) { m()[k] = null; __writes.push([name, String(k), null]); },
    forEach(f) { for (const [k, v] of Object.entries(m())) if (v !== null) f(v, k); },
    keys() { return Object.keys(m()).filter((k) => m()[k] !== null); },
  };
}
globalThis.ccf = {
  kv: new Proxy({}, { get: (_, name) => __map(name) }),
  pemToId: (pem) => {
    const id = __pemToId(String(pem));
    if (id === "") throw new Error("not a PEM certificate");
    return id;
  },
  // Hex SHA-256 of a string's UTF-8 bytes.
  sha256Hex: (s) => __sha256Hex(String(s)),
  // CCF's: a hex TCB version as the components of the CPUID's product.
  tcbHexToPolicy: (cpuid, hex) => {
    const p = __tcbHexToPolicy(String(cpuid), String(hex));
    if (p === "") throw new Error(`TCB version ${hex} cannot be read for CPUID ${cpuid} (not a Milan, Genoa or Turin CPUID, or not 8 bytes of hex)`);
    return JSON.parse(p);
  },
};
// Requests to the node, made in the same transaction once `apply` returns.
globalThis.ccf.node = {
  // Rotate the ledger secret (and issue recovery shares for the new one).
  triggerLedgerRekey: () => { __writes.push([NODE_MARKER, "rekey", null]); },
  // Issue fresh recovery shares under a fresh wrapping key.
  triggerRecoverySharesRefresh: () => { __writes.push([NODE_MARKER, "refresh_recovery_shares", null]); },
  // Open the service (a recovering one waits for recovery shares first): the identities
  // are PEM certificates, the previous one required when the service is recovering.
  transitionServiceToOpen: (previous, next) => {
    const pem = (v, what) => {
      if (v === undefined || v === null) return null;
      if (typeof v !== "string") throw new Error(`${what} must be a PEM string`);
      return v;
    };
    __writes.push([NODE_MARKER, "open_service", JSON.stringify({
      previous: pem(previous, "previous_service_identity"),
      next: pem(next, "next_service_identity"),
    })]);
  },
};
globalThis.__begin = (s) => { __state = s; __writes = []; return null; };
globalThis.__end = () => __writes;
"#;

/// `ccf.tcbHexToPolicy`: the TCB components of `hex` for `cpuid`'s product, as JSON, or
/// empty if either cannot be read.
fn tcb_hex_to_policy(cpuid: String, hex: String) -> String {
    use consort_attestation::{Product, TcbPolicy};
    Product::parse_cpuid(&cpuid)
        .and_then(|(family, model, _)| Product::from_family_model(family, model))
        .and_then(|p| TcbPolicy::from_hex(&hex, p))
        .and_then(|t| serde_json::to_string(&t).ok())
        .unwrap_or_default()
}

/// The pseudo-table `ccf.node.*` requests are recorded in among `apply`'s changes (key:
/// the request, value: its arguments as JSON).
pub(crate) const NODE_MARKER: &str = "::node";

/// What an accepted proposal asks of the node, in the transaction that applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRequest {
    /// `ccf.node.triggerLedgerRekey()`.
    RekeyLedger,
    /// `ccf.node.triggerRecoverySharesRefresh()`.
    RefreshRecoveryShares,
    /// `ccf.node.transitionServiceToOpen(previous, next)`: PEM identities.
    OpenService {
        previous_identity: Option<String>,
        next_identity: Option<String>,
    },
}

impl NodeRequest {
    /// The request a `NODE_MARKER` change records.
    pub(crate) fn parse(key: &str, value: Option<&str>) -> Option<Self> {
        match key {
            "rekey" => Some(Self::RekeyLedger),
            "refresh_recovery_shares" => Some(Self::RefreshRecoveryShares),
            "open_service" => {
                let v: serde_json::Value = serde_json::from_str(value?).ok()?;
                let pem = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
                Some(Self::OpenService {
                    previous_identity: pem("previous"),
                    next_identity: pem("next"),
                })
            }
            _ => None,
        }
    }
}

/// A change `apply` made: (table, key, new value or `None` for a deletion).
pub type KvChange = (String, String, Option<String>);

/// The constitution a new service starts with (the standard actions; applications add
/// theirs with [`with_app_actions`]).
pub const DEFAULT_CONSTITUTION: &str = include_str!("default_constitution.js");

/// `base` with applications' governance actions appended. Each fragment is module code
/// that adds its actions to the constitution's `APPLY` object (e.g.
/// `Object.assign(APPLY, { set_x(args) { ... } })`); it may use the constitution's helpers
/// (`need`, `jsonOf`, `SINGLETON`).
pub fn with_app_actions(base: &str, fragments: &[&str]) -> String {
    let mut s = base.to_string();
    for f in fragments {
        s.push('\n');
        s.push_str(f);
    }
    s
}

/// Resource limits for every script call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: usize,
    pub stack_bytes: usize,
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 32 << 20,
            stack_bytes: 512 << 10,
            time: Duration::from_millis(200),
        }
    }
}

/// Why a script did not give an answer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ScriptError {
    #[error("the constitution does not compile: {0}")]
    Compile(String),
    #[error("the script threw: {0}")]
    Exception(String),
    #[error("the script ran longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("the script exceeded its memory or stack limit")]
    ResourceLimit,
    #[error("the script returned {0}, which is not a valid answer")]
    BadReturn(String),
    #[error("the script has no exported function {0}")]
    Missing(&'static str),
}

/// A proposal's state as the constitution decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProposalState {
    Open,
    Accepted,
    Rejected,
}

/// `validate`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub valid: bool,
    #[serde(default)]
    pub description: String,
}

/// One member's ballot outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub member_id: String,
    pub vote: bool,
}

/// A QuickJS runtime holding one constitution. Not shared between threads; create one per
/// governance transaction (or keep one per thread).
pub struct Engine {
    _rt: Runtime,
    ctx: Context,
    limits: Limits,
    deadline_ms: Arc<AtomicU64>,
    interrupted: Arc<AtomicBool>,
    epoch: Instant,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({:?})", self.limits)
    }
}

fn describe(ctx: &Ctx<'_>, e: rquickjs::Error) -> String {
    if let rquickjs::Error::Exception = e {
        let v: Value<'_> = ctx.catch();
        if let Some(ex) = v.as_exception() {
            return ex.message().unwrap_or_default();
        }
        return ctx
            .json_stringify(v)
            .ok()
            .flatten()
            .and_then(|s| s.to_string().ok())
            .unwrap_or_else(|| "exception".into());
    }
    e.to_string()
}

impl Engine {
    /// Compile and load `constitution` (an ES module).
    pub fn new(constitution: &str, limits: Limits) -> Result<Self, ScriptError> {
        let rt = Runtime::new().map_err(|e| ScriptError::Compile(e.to_string()))?;
        rt.set_memory_limit(limits.memory_bytes);
        rt.set_max_stack_size(limits.stack_bytes);
        let deadline_ms = Arc::new(AtomicU64::new(u64::MAX));
        let interrupted = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        {
            let (d, i) = (deadline_ms.clone(), interrupted.clone());
            rt.set_interrupt_handler(Some(Box::new(move || {
                let now = epoch.elapsed().as_millis() as u64;
                let stop = now > d.load(Ordering::Relaxed);
                if stop {
                    i.store(true, Ordering::Relaxed);
                }
                stop
            })));
        }
        let ctx = Context::full(&rt).map_err(|e| ScriptError::Compile(e.to_string()))?;
        ctx.with(|ctx| -> Result<(), ScriptError> {
            let f = Function::new(ctx.clone(), |pem: String| -> String {
                consort_crypto::cert::Certificate::from_pem(&pem)
                    .map(|c| c.fingerprint().to_hex())
                    .unwrap_or_default()
            })
            .map_err(|e| ScriptError::Compile(e.to_string()))?;
            ctx.globals()
                .set("__pemToId", f)
                .map_err(|e| ScriptError::Compile(e.to_string()))?;
            let sha = Function::new(ctx.clone(), |s: String| -> String {
                consort_crypto::sha256(s.as_bytes()).to_hex()
            })
            .map_err(|e| ScriptError::Compile(e.to_string()))?;
            ctx.globals()
                .set("__sha256Hex", sha)
                .map_err(|e| ScriptError::Compile(e.to_string()))?;
            let tcb = Function::new(ctx.clone(), tcb_hex_to_policy)
                .map_err(|e| ScriptError::Compile(e.to_string()))?;
            ctx.globals()
                .set("__tcbHexToPolicy", tcb)
                .map_err(|e| ScriptError::Compile(e.to_string()))?;
            ctx.eval::<(), _>(PRELUDE)
                .map_err(|e| ScriptError::Compile(describe(&ctx, e)))
        })?;
        let engine = Self {
            _rt: rt,
            ctx,
            limits,
            deadline_ms,
            interrupted,
            epoch,
        };
        engine.load("constitution", constitution)?;
        Ok(engine)
    }

    fn arm(&self) {
        self.interrupted.store(false, Ordering::Relaxed);
        let deadline =
            self.epoch.elapsed().as_millis() as u64 + self.limits.time.as_millis() as u64;
        self.deadline_ms.store(deadline, Ordering::Relaxed);
    }

    fn classify(&self, msg: String) -> ScriptError {
        if self.interrupted.load(Ordering::Relaxed) {
            ScriptError::Timeout(self.limits.time)
        } else if msg.contains("out of memory")
            || msg.contains("stack overflow")
            || msg.contains("too much recursion")
        {
            ScriptError::ResourceLimit
        } else {
            ScriptError::Exception(msg)
        }
    }

    fn load(&self, name: &str, source: &str) -> Result<(), ScriptError> {
        self.arm();
        self.ctx.with(|ctx| {
            let m = Module::declare(ctx.clone(), name, source)
                .map_err(|e| ScriptError::Compile(describe(&ctx, e)))?;
            let (m, promise) = m.eval().map_err(|e| self.classify(describe(&ctx, e)))?;
            promise
                .finish::<()>()
                .map_err(|e| self.classify(describe(&ctx, e)))?;
            // Keep the module's exports reachable from the global object.
            let ns: rquickjs::Object<'_> = m
                .namespace()
                .map_err(|e| ScriptError::Compile(describe(&ctx, e)))?;
            ctx.globals()
                .set(format!("__module_{name}"), ns)
                .map_err(|e| ScriptError::Compile(describe(&ctx, e)))?;
            Ok(())
        })
    }

    /// Call exported `func` of module `module` with JSON-encoded `args`; returns the
    /// result as JSON.
    fn call(
        &self,
        module: &str,
        func: &'static str,
        args: &[serde_json::Value],
    ) -> Result<serde_json::Value, ScriptError> {
        self.arm();
        let out = self.ctx.with(|ctx| -> Result<String, ScriptError> {
            let ns: rquickjs::Object<'_> = if module.is_empty() {
                ctx.globals()
            } else {
                ctx.globals()
                    .get(format!("__module_{module}"))
                    .map_err(|_| ScriptError::Missing(func))?
            };
            let f: Function<'_> = ns.get(func).map_err(|_| ScriptError::Missing(func))?;
            let mut js_args = rquickjs::function::Args::new(ctx.clone(), args.len());
            for a in args {
                let v = ctx
                    .json_parse(serde_json::to_string(a).expect("json"))
                    .map_err(|e| self.classify(describe(&ctx, e)))?;
                js_args
                    .push_arg(v)
                    .map_err(|e| self.classify(describe(&ctx, e)))?;
            }
            let r: Value<'_> = f
                .call_arg(js_args)
                .map_err(|e| self.classify(describe(&ctx, e)))?;
            let s = ctx
                .json_stringify(r)
                .map_err(|e| self.classify(describe(&ctx, e)))?
                .map(|s| s.to_string())
                .transpose()
                .map_err(|e| self.classify(describe(&ctx, e)))?;
            Ok(s.unwrap_or_else(|| "null".into()))
        })?;
        serde_json::from_str(&out).map_err(|_| ScriptError::BadReturn(out))
    }

    /// The constitution's `validate(proposal)`.
    pub fn validate(&self, proposal_json: &str) -> Result<Validation, ScriptError> {
        let v = self.call(
            "constitution",
            "validate",
            &[serde_json::Value::String(proposal_json.to_string())],
        )?;
        serde_json::from_value(v.clone()).map_err(|_| ScriptError::BadReturn(v.to_string()))
    }

    /// The constitution's `resolve(proposal, proposerId, votes, activeMembers)`.
    pub fn resolve(
        &self,
        proposal_json: &str,
        proposer_id: &str,
        votes: &[Vote],
        active_members: &[String],
    ) -> Result<ProposalState, ScriptError> {
        let v = self.call(
            "constitution",
            "resolve",
            &[
                serde_json::Value::String(proposal_json.to_string()),
                serde_json::Value::String(proposer_id.to_string()),
                serde_json::to_value(votes).expect("json"),
                serde_json::to_value(active_members).expect("json"),
            ],
        )?;
        serde_json::from_value(v.clone()).map_err(|_| ScriptError::BadReturn(v.to_string()))
    }

    /// The constitution's `apply(proposal, proposalId)` over `state` (`{table: {key:
    /// value}}` of the governance tables): the changes it made, in order.
    pub fn apply(
        &self,
        proposal_json: &str,
        proposal_id: &str,
        state: serde_json::Value,
    ) -> Result<Vec<KvChange>, ScriptError> {
        self.call("", "__begin", &[state])?;
        self.call(
            "constitution",
            "apply",
            &[
                serde_json::Value::String(proposal_json.to_string()),
                serde_json::Value::String(proposal_id.to_string()),
            ],
        )?;
        let w = self.call("", "__end", &[])?;
        serde_json::from_value(w.clone()).map_err(|_| ScriptError::BadReturn(w.to_string()))
    }

    /// Run a ballot in a runtime of its own (so that it cannot reach the constitution or
    /// the other ballots): a module exporting `vote(proposal, proposerId)` → boolean.
    pub fn run_ballot(
        limits: Limits,
        ballot_source: &str,
        proposal_json: &str,
        proposer_id: &str,
    ) -> Result<bool, ScriptError> {
        Engine::new("export {};", limits)?.ballot(ballot_source, proposal_json, proposer_id)
    }

    /// Run a ballot: a module exporting `vote(proposal, proposerId)`, returning a boolean.
    /// It shares this engine's runtime: use [`Engine::run_ballot`] for untrusted ballots.
    pub fn ballot(
        &self,
        ballot_source: &str,
        proposal_json: &str,
        proposer_id: &str,
    ) -> Result<bool, ScriptError> {
        self.load("ballot", ballot_source)?;
        let v = self.call(
            "ballot",
            "vote",
            &[
                serde_json::Value::String(proposal_json.to_string()),
                serde_json::Value::String(proposer_id.to_string()),
            ],
        )?;
        v.as_bool()
            .ok_or_else(|| ScriptError::BadReturn(v.to_string()))
    }
}

#[cfg(test)]
#[path = "constitution_test.rs"]
mod constitution_test;
