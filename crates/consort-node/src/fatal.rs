//! Fatal errors: the node's state may no longer match its files (a failed write or fsync
//! after the in-memory state changed, store/ledger/tree divergence, a poisoned lock). The
//! node then stops with one clear log line instead of serving that state; a restart
//! recovers from the ledger.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, MutexGuard,
};

/// Exit code of a node stopped by a fatal error.
pub const FATAL_EXIT_CODE: i32 = 70;

/// What happens when the node trips: by default the process exits.
pub type FatalHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// Tripped once, by the first fatal error; everything that could serve state checks it.
#[derive(Clone)]
pub struct FatalLatch {
    tripped: Arc<AtomicBool>,
    handler: FatalHandler,
}

impl std::fmt::Debug for FatalLatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FatalLatch(tripped: {})", self.is_tripped())
    }
}

impl FatalLatch {
    /// A latch that runs `handler` (once) when tripped.
    pub fn new(handler: FatalHandler) -> Self {
        Self {
            tripped: Arc::new(AtomicBool::new(false)),
            handler,
        }
    }

    /// A latch that ends the process with [`FATAL_EXIT_CODE`] (what a node does).
    pub fn exit_process() -> Self {
        Self::new(Arc::new(|_| std::process::exit(FATAL_EXIT_CODE)))
    }

    /// Stop the node: log `reason` once, refuse everything from now on, run the handler.
    pub fn trip(&self, reason: &dyn std::fmt::Display) {
        if self.tripped.swap(true, Ordering::SeqCst) {
            return;
        }
        let line = format!("FATAL: {reason}; the node stops (restarting recovers from the ledger)");
        tracing::error!("{line}");
        (self.handler)(&line);
    }

    pub fn is_tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }
}

/// Lock `m`; a poisoned lock (a thread panicked while changing what it guards) is fatal:
/// this panics with one clear message rather than use state that may be half-changed.
pub fn lock<'a, T>(m: &'a Mutex<T>, what: &str) -> MutexGuard<'a, T> {
    match m.lock() {
        Ok(g) => g,
        Err(_) => {
            panic!("the {what} lock is poisoned (a thread panicked while holding it); stopping")
        }
    }
}
