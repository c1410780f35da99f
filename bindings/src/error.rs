//! The public errors: [`EnrollError`], shaped by what the app does next, and [`PlatformError`],
//! thrown by the app's own platform implementations.
//!
//! The core's detailed [`enroll_core::Error`] is folded into [`EnrollError`] by one `From`
//! impl: server refusals by their error code, transient failures into
//! [`EnrollError::Offline`] / [`EnrollError::Retryable`]. No variant ever carries a token, PIN,
//! password or key: the texts are the core's (which never holds secrets) or fixed strings.

use enroll_core::protocol::ErrorCode;

/// Longest foreign exception text kept in an error (foreign texts are not ours to trust).
const MAX_FOREIGN_TEXT: usize = 200;

/// An operation failed. Each variant says what the app should do next.
///
/// Messages are for logs and support, not for end users, and never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum EnrollError {
    /// The server cannot be reached (no network, DNS failure, timeout). Nothing was lost: retry
    /// when the device is online again; an interrupted enrollment resumes with `resume()`.
    #[error("offline: {detail}")]
    Offline {
        /// What failed (no secrets).
        detail: String,
    },
    /// The server is busy or failing for now (rate limited, unavailable). Retry later, after
    /// `retry_after_secs` when the server said so.
    #[error("server busy, retry later: {detail}")]
    Retryable {
        /// Seconds the server asked to wait, if it said.
        retry_after_secs: Option<u64>,
        /// What failed (no secrets).
        detail: String,
    },
    /// The token, PIN or password is wrong. Ask the user again; for a PIN, `attempts_left`
    /// tells how many tries remain before it locks.
    #[error("wrong credentials")]
    WrongCredentials {
        /// PIN tries left before the PIN locks, when the server says.
        attempts_left: Option<u32>,
        /// A flow to fall back to, when the server suggests one (`password` after a wrong bulk
        /// token).
        fallback: Option<String>,
    },
    /// Too many wrong PINs: the PIN is locked. The user needs a new invitation from the
    /// administrator.
    #[error("the PIN is locked after too many wrong tries")]
    PinLocked,
    /// The token or PIN expired or was already used. The user needs a new one from the
    /// administrator.
    #[error("the credential expired or was already used")]
    CredentialExpired,
    /// The server's certificate is not trusted or does not match the pinned key. Do not retry;
    /// check the configured CA and pins, or contact the administrator.
    #[error("the server is not trusted: {detail}")]
    UntrustedServer {
        /// Why (no secrets).
        detail: String,
    },
    /// The server refused the request for a reason the app cannot fix by retrying (device not
    /// found, enrollment closed, device waiting for approval, …). Branch on `code`; otherwise
    /// show "contact your administrator".
    #[error("server refused ({code:?}): {detail}")]
    ServerRejected {
        /// The server's error code.
        code: ServerErrorCode,
        /// The server's message (no secrets).
        detail: String,
    },
    /// The server answered something this agent cannot accept (malformed or oversized reply,
    /// unsupported protocol version). Contact the administrator.
    #[error("incompatible server reply: {detail}")]
    ServerIncompatible {
        /// What was wrong (no secrets).
        detail: String,
    },
    /// The enrollment profile failed verification (signature, signer, required keys). It was
    /// not installed. Contact the administrator.
    #[error("the enrollment profile was rejected: {detail}")]
    ProfileRejected {
        /// Why (no secrets).
        detail: String,
    },
    /// Every fetched profile expired before it could be installed (check the device clock and
    /// the network, then enroll again).
    #[error("the enrollment profile expired before install ({fetches} fetched)")]
    ProfileExpired {
        /// Profiles fetched.
        fetches: u32,
    },
    /// The operation was cancelled (by `cancel()` or by the user in the system UI).
    #[error("cancelled")]
    Cancelled,
    /// Not possible in the current state (an enrollment is already in progress, the device is
    /// not enrolled, `init_platform` was already called, …). Check `status()`.
    #[error("not possible now: {detail}")]
    NotAllowedNow {
        /// Why (no secrets).
        detail: String,
    },
    /// A platform capability (secure store, profile installer, device info) failed, or the
    /// saved state is unreadable.
    #[error("platform failure ({kind:?}): {detail}")]
    Platform {
        /// Category of the failure.
        kind: PlatformErrorKind,
        /// What failed (no secrets).
        detail: String,
    },
    /// An argument is invalid (server URL, credential format, CA certificate, camera frame).
    /// Fix the input; retrying the same call fails again.
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// What is wrong (never quotes a secret value).
        detail: String,
    },
    /// A bug or an unexpected condition inside the library. Report it.
    #[error("internal error: {detail}")]
    Internal {
        /// What happened (no secrets).
        detail: String,
    },
}

/// Category of a [`EnrollError::Platform`] failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PlatformErrorKind {
    /// The capability is missing (no keychain, no device policy manager, …).
    Unavailable,
    /// The user or the OS refused (locked keychain, permission denied).
    Denied,
    /// The saved enrollment state could not be read or written.
    Storage,
    /// Anything else.
    Other,
}

/// Error thrown by the app's implementations of [`crate::SecureStore`],
/// [`crate::ProfileInstaller`] and [`crate::DeviceInfo`]. Messages must not contain secrets.
///
/// Any other exception thrown by those implementations arrives as [`PlatformError::Other`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The capability is missing (no keychain, no device policy manager, …).
    #[error("unavailable: {detail}")]
    Unavailable {
        /// What is missing (no secrets).
        detail: String,
    },
    /// The user or the OS refused (locked keychain, permission denied).
    #[error("denied: {detail}")]
    Denied {
        /// What was refused (no secrets).
        detail: String,
    },
    /// Anything else.
    #[error("{detail}")]
    Other {
        /// What failed (no secrets).
        detail: String,
    },
}

/// Error codes of the enrollment server (mirror of the wire protocol's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ServerErrorCode {
    /// The request is malformed.
    BadRequest,
    /// Missing or wrong bearer credential.
    Unauthorized,
    /// Wrong username or password.
    InvalidCredentials,
    /// Wrong PIN.
    InvalidPin,
    /// Too many wrong PINs.
    PinLocked,
    /// The PIN was already used.
    PinUsed,
    /// The PIN expired.
    PinExpired,
    /// Unknown or revoked enrollment token.
    InvalidToken,
    /// The enrollment token expired.
    TokenExpired,
    /// No such enrollment.
    EnrollmentNotFound,
    /// The enrollment is closed (cancelled or superseded).
    EnrollmentClosed,
    /// No such device.
    DeviceNotFound,
    /// The device is retired or wiped and must enroll again.
    DeviceInactive,
    /// The idempotency key was used with a different request.
    IdempotencyConflict,
    /// No such resource.
    NotFound,
    /// The request body is too large.
    PayloadTooLarge,
    /// Too many requests.
    RateLimited,
    /// The server cannot serve now.
    Unavailable,
    /// Unexpected server failure.
    Internal,
    /// The device matches no device of a tokenless bulk profile.
    DeviceNotMatched,
    /// The device waits for administrator approval.
    DeviceNotApproved,
    /// The device is not assigned to an enrollment profile.
    DeviceUnassigned,
    /// The new password is too short or too long (8 to 1024 bytes).
    WeakPassword,
    /// The account already has a password.
    PasswordAlreadySet,
    /// No password can be set through this enrollment (now).
    PasswordNotOffered,
    /// A code this version does not know.
    Unknown,
}

impl From<ErrorCode> for ServerErrorCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::BadRequest => Self::BadRequest,
            ErrorCode::Unauthorized => Self::Unauthorized,
            ErrorCode::InvalidCredentials => Self::InvalidCredentials,
            ErrorCode::InvalidPin => Self::InvalidPin,
            ErrorCode::PinLocked => Self::PinLocked,
            ErrorCode::PinUsed => Self::PinUsed,
            ErrorCode::PinExpired => Self::PinExpired,
            ErrorCode::InvalidToken => Self::InvalidToken,
            ErrorCode::TokenExpired => Self::TokenExpired,
            ErrorCode::EnrollmentNotFound => Self::EnrollmentNotFound,
            ErrorCode::EnrollmentClosed => Self::EnrollmentClosed,
            ErrorCode::DeviceNotFound => Self::DeviceNotFound,
            ErrorCode::DeviceInactive => Self::DeviceInactive,
            ErrorCode::IdempotencyConflict => Self::IdempotencyConflict,
            ErrorCode::NotFound => Self::NotFound,
            ErrorCode::PayloadTooLarge => Self::PayloadTooLarge,
            ErrorCode::RateLimited => Self::RateLimited,
            ErrorCode::Unavailable => Self::Unavailable,
            ErrorCode::Internal => Self::Internal,
            ErrorCode::DeviceNotMatched => Self::DeviceNotMatched,
            ErrorCode::DeviceNotApproved => Self::DeviceNotApproved,
            ErrorCode::DeviceUnassigned => Self::DeviceUnassigned,
            ErrorCode::WeakPassword => Self::WeakPassword,
            ErrorCode::PasswordAlreadySet => Self::PasswordAlreadySet,
            ErrorCode::PasswordNotOffered => Self::PasswordNotOffered,
            ErrorCode::Unknown => Self::Unknown,
        }
    }
}

impl From<enroll_core::Error> for EnrollError {
    fn from(err: enroll_core::Error) -> Self {
        use enroll_core::Error as E;
        let detail = err.to_string();
        let transient = err.is_transient();
        match err {
            E::Server { info, .. } => match info.code {
                ErrorCode::InvalidPin | ErrorCode::InvalidCredentials | ErrorCode::InvalidToken => {
                    Self::WrongCredentials {
                        attempts_left: info.attempts_left,
                        fallback: info.fallback,
                    }
                }
                ErrorCode::PinLocked => Self::PinLocked,
                ErrorCode::PinUsed | ErrorCode::PinExpired | ErrorCode::TokenExpired => {
                    Self::CredentialExpired
                }
                _ if transient => Self::Retryable {
                    retry_after_secs: info.retry_after_secs,
                    detail,
                },
                code => Self::ServerRejected {
                    code: code.into(),
                    detail,
                },
            },
            E::Network(_) | E::Timeout => Self::Offline { detail },
            E::UntrustedCertificate(_)
            | E::PinMismatch
            | E::InsecureUrl(_)
            | E::CertificateExpired
            | E::CertificateNotYetValid
            | E::CertificateWrongHost
            | E::CertificateSelfSigned
            | E::CertificateUnknownIssuer
            | E::TlsVersionRefused => Self::UntrustedServer { detail },
            E::InvalidUrl(_) | E::Credential(_) | E::Tls(_) => Self::InvalidInput { detail },
            E::ResponseTooLarge { .. }
            | E::ContentType { .. }
            | E::MalformedResponse(_)
            | E::UnsupportedProtocol(_) => Self::ServerIncompatible { detail },
            E::Profile(_) => Self::ProfileRejected { detail },
            E::ProfileExpired { fetches } => Self::ProfileExpired { fetches },
            E::Platform(p) => Self::Platform {
                kind: match p.kind {
                    enroll_core::platform::PlatformErrorKind::Unavailable => PlatformErrorKind::Unavailable,
                    enroll_core::platform::PlatformErrorKind::Denied => PlatformErrorKind::Denied,
                    enroll_core::platform::PlatformErrorKind::Other => PlatformErrorKind::Other,
                },
                detail: p.message,
            },
            E::Store(_) => Self::Platform {
                kind: PlatformErrorKind::Storage,
                detail,
            },
            E::Cancelled => Self::Cancelled,
            E::InvalidState(_) => Self::NotAllowedNow { detail },
            _ => Self::Internal { detail },
        }
    }
}

impl From<enroll_core::credentials::CredentialError> for EnrollError {
    fn from(err: enroll_core::credentials::CredentialError) -> Self {
        enroll_core::Error::from(err).into()
    }
}

impl From<enroll_core::qr::PayloadError> for EnrollError {
    fn from(err: enroll_core::qr::PayloadError) -> Self {
        // Payload errors name keys and fields, never values.
        Self::InvalidInput {
            detail: err.to_string(),
        }
    }
}

impl From<enroll_core::qr::FrameError> for EnrollError {
    fn from(err: enroll_core::qr::FrameError) -> Self {
        Self::InvalidInput {
            detail: err.to_string(),
        }
    }
}

/// Keeps at most [`MAX_FOREIGN_TEXT`] characters of a foreign exception text.
fn clip(text: &str) -> String {
    text.chars().take(MAX_FOREIGN_TEXT).collect()
}

impl From<uniffi::UnexpectedUniFFICallbackError> for EnrollError {
    fn from(err: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Platform {
            kind: PlatformErrorKind::Other,
            detail: format!("unexpected exception in an app callback: {}", clip(&err.reason)),
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    fn from(err: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Other {
            detail: format!("unexpected exception: {}", clip(&err.reason)),
        }
    }
}

impl From<PlatformError> for enroll_core::platform::PlatformError {
    fn from(err: PlatformError) -> Self {
        use enroll_core::platform::{PlatformError as P, PlatformErrorKind as K};
        match err {
            PlatformError::Unavailable { detail } => P::new(K::Unavailable, detail),
            PlatformError::Denied { detail } => P::new(K::Denied, detail),
            PlatformError::Other { detail } => P::new(K::Other, detail),
        }
    }
}

impl From<enroll_core::platform::PlatformError> for PlatformError {
    fn from(err: enroll_core::platform::PlatformError) -> Self {
        use enroll_core::platform::PlatformErrorKind as K;
        let detail = err.message;
        match err.kind {
            K::Unavailable => Self::Unavailable { detail },
            K::Denied => Self::Denied { detail },
            K::Other => Self::Other { detail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_core::protocol::ErrorInfo;

    fn server(status: u16, code: ErrorCode) -> enroll_core::Error {
        enroll_core::Error::Server {
            status,
            info: ErrorInfo {
                code,
                message: format!("{code:?}"),
                attempts_left: None,
                retry_after_secs: None,
                fallback: None,
            },
        }
    }

    #[test]
    fn wrong_pin_carries_attempts_left() {
        let mut err = server(401, ErrorCode::InvalidPin);
        if let enroll_core::Error::Server { info, .. } = &mut err {
            info.attempts_left = Some(3);
        }
        assert_eq!(
            EnrollError::from(err),
            EnrollError::WrongCredentials {
                attempts_left: Some(3),
                fallback: None
            }
        );
    }

    #[test]
    fn server_codes_map_to_actions() {
        assert_eq!(
            EnrollError::from(server(423, ErrorCode::PinLocked)),
            EnrollError::PinLocked
        );
        for code in [ErrorCode::PinUsed, ErrorCode::PinExpired, ErrorCode::TokenExpired] {
            assert_eq!(
                EnrollError::from(server(410, code)),
                EnrollError::CredentialExpired
            );
        }
        assert!(matches!(
            EnrollError::from(server(503, ErrorCode::Unavailable)),
            EnrollError::Retryable { .. }
        ));
        assert!(matches!(
            EnrollError::from(server(404, ErrorCode::DeviceNotFound)),
            EnrollError::ServerRejected {
                code: ServerErrorCode::DeviceNotFound,
                ..
            }
        ));
    }

    #[test]
    fn transport_and_local_errors() {
        use enroll_core::Error as E;
        assert!(matches!(
            EnrollError::from(E::Network("refused".into())),
            EnrollError::Offline { .. }
        ));
        assert!(matches!(
            EnrollError::from(E::Timeout),
            EnrollError::Offline { .. }
        ));
        assert!(matches!(
            EnrollError::from(E::PinMismatch),
            EnrollError::UntrustedServer { .. }
        ));
        assert!(matches!(
            EnrollError::from(E::InvalidUrl("x".into())),
            EnrollError::InvalidInput { .. }
        ));
        assert!(matches!(
            EnrollError::from(E::MalformedResponse("x".into())),
            EnrollError::ServerIncompatible { .. }
        ));
        assert_eq!(EnrollError::from(E::Cancelled), EnrollError::Cancelled);
        assert!(matches!(
            EnrollError::from(E::InvalidState("busy".into())),
            EnrollError::NotAllowedNow { .. }
        ));
        assert!(matches!(
            EnrollError::from(E::Store("unreadable".into())),
            EnrollError::Platform {
                kind: PlatformErrorKind::Storage,
                ..
            }
        ));
        assert_eq!(
            EnrollError::from(E::ProfileExpired { fetches: 3 }),
            EnrollError::ProfileExpired { fetches: 3 }
        );
    }

    #[test]
    fn platform_errors_round_trip_kinds() {
        let foreign = PlatformError::Denied {
            detail: "keychain locked".into(),
        };
        let core: enroll_core::platform::PlatformError = foreign.clone().into();
        assert_eq!(core.kind, enroll_core::platform::PlatformErrorKind::Denied);
        assert_eq!(PlatformError::from(core.clone()), foreign);
        assert_eq!(
            EnrollError::from(enroll_core::Error::Platform(core)),
            EnrollError::Platform {
                kind: PlatformErrorKind::Denied,
                detail: "keychain locked".into()
            }
        );
    }

    #[test]
    fn credential_errors_never_quote_the_secret() {
        let err = EnrollError::from(
            enroll_core::Credential::pin("a@example.com", "12x4").expect_err("bad pin format"),
        );
        assert!(matches!(err, EnrollError::InvalidInput { .. }));
        assert!(!err.to_string().contains("12x4"), "{err}");
    }

    #[test]
    fn unexpected_callback_errors_are_clipped() {
        let long = "x".repeat(1000);
        let err = PlatformError::from(uniffi::UnexpectedUniFFICallbackError::new(long));
        assert!(err.to_string().len() < 300);
        assert!(matches!(
            EnrollError::from(uniffi::UnexpectedUniFFICallbackError::new("boom")),
            EnrollError::Platform {
                kind: PlatformErrorKind::Other,
                ..
            }
        ));
    }
}
