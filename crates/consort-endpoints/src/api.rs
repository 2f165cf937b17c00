//! Requests, responses and CCF-style errors of the endpoint framework.

use std::collections::BTreeMap;

use bytes::Bytes;
use consort_crypto::cert::Certificate;
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

/// CCF's error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::bad_request("InvalidInput", message)
    }
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::bad_request("InvalidQueryParameterValue", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFound", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationInfo",
            message,
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AuthorizationFailed", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn body(&self) -> Bytes {
        Bytes::from(
            serde_json::to_vec(
                &serde_json::json!({"error": {"code": self.code, "message": self.message}}),
            )
            .expect("json"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    User {
        id: String,
    },
    Member {
        id: String,
    },
    /// A bearer token from a trusted issuer.
    Jwt {
        issuer: String,
        subject: String,
    },
    /// A trusted node of the service (its TLS client certificate's key is the node's).
    Node {
        id: String,
    },
}

impl Caller {
    pub fn id(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::User { id } | Caller::Member { id } | Caller::Node { id } => Some(id),
            Caller::Jwt { subject, .. } => Some(subject),
        }
    }
}

/// A request as handlers see it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    /// Values of `{name}` segments of the endpoint's path template.
    pub params: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub caller: Caller,
    /// The TLS client certificate, if one was presented.
    pub client_cert: Option<Certificate>,
    /// For COSE Sign1 requests: the protected header parameters with text labels (e.g.
    /// `ccf.gov.msg.type`), after the signature was verified. The body is then the payload.
    pub cose_headers: BTreeMap<String, serde_json::Value>,
}

impl Request {
    /// Parse the body as JSON, or fail with 400 `InvalidInput` — or 415
    /// `UnsupportedContentType` when the request declares another content type (none
    /// declared is read as JSON).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        if let Some(ct) = self.headers.get(http::header::CONTENT_TYPE) {
            let essence = ct
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .map(|v| v.trim().to_ascii_lowercase());
            let json = essence
                .as_deref()
                .is_some_and(|e| e == "application/json" || e.ends_with("+json"));
            // COSE requests carry JSON payloads (the body is the verified payload).
            if !json && self.cose_headers.is_empty() {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedContentType",
                    format!(
                        "Unsupported content type {:?}: this endpoint takes application/json.",
                        ct.to_str().unwrap_or("(not text)")
                    ),
                ));
            }
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::invalid_input(format!(
                "request body is not valid JSON for this endpoint: {e}"
            ))
        })
    }

    /// A required query parameter, parsed.
    pub fn query_param<T: std::str::FromStr>(&self, name: &str) -> Result<T, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        let v = self
            .query
            .get(name)
            .ok_or_else(|| ApiError::invalid_query(format!("missing query parameter '{name}'")))?;
        v.parse().map_err(|e| {
            ApiError::invalid_query(format!("invalid value for query parameter '{name}': {e}"))
        })
    }

    /// Parse a query string: each parameter at most once (400 `InvalidQueryParameterValue`
    /// otherwise: which of two values to take would be a guess).
    pub fn parse_query(q: Option<&str>) -> Result<BTreeMap<String, String>, ApiError> {
        let mut out = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(q.unwrap_or_default().as_bytes()) {
            if out.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(ApiError::invalid_query(format!(
                    "query parameter '{k}' is given more than once"
                )));
            }
        }
        Ok(out)
    }

    pub fn query_opt<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        if self.query.contains_key(name) {
            self.query_param(name).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A response from a handler.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub content_type: std::borrow::Cow<'static, str>,
    pub body: Bytes,
    pub headers: Vec<(http::HeaderName, String)>,
}

impl Response {
    pub fn json<T: Serialize + ?Sized>(v: &T) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "application/json".into(),
            body: Bytes::from(serde_json::to_vec(v).expect("json")),
            headers: Vec::new(),
        }
    }

    pub fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type: content_type.into(),
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}
