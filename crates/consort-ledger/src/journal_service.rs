//! Creating a service on a bare journal (tests, benchmarks and tools): the genesis writes
//! are `consort_service::genesis`'s; this commits them and signs.

use consort_service::{genesis, nodes::NodeInfo, service::ServiceStatus};

use super::*;

impl Journal {
    /// Record a new service (status `Opening`) with this node as its first, trusted node,
    /// then sign: the first transaction of a ledger.
    pub fn bootstrap_service(&self, service_cert: &Certificate) -> Result<TxId, LedgerError> {
        let mut tx = self.begin();
        let create_txid = TxId::new(self.store.view(), self.store.version() + 1);
        genesis::record_service(
            &mut tx,
            service_cert,
            create_txid,
            &self.node.node_id,
            &NodeInfo::trusted(self.node.public_key_pem()),
            &self.node.cert,
        );
        self.commit(tx)?;
        self.sign()
    }

    /// Set the service status to `Open` and sign.
    pub fn open_service(&self) -> Result<TxId, LedgerError> {
        let mut tx = self.begin();
        genesis::set_service_status(&mut tx, ServiceStatus::Open).map_err(|e| {
            LedgerError::Invalid {
                path: self.config.dir.clone(),
                reason: e.to_string(),
            }
        })?;
        self.commit(tx)?;
        self.sign()
    }
}
