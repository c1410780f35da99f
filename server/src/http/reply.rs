//! Replies (JSON, CSV, images) and query parameters shared by the domains' routes.

use crate::common::DEVICE_PAGE;
use crate::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use enroll_proto::JSON_CONTENT_TYPE;
use serde::Serialize;
use std::collections::BTreeMap;

/// A JSON reply.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut resp = (status, bytes).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
            resp
        }
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// Query parameters of the bulk and KME routes; unknown names are refused.
pub(crate) fn query(uri: &axum::http::Uri, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(ApiError::bad_request("unknown query parameter"));
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(ApiError::bad_request("repeated query parameter"));
        }
    }
    Ok(out)
}

/// An integer query parameter, `default` when absent, at most `max`.
pub(crate) fn number(
    q: &BTreeMap<String, String>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be an integer from 0 to {max}"))),
    }
}

/// The `offset` and `limit` of a device listing.
pub(crate) fn page(uri: &axum::http::Uri) -> Result<(u64, u64), ApiError> {
    let q = query(uri, &["offset", "limit"])?;
    let (default, max) = DEVICE_PAGE;
    Ok((
        number(&q, "offset", 0, u64::from(u32::MAX))?,
        number(&q, "limit", default, max)?.max(1),
    ))
}

/// The `format` and `scale` of a QR code image.
pub(crate) fn image_params(uri: &axum::http::Uri) -> Result<(crate::qr::ImageFormat, u32), ApiError> {
    let q = query(uri, &["format", "scale"])?;
    let format = match q.get("format") {
        None => crate::qr::ImageFormat::Png,
        Some(f) => crate::qr::ImageFormat::parse(f)
            .ok_or_else(|| ApiError::bad_request("format must be png or svg"))?,
    };
    let scale = number(&q, "scale", u64::from(crate::qr::DEFAULT_SCALE), 32)?;
    let scale = u32::try_from(scale).unwrap_or(crate::qr::DEFAULT_SCALE);
    if !crate::qr::SCALE_RANGE.contains(&scale) {
        return Err(ApiError::bad_request("scale must be 2 to 32 pixels per module"));
    }
    Ok((format, scale))
}

/// A CSV download.
pub(crate) fn csv_reply(bytes: Vec<u8>, filename: &'static str) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// A QR code image.
pub(crate) fn image_reply(bytes: Vec<u8>, format: crate::qr::ImageFormat) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    resp
}
