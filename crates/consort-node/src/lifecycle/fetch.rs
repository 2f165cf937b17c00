//! Fetching files from another node of the service as a trusted node, with CCF's
//! endpoints (`frontends::files` serves them).

use bytes::Bytes;
use consort_client::ClientConfig;

/// Bytes per ranged request of a snapshot download.
const FETCH_STEP: u64 = 4 << 20;

/// The newest committed snapshot after seqno `since` of the node at `client`, fetched as a trusted node with
/// CCF's endpoints: `/node/snapshot` names it (308), HEAD gives its size, and it comes in
/// ranges of [`FETCH_STEP`]. `None`: the node has none. (Verified by the caller, against
/// its receipt, before it is used.)
pub(super) async fn fetch_snapshot(
    client: &ClientConfig,
    since: u64,
) -> Result<Option<Vec<u8>>, String> {
    let mut c = client.connect().await.map_err(|e| e.to_string())?;
    let r = c
        .get(&format!("/node/snapshot?since={since}"))
        .await
        .map_err(|e| e.to_string())?;
    match r.status {
        404 => return Ok(None),
        308 => {}
        s => return Err(format!("GET /node/snapshot: {s} {}", refusal(&r.body))),
    }
    let loc = r
        .header("location")
        .filter(|l| {
            l.strip_prefix("/node/snapshot/")
                .is_some_and(|n| super::snapshots::snapshot_seqno(n).is_some())
        })
        .ok_or("GET /node/snapshot: no snapshot named in its redirect")?
        .to_string();
    let request = |method: http::Method, range: Option<String>| {
        let mut b = http::Request::builder()
            .method(method)
            .uri(&loc)
            .header(http::header::HOST, "consort");
        if let Some(r) = range {
            b = b.header(http::header::RANGE, r);
        }
        b.body(http_body_util::Full::new(Bytes::new()))
            .map_err(|e| e.to_string())
    };
    let head = c
        .send(request(http::Method::HEAD, None)?)
        .await
        .map_err(|e| e.to_string())?;
    let len: u64 = match (head.status, head.header("content-length")) {
        (200, Some(l)) => l
            .parse()
            .map_err(|_| format!("HEAD {loc}: bad content-length"))?,
        (s, _) => return Err(format!("HEAD {loc}: {s}")),
    };
    let mut out = Vec::with_capacity(usize::try_from(len).map_err(|_| "snapshot too large")?);
    while (out.len() as u64) < len {
        let first = out.len() as u64;
        let last = (first + FETCH_STEP).min(len) - 1;
        let r = c
            .send(request(
                http::Method::GET,
                Some(format!("bytes={first}-{last}")),
            )?)
            .await
            .map_err(|e| e.to_string())?;
        let expected = format!("bytes {first}-{last}/{len}");
        if r.status != 206 || r.header("content-range") != Some(expected.as_str()) {
            return Err(format!(
                "GET {loc} ({expected}): {} {}",
                r.status,
                refusal(&r.body)
            ));
        }
        if r.body.len() as u64 != last - first + 1 {
            return Err(format!("GET {loc} ({expected}): {} bytes", r.body.len()));
        }
        out.extend_from_slice(&r.body);
    }
    Ok(Some(out))
}

/// The reason in a refusal (CCF's `{"error": {"code", "message"}}`), or the body.
pub(super) fn refusal(body: &[u8]) -> String {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    match v
        .as_ref()
        .map(|v| (&v["error"]["code"], &v["error"]["message"]))
    {
        Some((serde_json::Value::String(c), serde_json::Value::String(m))) => format!("{c}: {m}"),
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}
