//! CCF's JSON error body for the refusals hyper makes by itself.
//!
//! hyper answers a request it cannot parse (a malformed request line or header, a head past
//! the size limit, an over-long URI) with an automatic `400`/`431`/`414` and an empty body
//! before any handler sees it, and then closes. [`JsonErrors`] sits between hyper and the
//! TLS stream: such a response (the only 4xx responses with `content-length: 0`: every
//! handler's refusal carries a body) is rewritten with `{"error": {"code", "message"}}`,
//! and on close the rest of the request is read and discarded for a moment (bounded), so
//! that the client — perhaps still sending a huge header — gets the answer rather than a
//! connection reset.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes read and discarded after an automatic error response.
const DRAIN_BYTES: usize = 2 << 20;
/// Longest wait for them.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// An I/O stream whose automatic HTTP/1 error responses get JSON bodies.
#[derive(Debug)]
pub(crate) struct JsonErrors<IO> {
    io: IO,
    /// A rewritten response being written, and how much of it is.
    out: Option<(Vec<u8>, usize)>,
    /// Set once a rewritten response was sent: what is left to drain on shutdown.
    drain: Option<Drain>,
}

#[derive(Debug)]
struct Drain {
    left: usize,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<IO> JsonErrors<IO> {
    pub(crate) fn new(io: IO) -> Self {
        Self {
            io,
            out: None,
            drain: None,
        }
    }
}

/// The JSON version of `buf`, if it is exactly the head of an automatic error response.
pub(crate) fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(buf).ok()?;
    let head = head.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?;
    let status: u16 = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let (code, message) = match status {
        400 => (
            "MalformedRequest",
            "The request could not be parsed as HTTP/1.1 (request line, header or framing).",
        ),
        431 => (
            "RequestHeaderTooLarge",
            "The request's header is larger than this node accepts.",
        ),
        414 => ("RequestUriTooLong", "The request's URI is too long."),
        _ => return None,
    };
    let mut others = Vec::new();
    let mut empty = false;
    for l in lines {
        let (name, value) = l.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            empty = value.trim() == "0";
        } else {
            others.push(l);
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let mut out = format!("{version} {status} {reason}\r\n");
    for l in others {
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    Some(out.into_bytes())
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonErrors<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> JsonErrors<IO> {
    /// Write out what is left of a rewritten response.
    fn poll_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, at)) = self.out.as_mut() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *at += n;
            if *at == bytes.len() {
                self.out = None;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Read and discard the rest of the request, within the bounds.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(d) = self.drain.as_mut() else {
            return Poll::Ready(());
        };
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if d.left == 0 || d.deadline.as_mut().poll(cx).is_ready() {
                break;
            }
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                    d.left = d.left.saturating_sub(rb.filled().len());
                }
                Poll::Ready(_) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        self.drain = None;
        Poll::Ready(())
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for JsonErrors<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_out(cx))?;
        if buf.starts_with(b"HTTP/1.") && buf.get(9) == Some(&b'4') {
            if let Some(json) = rewrite(buf) {
                self.out = Some((json, 0));
                self.drain = Some(Drain {
                    left: DRAIN_BYTES,
                    deadline: Box::pin(tokio::time::sleep(DRAIN_TIME)),
                });
                // Accepted whole; written by the next write, flush or shutdown.
                let _ = self.poll_out(cx)?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_out(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_out(cx))?;
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        ready!(self.poll_drain(cx));
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes a response head in one buffer, which `rewrite` sees.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
#[path = "proto_errors_test.rs"]
mod proto_errors_test;
