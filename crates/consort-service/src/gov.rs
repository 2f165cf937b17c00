//! Governance tables: the constitution, proposals and their state, signed-request history.
//! The records of proposals are `consort-governance`'s; here are the names, once.

use consort_kv::typed::{Json, Map, Str, Value};

/// The constitution in force (JavaScript source, as a JSON string).
pub const CONSTITUTION: Value<String, Json> = Value::new("public:ccf.gov.constitution");
/// Proposals' text, by proposal id.
pub const PROPOSALS: Map<String, String, Str, Str> = Map::new("public:ccf.gov.proposals");
/// Proposals' state, ballots and votes, by proposal id (JSON).
pub const PROPOSALS_INFO: Map<String, serde_json::Value, Str, Json> =
    Map::new("public:ccf.gov.proposals_info");
/// Signed governance requests already seen (replay protection), by signed digest.
pub const COSE_RECENT: Map<String, serde_json::Value, Str, Json> =
    Map::new("public:ccf.gov.cose_recent_proposals");
/// Each member's latest signed governance request (the ledger keeps every one).
pub const HISTORY: Map<String, serde_json::Value, Str, Json> = Map::new("public:ccf.gov.history");
/// Member activation: the state digest each member acknowledges, by member id.
pub const MEMBERS_ACKS: Map<String, serde_json::Value, Str, Json> =
    Map::new("public:ccf.gov.members.acks");
