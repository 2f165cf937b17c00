//! Governance for Consort: the consortium's rules as a JavaScript constitution
//! (`validate`, `resolve`, `apply`; ballots as `vote` functions) run in an embedded QuickJS
//! with memory, stack and time limits, and the proposal state machine over the
//! `public:ccf.gov.*` tables.

mod constitution;
pub mod proposals;
pub mod tables;

pub use constitution::{
    with_app_actions, Engine, KvChange, Limits, NodeRequest, ProposalState, ScriptError,
    Validation, Vote, DEFAULT_CONSTITUTION,
};
pub use proposals::{FinalState, GovError, ProposalInfo};
