//! Members and users, by the SHA-256 fingerprint of their certificate (as CCF does).

use consort_kv::typed::{Json, Map, Str};
use serde::{Deserialize, Serialize};

/// Members' certificates (PEM), by member id.
pub const MEMBERS_CERTS: Map<String, String, Str, Str> = Map::new("public:ccf.gov.members.certs");
/// Members' state and data, by member id.
pub const MEMBERS_INFO: Map<String, MemberInfo, Str, Json> =
    Map::new("public:ccf.gov.members.info");
/// Recovery members' RSA encryption public keys (PEM), by member id.
pub const MEMBERS_ENC_KEYS: Map<String, String, Str, Str> =
    Map::new("public:ccf.gov.members.encryption_public_keys");
/// Users' certificates (PEM), by user id.
pub const USERS_CERTS: Map<String, String, Str, Str> = Map::new("public:ccf.gov.users.certs");
/// Users' data, by user id.
pub const USERS_INFO: Map<String, UserInfo, Str, Json> = Map::new("public:ccf.gov.users.info");

/// A member's record: `Accepted` until it acknowledges, then `Active` (CCF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub status: String,
    #[serde(default)]
    pub member_data: serde_json::Value,
    /// CCF's `recovery_role` (`Participant`, `NonParticipant`); absent: a participant if
    /// the member has an encryption key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_role: Option<String>,
}

/// A user's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub user_data: serde_json::Value,
}
