//! The core's detailed error type.
//!
//! Errors name what went wrong precisely (the bindings fold them into a small public enum
//! shaped by what the app does next). No variant ever carries a token, PIN, password or key:
//! server messages are the server's own text, and request URLs contain only identifiers.

use crate::credentials::CredentialError;
use crate::platform::PlatformError;
use crate::profile::ProfileError;
use crate::protocol::{ErrorCode, ErrorInfo};
use crate::tls::TlsError;

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server URL does not parse or has no host.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
    /// Plain http outside the loopback development option.
    #[error("refusing plain http to {0}: use https (http is only allowed to loopback with the development option)")]
    InsecureUrl(String),
    /// TLS configuration error.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A credential was refused before sending.
    #[error("invalid credential: {0}")]
    Credential(#[from] CredentialError),
    /// The server certificate does not chain to a trusted CA (or its name does not match).
    #[error("the server certificate is not trusted: {0}")]
    UntrustedCertificate(String),
    /// The server key does not match the configured SPKI pin.
    #[error("the server public key does not match the pinned key")]
    PinMismatch,
    /// Connection refused, reset, DNS failure.
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// A request timed out.
    #[error("the server did not answer in time")]
    Timeout,
    /// A reply is larger than its limit.
    #[error("the server reply is larger than the {limit}-byte limit")]
    ResponseTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A reply has the wrong content type.
    #[error("the server replied with content type {got:?}, expected {expected}")]
    ContentType {
        /// What was expected.
        expected: &'static str,
        /// What came.
        got: String,
    },
    /// A reply could not be decoded.
    #[error("malformed server reply: {0}")]
    MalformedResponse(String),
    /// The server speaks a protocol version this agent does not.
    #[error("the server speaks protocol {0}, this agent speaks 1")]
    UnsupportedProtocol(String),
    /// The server answered with an error.
    #[error("server refused ({status}): {}", info.message)]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's error body.
        info: ErrorInfo,
    },
    /// The profile failed verification.
    #[error("profile rejected: {0}")]
    Profile(#[from] ProfileError),
    /// Every fetched profile expired before it could be installed.
    #[error("the enrollment profile expired before it could be installed ({fetches} profiles fetched)")]
    ProfileExpired {
        /// How many profiles were fetched.
        fetches: u32,
    },
    /// A platform capability failed.
    #[error("platform: {0}")]
    Platform(#[from] PlatformError),
    /// The persisted state could not be read or written.
    #[error("enrollment state storage: {0}")]
    Store(String),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The operation is not possible in the current state.
    #[error("not possible now: {0}")]
    InvalidState(String),
}

impl Error {
    /// The server's error code, when the server answered with one.
    pub fn server_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Server { info, .. } => Some(info.code),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network(_) | Error::Timeout => true,
            Error::Server { status, info } => {
                matches!(status, 429 | 502 | 503 | 504)
                    || matches!(info.code, ErrorCode::RateLimited | ErrorCode::Unavailable)
                    || (*status == 500 && info.code == ErrorCode::Unknown)
            }
            _ => false,
        }
    }
}
