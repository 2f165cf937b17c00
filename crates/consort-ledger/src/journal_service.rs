//! Service records a journal writes itself: the service's creation and opening.

use super::*;

impl Journal {
    /// Record a new service (status `Opening`) with this node as its first, trusted node,
    /// then sign. The first transaction of every ledger.
    pub fn bootstrap_service(&self, service_cert: &Certificate) -> Result<TxId, LedgerError> {
        let mut tx = self.begin();
        let create_txid = TxId::new(self.store.view(), self.store.version() + 1);
        put_json(
            &mut tx,
            tables::SERVICE_INFO,
            &tables::SINGLETON_KEY,
            &ServiceInfo {
                cert: service_cert.to_pem(),
                status: ServiceStatus::Opening,
                recovery_count: 0,
                service_data: serde_json::Value::Null,
                current_service_create_txid: Some(create_txid.to_string()),
            },
        );
        put_json(
            &mut tx,
            tables::NODES_INFO,
            self.node.node_id.as_bytes(),
            &NodeInfo::trusted(self.node.public_key_pem()),
        );
        tx.put(
            tables::ENDORSED_CERTIFICATES,
            Bytes::copy_from_slice(self.node.node_id.as_bytes()),
            self.node.cert.to_pem().into_bytes(),
        );
        self.commit(tx)?;
        self.sign()
    }

    /// Set the service status to `Open` and sign.
    pub fn open_service(&self) -> Result<TxId, LedgerError> {
        let mut tx = self.begin();
        let raw = tx
            .get(tables::SERVICE_INFO, &tables::SINGLETON_KEY)
            .ok_or_else(|| LedgerError::Invalid {
                path: self.config.dir.clone(),
                reason: "no service record".into(),
            })?;
        let mut info: ServiceInfo =
            serde_json::from_slice(&raw).map_err(|e| LedgerError::Invalid {
                path: self.config.dir.clone(),
                reason: format!("service record: {e}"),
            })?;
        info.status = ServiceStatus::Open;
        put_json(&mut tx, tables::SERVICE_INFO, &tables::SINGLETON_KEY, &info);
        self.commit(tx)?;
        self.sign()
    }
}

fn put_json<T: serde::Serialize>(tx: &mut Tx, map: &str, key: &[u8], value: &T) {
    tx.put(
        map,
        Bytes::copy_from_slice(key),
        serde_json::to_vec(value).expect("serializable"),
    );
}
