//! Refusals that reach the client over HTTP/2 as well as HTTP/1.1: the request body a handler
//! leaves unread (a body too large, a missing admin token, an unknown route) is read to its end
//! and discarded before the reply goes out, within bounds.
//!
//! Without this, hyper answers while the client is still sending: over HTTP/2, h2 follows the
//! complete reply with `RST_STREAM(NO_ERROR)` (RFC 9113 §8.1: "stop sending"), and clients that
//! are still uploading, e.g. curl 7.88 whose upload waits on the 64 KiB initial window, fail the
//! whole transfer ("Stream error in the HTTP/2 framing layer") and drop the reply; whether the
//! reply or the reset wins is a race, hence "sometimes". Over HTTP/1.1 the connection is closed
//! with unread bytes in the socket, which the kernel may answer with a TCP reset that loses the
//! reply. Reading the rest
//! of a small body lets the request end normally on both versions. A body larger than
//! [`DRAIN_MAX_BYTES`], or one that does not arrive within [`DRAIN_TIMEOUT`], is left as
//! before (its reply is still sent; only that client may lose it).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// At most this many unread bytes are read and discarded after a refusal: twice the largest
/// buffered route limit (the Apple command channel's 4 MiB), so that a body just over any
/// route's limit is still read to its end and its 413 reaches the client instead of a broken
/// pipe (seen under load with a 4 MiB + 1 report to `/mdm/server`).
pub(crate) const DRAIN_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// At most this long is spent reading them.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

type Slot = Arc<Mutex<Option<Body>>>;

/// The request body as the handler sees it; when dropped before its end, it leaves the rest
/// in the slot for [`drain_unread`].
struct Tracked {
    inner: Option<Body>,
    slot: Slot,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.inner = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take() {
            if !body.is_end_stream() {
                if let Ok(mut slot) = self.slot.lock() {
                    *slot = Some(body);
                }
            }
        }
    }
}

/// Middleware: runs the handler, then reads and discards what it left of the request body
/// (bounded by [`DRAIN_MAX_BYTES`] and [`DRAIN_TIMEOUT`]) before answering.
pub(super) async fn drain_unread(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A body declared larger than the bound will not be drained: no need to watch it.
    if declared.is_some_and(|n| n > DRAIN_MAX_BYTES) || req.body().is_end_stream() {
        return next.run(req).await;
    }
    let slot: Slot = Arc::new(Mutex::new(None));
    let (parts, body) = req.into_parts();
    let tracked = Tracked {
        inner: Some(body),
        slot: slot.clone(),
    };
    let resp = next.run(Request::from_parts(parts, Body::new(tracked))).await;
    let leftover = slot.lock().ok().and_then(|mut s| s.take());
    if let Some(body) = leftover {
        discard(body).await;
    }
    resp
}

async fn discard(mut body: Body) {
    let read = async {
        let mut total: u64 = 0;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return };
            if let Some(data) = frame.data_ref() {
                total += data.len() as u64;
                if total > DRAIN_MAX_BYTES {
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, read).await.is_err() {
        tracing::debug!("unread request body did not arrive in time");
    }
}
