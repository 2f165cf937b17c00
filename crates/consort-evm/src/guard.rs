//! What code may learn of accounts its party may not see. A transaction runs for its
//! sender's owner, a call (`eth_call`, `eth_estimateGas`) for its caller; the EVM answers
//! that party's code as the RPC answers the party itself:
//!
//! - `BALANCE` of an account the party may not see is 0 (the executing contract's own
//!   balance is always real, as `SELFBALANCE` is);
//! - `EXTCODEHASH` of a private contract whose code the party may not read is the hash of
//!   empty code, and `EXTCODECOPY` copies zeros (a contract's own code is always real);
//!   `EXTCODEHASH` of an account without code that the party may not see is 0, as for an
//!   account that does not exist.
//!
//! Gas is charged exactly as for the real read (the account is loaded the same way), so the
//! answer does not show through the gas used. `EXTCODESIZE` stays real: Solidity checks it
//! before calling a contract. Transfers, calls and `SELFBALANCE` are unchanged.

use alloy_primitives::{Address, U256};
use revm::{
    bytecode::opcode,
    context::{Block, CfgEnv, Context, Journal, TxEnv},
    handler::instructions::EthInstructions,
    interpreter::{
        instructions::{host, utility::IntoAddress},
        interpreter::EthInterpreter,
        interpreter_types::InputsTr,
        Host, Instruction, InstructionContext, InstructionExecResult,
    },
    primitives::KECCAK_EMPTY,
};

use crate::{db::EvmDb, visibility::Viewer};

/// What the instructions ask of their host: may the party see `a`'s balance, its code?
pub trait Guarded {
    fn hides_account(&mut self, a: &Address) -> bool;
    fn hides_code(&mut self, a: &Address) -> bool;
}

/// The party code runs for, as the revm context's chain field: given (a call's caller), or
/// the owner of a transaction's sender, looked up only when a guarded instruction first
/// asks (most transactions execute none, and pay nothing for it).
#[derive(Debug, Clone)]
pub struct Party {
    sender: Address,
    viewer: Option<Viewer>,
}

impl Party {
    /// The caller of a call.
    pub fn caller(viewer: Viewer) -> Party {
        Party {
            sender: Address::ZERO,
            viewer: Some(viewer),
        }
    }

    /// Whoever `sender` is bound to.
    pub fn sender(sender: Address) -> Party {
        Party {
            sender,
            viewer: None,
        }
    }

    fn viewer(&mut self, tx: &mut consort_kv::Tx) -> &Viewer {
        let sender = self.sender;
        self.viewer
            .get_or_insert_with(|| Viewer::of_sender(tx, &sender))
    }
}

impl<'a, B: Block> Guarded for Context<B, TxEnv, CfgEnv, EvmDb<'a>, Journal<EvmDb<'a>>, Party> {
    fn hides_account(&mut self, a: &Address) -> bool {
        let tx = &mut *self.journaled_state.database.kv.tx;
        !self.chain.viewer(tx).sees_account(tx, a)
    }

    fn hides_code(&mut self, a: &Address) -> bool {
        let tx = &mut *self.journaled_state.database.kv.tx;
        self.chain.viewer(tx).may_read_code(tx, a).is_err()
    }
}

/// Replace `BALANCE`, `EXTCODEHASH` and `EXTCODECOPY` in `table` by their guarded forms.
pub fn install<H: Host + Guarded>(table: &mut EthInstructions<EthInterpreter, H>) {
    let guarded: [(u8, Op<H>); 3] = [
        (opcode::BALANCE, balance::<H>),
        (opcode::EXTCODEHASH, extcodehash::<H>),
        (opcode::EXTCODECOPY, extcodecopy::<H>),
    ];
    for (op, f) in guarded {
        let gas = table.gas_table()[op as usize];
        table.insert_instruction(op, Instruction::new(f), gas);
    }
}

type Ictx<'a, H> = InstructionContext<'a, H, EthInterpreter>;
type Op<H> = fn(Ictx<'_, H>) -> InstructionExecResult;

/// The address operand `n` places from the top of the stack.
fn operand<H: ?Sized>(
    c: &Ictx<'_, H>,
    n: usize,
) -> Result<U256, revm::interpreter::InstructionResult> {
    c.interpreter.stack.peek(n)
}

fn reborrow<'b, H: ?Sized>(c: &'b mut Ictx<'_, H>) -> Ictx<'b, H> {
    InstructionContext {
        interpreter: &mut *c.interpreter,
        host: &mut *c.host,
    }
}

fn balance<H: Host + Guarded + ?Sized>(mut c: Ictx<'_, H>) -> InstructionExecResult {
    let target = operand(&c, 0)?.into_address();
    host::balance(reborrow(&mut c))?;
    if target != c.interpreter.input.target_address() && c.host.hides_account(&target) {
        c.interpreter.stack.set(0, U256::ZERO)?;
    }
    Ok(())
}

fn extcodehash<H: Host + Guarded + ?Sized>(mut c: Ictx<'_, H>) -> InstructionExecResult {
    let target = operand(&c, 0)?.into_address();
    host::extcodehash(reborrow(&mut c))?;
    let hash = c.interpreter.stack.peek(0)?;
    if hash.is_zero() || target == c.interpreter.input.target_address() {
        return Ok(());
    }
    if hash != U256::from_be_bytes(KECCAK_EMPTY.0) {
        if c.host.hides_code(&target) {
            c.interpreter.stack.set(0, KECCAK_EMPTY.into())?;
        }
    } else if c.host.hides_account(&target) {
        // An account without code that exists only as a balance or nonce: as nonexistent.
        c.interpreter.stack.set(0, U256::ZERO)?;
    }
    Ok(())
}

fn extcodecopy<H: Host + Guarded + ?Sized>(mut c: Ictx<'_, H>) -> InstructionExecResult {
    let target = operand(&c, 0)?.into_address();
    let (offset, len) = (operand(&c, 1)?, operand(&c, 3)?);
    host::extcodecopy(reborrow(&mut c))?;
    // Past here the copy succeeded, so `len` (and, when it is not 0, `offset`) fit memory.
    let len = usize::try_from(len).unwrap_or(0);
    if len != 0 && target != c.interpreter.input.target_address() && c.host.hides_code(&target) {
        let offset = usize::try_from(offset).unwrap_or(0);
        c.interpreter.memory.set_data(offset, 0, len, &[]);
    }
    Ok(())
}

#[cfg(test)]
#[path = "guard_test.rs"]
mod guard_test;
