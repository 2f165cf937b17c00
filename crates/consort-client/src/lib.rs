//! A small HTTPS client for Consort services.
//!
//! Trusts exactly the service identity certificate (node certificates are issued by it)
//! and can present a client certificate (users and members). One [`Connection`] is one
//! HTTP/1.1 keep-alive connection; open several for concurrency. [`gov`] signs governance
//! requests (COSE Sign1, CCF's headers) with a member's key, locally.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use consort_crypto::{cert::Certificate, keys::SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub mod gov;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("connection to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP: {0}")]
    Http(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("{0}")]
    Key(String),
}

/// How to reach a service: its address and identity, and who we are.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
}

impl ClientConfig {
    /// Trust `service_cert`; present `identity` (certificate and key) if given.
    pub fn new(
        addr: SocketAddr,
        service_cert: &Certificate,
        identity: Option<(&Certificate, &SigningKey)>,
    ) -> Result<Self, ClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(service_cert.der().to_vec()))
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let cfg = match identity {
            Some((cert, key)) => b
                .with_client_auth_cert(
                    vec![CertificateDer::from(cert.der().to_vec())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec())),
                )
                .map_err(|e| ClientError::Tls(e.to_string()))?,
            None => b.with_no_client_auth(),
        };
        Ok(Self {
            addr,
            tls: Arc::new(cfg),
        })
    }

    /// Open a connection.
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: self.addr,
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::from(self.addr.ip());
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|source| ClientError::Connect {
                addr: self.addr,
                source,
            })?;
        let (sender, conn) = http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection { sender })
    }
}

/// A response: status, transaction id header (if any), body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub txid: Option<String>,
    pub body: Bytes,
    pub headers: http::HeaderMap,
}

impl Reply {
    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ClientError::Http(format!("response is not JSON: {e}")))
    }
}

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn request(
        &mut self,
        method: http::Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Reply, ClientError> {
        let mut b = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "consort");
        if body.is_some() {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = b
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        self.send(req).await
    }

    /// POST `body` with `content_type`.
    pub async fn post(
        &mut self,
        path: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<Reply, ClientError> {
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(path)
            .header(http::header::HOST, "consort")
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        self.send(req).await
    }

    /// Send a request built by the caller (other methods, headers such as `Range`).
    pub async fn send(&mut self, req: http::Request<Full<Bytes>>) -> Result<Reply, ClientError> {
        self.sender
            .ready()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let status = parts.status.as_u16();
        let txid = parts
            .headers
            .get("x-ms-ccf-transaction-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let headers = parts.headers;
        let body = body
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        Ok(Reply {
            status,
            txid,
            body,
            headers,
        })
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.request(http::Method::GET, path, None).await
    }

    pub async fn delete(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.request(http::Method::DELETE, path, None).await
    }

    pub async fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, ClientError> {
        self.request(
            http::Method::POST,
            path,
            Some(Bytes::from(serde_json::to_vec(body).expect("json"))),
        )
        .await
    }
}

/// Wait until the node at `addr` reports the service `Open` on `/node/network`, reading
/// the service certificate from `service_cert_file` once the node has written it.
/// `still_running` is polled so a node that dies is noticed at once.
pub async fn wait_until_open(
    addr: SocketAddr,
    service_cert_file: &std::path::Path,
    timeout: std::time::Duration,
    still_running: impl FnMut() -> bool,
) -> Result<Certificate, ClientError> {
    wait_until_status(addr, service_cert_file, timeout, &["Open"], still_running).await
}

/// [`wait_until_open`] for any of `statuses` (e.g. `Recovering` for a recovery node).
pub async fn wait_until_status(
    addr: SocketAddr,
    service_cert_file: &std::path::Path,
    timeout: std::time::Duration,
    statuses: &[&str],
    mut still_running: impl FnMut() -> bool,
) -> Result<Certificate, ClientError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if !still_running() {
            return Err(ClientError::Http(
                "the node exited before the service reached the expected status".into(),
            ));
        }
        if std::time::Instant::now() > deadline {
            return Err(ClientError::Http(format!(
                "the service did not reach {statuses:?} within {timeout:?}"
            )));
        }
        if let Ok(pem) = std::fs::read_to_string(service_cert_file) {
            if let Ok(cert) = Certificate::from_pem(&pem) {
                if let Ok(mut c) = ClientConfig::new(addr, &cert, None)?.connect().await {
                    if let Ok(r) = c.get("/node/network").await {
                        let ok = r
                            .json()
                            .is_ok_and(|j| statuses.iter().any(|s| j["service_status"] == *s));
                        if ok {
                            return Ok(cert);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
