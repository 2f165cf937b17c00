//! What a trusted node holds (the service key, the ledger secrets) and the files it keeps.

use std::path::{Path, PathBuf};

use consort_crypto::{cert::Certificate, keys::SigningKey};
use consort_kv::{LedgerSecret, LedgerSecrets};
use consort_ledger::identity::NodeIdentity;
use zeroize::Zeroizing;

use super::{
    files::{write_private, write_public},
    seal::{write_sealed, SealedState, Sealer, VirtualSealer},
};
use crate::NodeError;

/// What a trusted node holds and hands to nodes that join: the service identity key and
/// the ledger secrets.
pub(crate) struct NetworkSecrets {
    pub(crate) service_key: SigningKey,
    pub(crate) ledger_secrets: Vec<(u64, Zeroizing<[u8; 32]>)>,
}

impl std::fmt::Debug for NetworkSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkSecrets(<redacted>)")
    }
}

impl NetworkSecrets {
    pub(crate) fn sealed(&self) -> SealedState {
        SealedState {
            service_key: hex::encode(self.service_key.pkcs8_der()),
            ledger_secrets: self
                .ledger_secrets
                .iter()
                .map(|(v, s)| (*v, hex::encode(&s[..])))
                .collect(),
        }
    }

    pub(crate) fn from_sealed(s: &SealedState) -> Result<Self, NodeError> {
        let key = Zeroizing::new(
            hex::decode(&s.service_key).map_err(|_| NodeError::Seal("bad service key".into()))?,
        );
        let mut ledger_secrets = Vec::new();
        for (from, raw) in &s.ledger_secrets {
            let mut b = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(raw, &mut b[..])
                .map_err(|_| NodeError::Seal("bad ledger secret".into()))?;
            ledger_secrets.push((*from, b));
        }
        Ok(Self {
            service_key: SigningKey::from_pkcs8_der(&key)?,
            ledger_secrets,
        })
    }

    pub(crate) fn ledger_secrets(&self) -> Result<LedgerSecrets, NodeError> {
        let mut out = LedgerSecrets::default();
        for (from, raw) in &self.ledger_secrets {
            out.add(*from, LedgerSecret::from_raw(**raw)?);
        }
        Ok(out)
    }
}

/// Files a node keeps in its data directory.
#[derive(Debug)]
pub(crate) struct DataFiles {
    pub node_key: PathBuf,
    pub node_cert: PathBuf,
    pub service_cert: PathBuf,
    pub sealed: PathBuf,
    pub vote: PathBuf,
}

impl DataFiles {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            node_key: dir.join("node_privk.pem"),
            node_cert: dir.join("node_cert.pem"),
            service_cert: dir.join("service_cert.pem"),
            sealed: dir.join("sealed_secrets.bin"),
            vote: dir.join("consensus_vote.json"),
        }
    }

    /// Keep a node's identity and sealed secrets.
    pub(crate) fn write_identity(
        &self,
        node: &NodeIdentity,
        service_cert: &Certificate,
        secrets: &NetworkSecrets,
    ) -> Result<(), NodeError> {
        write_private(&self.node_key, node.key.to_pem().as_bytes())?;
        write_sealed(
            &self.sealed,
            &VirtualSealer::new(&node.key)? as &dyn Sealer,
            &secrets.sealed(),
        )?;
        write_public(&self.node_cert, node.cert.to_pem().as_bytes())?;
        write_public(&self.service_cert, service_cert.to_pem().as_bytes())
    }
}
