//! Errors: [`ServerError`] for start-up, `ApiError` for HTTP replies.
//!
//! Every API error is an [`ErrorBody`] JSON reply whose HTTP status follows the error code
//! (table in `docs/protocol.md`). Messages are written for humans and never contain secrets;
//! internal failures are logged and answered with a generic `internal` error.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use enroll_proto::{ErrorBody, ErrorCode, ErrorInfo, ImportRejected, ImportReport, JSON_CONTENT_TYPE};

/// Start-up failure of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is refused.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file of the data directory could not be read or written.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    /// The PKI could not be loaded or created.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// The database could not be opened.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The directory could not be opened.
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    /// TLS configuration failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// Random generation failed.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// The HTTP status an error code is answered with.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest | ErrorCode::WeakPassword => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized
        | ErrorCode::InvalidCredentials
        | ErrorCode::InvalidPin
        | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::PinLocked
        | ErrorCode::DeviceInactive
        | ErrorCode::DeviceNotMatched
        | ErrorCode::DeviceNotApproved
        | ErrorCode::DeviceUnassigned
        | ErrorCode::PasswordNotOffered => StatusCode::FORBIDDEN,
        ErrorCode::PinUsed
        | ErrorCode::EnrollmentClosed
        | ErrorCode::IdempotencyConflict
        | ErrorCode::PasswordAlreadySet => StatusCode::CONFLICT,
        ErrorCode::PinExpired | ErrorCode::TokenExpired => StatusCode::GONE,
        ErrorCode::EnrollmentNotFound | ErrorCode::DeviceNotFound | ErrorCode::NotFound => {
            StatusCode::NOT_FOUND
        }
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal | ErrorCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub info: ErrorInfo,
    /// A rejected import's report, sent beside the error (`ImportRejected`).
    pub report: Option<Box<ImportReport>>,
}

impl ApiError {
    /// An error with the status of its code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: status_of(code),
            info: ErrorInfo {
                code,
                message: message.into(),
                attempts_left: None,
                retry_after_secs: None,
                fallback: None,
            },
            report: None,
        }
    }

    /// Sets `fallback` (e.g. `password` after a wrong bulk token).
    pub fn with_fallback(mut self, flow: &str) -> Self {
        self.info.fallback = Some(flow.to_owned());
        self
    }

    /// A rejected import: `bad_request` with the report (every bad line, bounded).
    pub fn rejected_import(report: ImportReport) -> Self {
        let message = format!(
            "{} line{} rejected; nothing was imported (all or nothing): fix them and upload the whole file again",
            report.error_count,
            if report.error_count == 1 { "" } else { "s" }
        );
        let mut e = Self::bad_request(message);
        e.report = Some(Box::new(report));
        e
    }

    /// Overrides the HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Sets `attempts_left`.
    pub fn with_attempts_left(mut self, n: u32) -> Self {
        self.info.attempts_left = Some(n);
        self
    }

    /// `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "missing or invalid bearer credential")
    }

    /// `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `internal`, after logging the cause (which must not contain secrets).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal server error")
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) {
                let mut err = Self::new(ErrorCode::Unavailable, "database busy, retry");
                err.info.retry_after_secs = Some(1);
                return err;
            }
        }
        Self::internal(&e)
    }
}

impl From<crate::crypto::CryptoError> for ApiError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        Self::internal(&e)
    }
}

impl From<crate::pki::PkiError> for ApiError {
    fn from(e: crate::pki::PkiError) -> Self {
        Self::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.info.retry_after_secs;
        let body = match self.report {
            Some(report) => serde_json::to_vec(&ImportRejected {
                error: self.info,
                report: *report,
            }),
            None => serde_json::to_vec(&ErrorBody { error: self.info }),
        }
        .unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
