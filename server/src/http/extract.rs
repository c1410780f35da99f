//! Extractors: every failure is a JSON error reply, never a plain-text rejection.

use super::AppState;
use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use enroll_proto::{ErrorCode, MAX_BODY_BYTES, MAX_CSV_UPLOAD_BYTES};
use serde::de::DeserializeOwned;

/// A JSON body, limited to `MAX_BODY_BYTES`; every failure is a JSON error (`payload_too_large`
/// or `bad_request`), never a plain-text rejection.
pub struct ApiJson<T>(pub T);

fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = e.source();
    }
    false
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|e| {
                let inner = e.into_inner();
                if is_length_limit(inner.as_ref()) {
                    too_large()
                } else {
                    ApiError::bad_request("could not read the request body")
                }
            })?;
        enroll_proto::body::decode_json_body(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

/// The single `{id}` / `{email}` path parameter, percent-decoded.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|_| ApiError::bad_request("invalid path parameter"))
    }
}

/// Proof that the request carries the admin token (`Authorization: Bearer <admin token>`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.admin_ok(bearer(&parts.headers).as_deref()) {
            Ok(Admin)
        } else {
            Err(ApiError::new(ErrorCode::Unauthorized, "admin token required"))
        }
    }
}

/// The client's address as the listener saw it (`None` when the router is called in-process).
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The `Authorization: Bearer` value, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = rest.trim();
        (!token.is_empty()).then(|| token.to_string())
    } else {
        None
    }
}

/// A CSV request body spooled to a private file of the data directory (deleted on drop), at
/// most [`MAX_CSV_UPLOAD_BYTES`]. Streamed: never held in memory. Only the CSV upload routes
/// take it; every other route keeps the 64 KiB JSON limit.
///
/// A body that never arrives whole (the client went away, e.g. on Ctrl-C, or the body broke) is
/// discarded and logged (`CSV upload interrupted`): nothing is imported, and the log says so.
pub struct CsvUpload {
    /// The spooled file.
    pub(crate) path: std::path::PathBuf,
    /// Bytes received so far.
    received: u64,
    /// The whole body arrived.
    complete: bool,
}

impl Drop for CsvUpload {
    fn drop(&mut self) {
        if !self.complete {
            tracing::warn!(
                bytes_received = self.received,
                "CSV upload interrupted (the client went away or the body broke before its end): discarded, nothing imported"
            );
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn csv_too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the CSV file is larger than {MAX_CSV_UPLOAD_BYTES} bytes"),
    )
}

impl FromRequest<AppState> for CsvUpload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        use http_body_util::BodyExt as _;
        use tokio::io::AsyncWriteExt as _;
        let mime = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !matches!(mime.as_str(), "text/csv" | "application/csv" | "text/plain") {
            return Err(ApiError::bad_request(
                "the body must be a CSV file (content-type: text/csv)",
            ));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_CSV_UPLOAD_BYTES) {
            return Err(csv_too_large());
        }
        let mut upload = CsvUpload {
            path: state.upload_dir.join(format!("{}.csv", uuid::Uuid::new_v4())),
            received: 0,
            complete: false,
        };
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options
            .open(&upload.path)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let mut body = req.into_body();
        let mut total: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ApiError::bad_request("could not read the request body"))?;
            if let Ok(data) = frame.into_data() {
                total += data.len() as u64;
                upload.received = total;
                if total > MAX_CSV_UPLOAD_BYTES {
                    return Err(csv_too_large());
                }
                file.write_all(&data).await.map_err(|e| ApiError::internal(&e))?;
            }
        }
        file.flush().await.map_err(|e| ApiError::internal(&e))?;
        upload.complete = true;
        Ok(upload)
    }
}
