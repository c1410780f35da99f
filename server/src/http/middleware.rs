//! Middleware and fallbacks: the protocol and cache headers on every reply, one log line per
//! request (the route template, never the concrete path), JSON 404 and 405 replies.

use crate::error::ApiError;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use enroll_proto::{PROTOCOL_HEADER, PROTOCOL_VERSION};

pub(super) async fn stamp(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

pub(super) async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    // The route template, never the concrete path or query (they may carry identifiers).
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        %method,
        route = route.as_deref().unwrap_or("<unmatched>"),
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::bad_request("method not allowed on this route").with_status(StatusCode::METHOD_NOT_ALLOWED)
}
