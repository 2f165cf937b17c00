//! EVMs whose call frames are reused: revm's `build_mainnet` allocates eight call frames
//! (each with a 1,024-word stack) for every EVM it builds, and one EVM is built per
//! transaction, so each transfer allocated, zeroed and freed ≈ 300 KB (2.4 % of the
//! primary's time under `bench --eth`, and the page faults of memory handed back to the
//! kernel in between). The frames are kept per thread instead and handed to the next EVM
//! that thread builds; revm resets a frame stack when a transaction starts, as it does
//! when one EVM runs many transactions.

use std::cell::RefCell;

use revm::{
    context::{Block, Cfg, Context, Evm, JournalTr, Transaction},
    context_interface::local::FrameStack,
    database_interface::Database,
    handler::{instructions::EthInstructions, EthFrame, EthPrecompiles, MainnetEvm},
    interpreter::interpreter::EthInterpreter,
};

thread_local! {
    static FRAMES: RefCell<Option<FrameStack<EthFrame<EthInterpreter>>>> =
        const { RefCell::new(None) };
}

/// `build_mainnet`, with this thread's kept frames.
pub(crate) fn build<BLOCK, TX, CFG, DB, JOURNAL, CHAIN>(
    ctx: Context<BLOCK, TX, CFG, DB, JOURNAL, CHAIN>,
) -> MainnetEvm<Context<BLOCK, TX, CFG, DB, JOURNAL, CHAIN>>
where
    BLOCK: Block,
    TX: Transaction,
    CFG: Cfg,
    DB: Database,
    JOURNAL: JournalTr<Database = DB>,
{
    let spec = ctx.cfg.spec().into();
    let frame_stack = FRAMES
        .with(|f| f.borrow_mut().take())
        .unwrap_or_else(|| FrameStack::new_prealloc(8));
    Evm {
        ctx,
        inspector: (),
        instruction: EthInstructions::new_mainnet_with_spec(spec),
        precompiles: EthPrecompiles::new(spec),
        frame_stack,
    }
}

/// Keep `evm`'s frames for this thread's next EVM.
pub(crate) fn recycle<CTX>(evm: MainnetEvm<CTX>) {
    // Moved out, not replaced: a fresh `FrameStack` allocates room for eight frames.
    let Evm {
        frame_stack: frames,
        ..
    } = evm;
    FRAMES.with(|f| *f.borrow_mut() = Some(frames));
}
