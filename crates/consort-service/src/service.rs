//! The service record and the service's configuration.

use consort_kv::typed::{Json, Value};
use serde::{Deserialize, Serialize};

/// The service record: identity certificate and status.
pub const INFO: Value<ServiceInfo, Json> = Value::new("public:ccf.gov.service.info");
/// The service configuration governance sets (e.g. `recovery_threshold`).
pub const CONFIG: Value<serde_json::Value, Json> = Value::new("public:ccf.gov.service.config");

/// Service status, as in CCF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceStatus {
    Opening,
    Open,
    WaitingForRecoveryShares,
    Recovering,
}

/// The service record in [`INFO`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// PEM of the service identity certificate.
    pub cert: String,
    pub status: ServiceStatus,
    #[serde(default)]
    pub recovery_count: u64,
    #[serde(default)]
    pub service_data: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_service_create_txid: Option<String>,
    /// A recovered service: where the previous service's record was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_service_identity_version: Option<u64>,
}
