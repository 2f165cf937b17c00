//! Governance for Consort. So far: the constitution runtime — the consortium's rules as a
//! JavaScript module (`validate`, `resolve`, ballots as `vote` functions) run in an embedded
//! QuickJS with memory, stack and time limits, so that a script that loops or blows its
//! limits fails cleanly instead of stalling or crashing the node.

mod constitution;

pub use constitution::{
    Engine, Limits, ProposalState, ScriptError, Validation, Vote, DEFAULT_CONSTITUTION,
};
