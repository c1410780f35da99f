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
    /// The server certificate's validity period has ended.
    #[error("the server certificate has expired")]
    CertificateExpired,
    /// The server certificate's validity period has not begun (or the device clock is behind).
    #[error("the server certificate is not valid yet: check the device's date and time")]
    CertificateNotYetValid,
    /// The server certificate names another host.
    #[error("the server certificate was issued for another host name")]
    CertificateWrongHost,
    /// The server certificate is self-signed and not one of the trusted certificates.
    #[error("the server certificate is self-signed and not trusted")]
    CertificateSelfSigned,
    /// The server certificate chains to no trusted certificate authority.
    #[error("the server certificate was issued by a certificate authority that is not trusted")]
    CertificateUnknownIssuer,
    /// The server offers only TLS versions below 1.2.
    #[error("the server only speaks TLS versions below 1.2, which are refused")]
    TlsVersionRefused,
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

    /// The flow the server asks the device to fall back to (`Some("password")` after a wrong
    /// bulk-enrollment token: the normal sign-in with user name and password).
    pub fn fallback(&self) -> Option<&str> {
        match self {
            Error::Server { info, .. } => info.fallback.as_deref(),
            _ => None,
        }
    }

    /// A message for the person holding the device: what happened and what to do, without
    /// technical detail (use `Display` for logs). Never contains a secret.
    pub fn user_message(&self) -> String {
        let text = match self {
            Error::Server { info, .. } => match info.code {
                ErrorCode::InvalidToken if self.fallback() == Some(crate::protocol::FALLBACK_PASSWORD) => {
                    "This enrollment code is not valid. Sign in with your work e-mail address and password instead."
                }
                ErrorCode::InvalidToken => {
                    "This enrollment code is not valid. Check it, or ask your IT administrator for a new one."
                }
                ErrorCode::TokenExpired => {
                    "This enrollment code has expired. Ask your IT administrator for a new one."
                }
                ErrorCode::DeviceNotMatched => {
                    "This device is not on your organisation's list of devices to enroll. Ask your IT administrator to check that its IMEI, or its serial number and manufacturer, were registered correctly."
                }
                ErrorCode::DeviceNotApproved => {
                    "Your IT administrator has not approved this device for enrollment yet. Try again once it has been approved."
                }
                ErrorCode::DeviceUnassigned => {
                    "This device is not assigned to an enrollment profile yet. Ask your IT administrator to assign it, then try again."
                }
                ErrorCode::InvalidCredentials => {
                    "The user name or password is not correct. Check them and try again."
                }
                ErrorCode::InvalidPin => {
                    return match info.attempts_left {
                        Some(n) => format!(
                            "The one-time PIN is not correct. You have {n} attempt{} left.",
                            if n == 1 { "" } else { "s" }
                        ),
                        None => "The one-time PIN is not correct.".to_owned(),
                    };
                }
                ErrorCode::PinLocked => {
                    "Too many wrong PINs: this PIN is locked. Ask your IT administrator for a new invitation."
                }
                ErrorCode::PinUsed => {
                    "This one-time PIN was already used. Ask your IT administrator for a new invitation."
                }
                ErrorCode::PinExpired => {
                    "This one-time PIN has expired. Ask your IT administrator for a new invitation."
                }
                ErrorCode::WeakPassword => {
                    "This password is too short or too long: choose one of 8 to 1024 characters."
                }
                ErrorCode::PasswordAlreadySet => "This account already has a password. Sign in with it.",
                ErrorCode::PasswordNotOffered => {
                    "A password cannot be set from this device now. Set it in the self-service portal."
                }
                ErrorCode::DeviceInactive => {
                    "This device is no longer managed. Enroll it again."
                }
                ErrorCode::Unavailable | ErrorCode::RateLimited => {
                    "The enrollment server is busy. Try again in a few minutes."
                }
                _ => "The enrollment server refused the request. Try again, or contact your IT administrator.",
            },
            Error::Network(_) | Error::Timeout => {
                "The enrollment server cannot be reached. Check the network connection and try again."
            }
            Error::UntrustedCertificate(_)
            | Error::PinMismatch
            | Error::InsecureUrl(_)
            | Error::CertificateExpired
            | Error::CertificateNotYetValid
            | Error::CertificateWrongHost
            | Error::CertificateSelfSigned
            | Error::CertificateUnknownIssuer
            | Error::TlsVersionRefused => {
                "The enrollment server could not be verified, so the connection was stopped. Contact your IT administrator."
            }
            Error::InvalidUrl(_) => "The enrollment server address is not valid. Check it and try again.",
            Error::Credential(_) => "The enrollment details are incomplete or not valid. Check them and try again.",
            Error::ProfileExpired { .. } => {
                "The management profile expired before it was installed. Start the enrollment again and install the profile within a few minutes."
            }
            Error::Cancelled => "The enrollment was cancelled.",
            _ => "The enrollment could not be completed. Try again, or contact your IT administrator.",
        };
        text.to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: ErrorCode, fallback: Option<&str>) -> Error {
        Error::Server {
            status: 403,
            info: ErrorInfo {
                code,
                message: "server text".into(),
                attempts_left: None,
                retry_after_secs: None,
                fallback: fallback.map(str::to_owned),
            },
        }
    }

    #[test]
    fn bulk_errors_have_distinct_user_messages() {
        let codes = [
            ErrorCode::DeviceNotMatched,
            ErrorCode::DeviceNotApproved,
            ErrorCode::DeviceUnassigned,
            ErrorCode::TokenExpired,
            ErrorCode::InvalidToken,
        ];
        let messages: std::collections::BTreeSet<String> =
            codes.iter().map(|c| server(*c, None).user_message()).collect();
        assert_eq!(messages.len(), codes.len());
        let wrong = server(ErrorCode::InvalidToken, Some("password"));
        assert_eq!(wrong.fallback(), Some("password"));
        assert!(wrong.user_message().contains("password"));
        assert_eq!(Error::Timeout.fallback(), None);
    }
}
