//! Node-to-node channels: mutually authenticated TLS in which both ends present a node
//! certificate endorsed by the service identity, and nothing else is accepted. Frames are
//! length-prefixed byte strings.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use consort_crypto::cert::Certificate;
use consort_ledger::identity::NodeIdentity;
use rustls::{
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName},
    server::WebPkiClientVerifier,
    RootCertStore,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::NodeError;

/// Largest frame accepted.
pub const MAX_FRAME: usize = 64 << 20;

fn roots(service_cert: &Certificate) -> Result<Arc<RootCertStore>, NodeError> {
    let mut r = RootCertStore::empty();
    r.add(CertificateDer::from(service_cert.der().to_vec()))
        .map_err(|e| NodeError::Tls(e.to_string()))?;
    Ok(Arc::new(r))
}

fn chain(node: &NodeIdentity) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (
        vec![CertificateDer::from(node.cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(node.key.pkcs8_der().to_vec())),
    )
}

/// TLS acceptor for the node-to-node interface: client certificates are required and must
/// chain to the service identity.
pub fn acceptor(node: &NodeIdentity, service_cert: &Certificate) -> Result<TlsAcceptor, NodeError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(service_cert)?, provider.clone())
            .build()
            .map_err(|e| NodeError::Tls(e.to_string()))?;
    let (certs, key) = chain(node);
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NodeError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| NodeError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// TLS connector for the node-to-node interface: presents this node's certificate and
/// trusts only peers endorsed by the service identity.
pub fn connector(
    node: &NodeIdentity,
    service_cert: &Certificate,
) -> Result<TlsConnector, NodeError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (certs, key) = chain(node);
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NodeError::Tls(e.to_string()))?
        .with_root_certificates(roots(service_cert)?)
        .with_client_auth_cert(certs, key)
        .map_err(|e| NodeError::Tls(e.to_string()))?;
    Ok(TlsConnector::from(Arc::new(cfg)))
}

/// Write one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> std::io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "frame too large",
        ));
    }
    w.write_all(&(payload.len() as u32).to_be_bytes()).await?;
    w.write_all(payload).await?;
    w.flush().await
}

/// Read one frame (`None` at a clean end of stream).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    Ok(Some(Bytes::from(buf)))
}

/// The peer's node id (hex SHA-256 of its public key), from an accepted connection.
pub fn peer_node_id(certs: Option<&[CertificateDer<'_>]>) -> Option<String> {
    let c = Certificate::from_der(certs?.first()?).ok()?;
    Some(c.public_key_id())
}

/// Complete the TLS handshake of an accepted connection (callers bound its time).
pub async fn handshake(
    tcp: TcpStream,
    acceptor: &TlsAcceptor,
) -> std::io::Result<(String, tokio_rustls::server::TlsStream<TcpStream>)> {
    let tls = acceptor.accept(tcp).await?;
    let id = peer_node_id(tls.get_ref().1.peer_certificates()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no peer certificate")
    })?;
    Ok((id, tls))
}

/// Accept one authenticated node-to-node connection on `listener`.
pub async fn accept(
    listener: &TcpListener,
    acceptor: &TlsAcceptor,
) -> std::io::Result<(String, tokio_rustls::server::TlsStream<TcpStream>)> {
    let (tcp, _) = listener.accept().await?;
    let tls = acceptor.accept(tcp).await?;
    let id = peer_node_id(tls.get_ref().1.peer_certificates()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no peer certificate")
    })?;
    Ok((id, tls))
}

/// Connect to a peer node, from `source` (this node's node-to-node IP) if given.
pub async fn connect(
    addr: SocketAddr,
    connector: &TlsConnector,
    source: Option<std::net::IpAddr>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = match source {
        Some(ip) => {
            let sock = if ip.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            sock.bind(SocketAddr::new(ip, 0))?;
            sock.connect(addr).await?
        }
        None => TcpStream::connect(addr).await?,
    };
    let _ = tcp.set_nodelay(true);
    connector.connect(ServerName::from(addr.ip()), tcp).await
}

#[cfg(test)]
#[path = "n2n_test.rs"]
mod n2n_test;
