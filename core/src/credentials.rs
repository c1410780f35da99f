//! Credentials a user enrolls with: enrollment token, one-time PIN, username + password.
//!
//! Every secret is a [`SecretString`]: `Debug` and `Display` redact it and its memory is
//! zeroized on drop. Constructors validate sizes so that nothing unbounded reaches the wire.

use crate::protocol::CredentialWire;
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};

/// Longest token, PIN, user name or password accepted.
pub const MAX_CREDENTIAL_LEN: usize = 1024;

/// Why a credential was refused before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A field is empty.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// A field is longer than [`MAX_CREDENTIAL_LEN`].
    #[error("{0} is too long")]
    TooLong(&'static str),
    /// A field has control characters.
    #[error("{0} contains control characters")]
    ControlCharacters(&'static str),
    /// A PIN must be 4 to 12 digits.
    #[error("a PIN is 4 to 12 digits")]
    PinFormat,
}

/// How the user proves they may enroll this device.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// An enrollment token (per user, or of a bulk profile).
    Token {
        /// The token.
        token: SecretString,
    },
    /// A one-time PIN from an invitation.
    Pin {
        /// The invited user's e-mail.
        user: String,
        /// The PIN.
        pin: SecretString,
    },
    /// Username (e-mail) and password; directory users give their network credentials.
    Password {
        /// The user's e-mail.
        user: String,
        /// The password.
        password: SecretString,
    },
    /// Tokenless bulk enrollment: the device's identifiers (IMEI, or serial number and
    /// manufacturer) must match a device of a tokenless bulk profile. Nothing secret.
    Tokenless {
        /// The bulk profile named by the QR code or the KME extras (`enroll.PROFILE_ID`).
        profile_id: Option<String>,
    },
    /// The device's own credential, for re-enrolling an active device (Troubleshooting).
    Device {
        /// Device record identifier.
        device_id: String,
        /// Device bearer secret.
        device_secret: SecretString,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token { .. } => f.write_str("Credential::Token(<redacted>)"),
            Credential::Pin { user, .. } => {
                write!(f, "Credential::Pin {{ user: {user:?}, pin: <redacted> }}")
            }
            Credential::Password { user, .. } => {
                write!(
                    f,
                    "Credential::Password {{ user: {user:?}, password: <redacted> }}"
                )
            }
            Credential::Device { device_id, .. } => {
                write!(
                    f,
                    "Credential::Device {{ device_id: {device_id:?}, secret: <redacted> }}"
                )
            }
            Credential::Tokenless { profile_id } => {
                write!(f, "Credential::Tokenless {{ profile_id: {profile_id:?} }}")
            }
        }
    }
}

fn check(field: &'static str, value: &str) -> Result<(), CredentialError> {
    if value.is_empty() {
        return Err(CredentialError::Empty(field));
    }
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(CredentialError::TooLong(field));
    }
    if value.chars().any(char::is_control) {
        return Err(CredentialError::ControlCharacters(field));
    }
    Ok(())
}

impl Credential {
    /// An enrollment token; surrounding whitespace is trimmed.
    pub fn token(token: impl Into<String>) -> Result<Self, CredentialError> {
        let token = SecretString::new(token.into().trim());
        check("token", token.expose())?;
        Ok(Credential::Token { token })
    }

    /// A one-time PIN for `user`.
    pub fn pin(user: impl Into<String>, pin: impl Into<String>) -> Result<Self, CredentialError> {
        let user = user.into().trim().to_owned();
        let pin = SecretString::new(pin.into().trim());
        check("user", &user)?;
        if !(4..=12).contains(&pin.len()) || !pin.expose().bytes().all(|b| b.is_ascii_digit()) {
            return Err(CredentialError::PinFormat);
        }
        Ok(Credential::Pin { user, pin })
    }

    /// Username and password. The password is kept as typed (no trimming).
    pub fn password(user: impl Into<String>, password: impl Into<String>) -> Result<Self, CredentialError> {
        let user = user.into().trim().to_owned();
        let password = SecretString::new(password.into());
        check("user", &user)?;
        if password.is_empty() {
            return Err(CredentialError::Empty("password"));
        }
        if password.len() > MAX_CREDENTIAL_LEN {
            return Err(CredentialError::TooLong("password"));
        }
        Ok(Credential::Password { user, password })
    }

    /// Tokenless bulk enrollment, optionally restricted to one bulk profile (its identifier: at
    /// most 64 characters of `[A-Za-z0-9_-]`).
    pub fn tokenless(profile_id: Option<String>) -> Result<Self, CredentialError> {
        let profile_id = profile_id.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
        if let Some(p) = &profile_id {
            check("profile_id", p)?;
            if p.len() > 64 {
                return Err(CredentialError::TooLong("profile_id"));
            }
            if !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(CredentialError::ControlCharacters("profile_id"));
            }
        }
        Ok(Credential::Tokenless { profile_id })
    }

    /// The credential a scanned enrollment QR code (or Samsung KME DPC extras) carries, with the
    /// server it names: its token when it has one, otherwise a tokenless bulk enrollment with
    /// the profile it names (Android provisioning and KME extras only). `None` when the payload
    /// names no server (a bare token: the app asks for the server) or, for an invitation
    /// without token, because the user signs in with a PIN or password.
    pub fn from_qr_intent(
        intent: &crate::qr::EnrollmentIntent,
    ) -> Option<Result<(String, Self), CredentialError>> {
        use crate::qr::EnrollmentIntent;
        let server = intent.server_url()?.as_str().trim_end_matches('/').to_owned();
        if let Some(token) = intent.token() {
            return Some(Self::token(token.expose()).map(|c| (server, c)));
        }
        let extras = match intent {
            EnrollmentIntent::AndroidProvisioning(a) => &a.admin_extras,
            EnrollmentIntent::KmeExtras(e) => e,
            _ => return None,
        };
        Some(Self::tokenless(extras.profile_id.clone()).map(|c| (server, c)))
    }

    /// Short name of the credential kind, safe to log.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Token { .. } => "token",
            Credential::Pin { .. } => "pin",
            Credential::Password { .. } => "password",
            Credential::Device { .. } => "device",
            Credential::Tokenless { .. } => "tokenless",
        }
    }

    /// The wire form, for the credential kinds sent to `POST /enrollments`.
    pub(crate) fn to_wire(&self) -> Option<CredentialWire> {
        match self {
            Credential::Token { token } => Some(CredentialWire::Token { token: token.clone() }),
            Credential::Pin { user, pin } => Some(CredentialWire::Pin {
                user: user.clone(),
                pin: pin.clone(),
            }),
            Credential::Password { user, password } => Some(CredentialWire::Password {
                user: user.clone(),
                password: password.clone(),
            }),
            Credential::Tokenless { profile_id } => Some(CredentialWire::Tokenless {
                profile_id: profile_id.clone(),
            }),
            Credential::Device { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let creds = [
            Credential::token("ent_SECRETTOKEN").unwrap(),
            Credential::pin("a@example.com", "987654").unwrap(),
            Credential::password("a@example.com", "pa55-word").unwrap(),
        ];
        for c in &creds {
            let d = format!("{c:?}");
            assert!(
                !d.contains("SECRETTOKEN") && !d.contains("987654") && !d.contains("pa55"),
                "{d}"
            );
        }
    }

    #[test]
    fn validation() {
        assert_eq!(Credential::token("  "), Err(CredentialError::Empty("token")));
        assert_eq!(
            Credential::token("a".repeat(2000)),
            Err(CredentialError::TooLong("token"))
        );
        assert_eq!(
            Credential::token("ab\ncd"),
            Err(CredentialError::ControlCharacters("token"))
        );
        assert_eq!(Credential::pin("u@x", "12a4"), Err(CredentialError::PinFormat));
        assert_eq!(Credential::pin("u@x", "123"), Err(CredentialError::PinFormat));
        assert!(Credential::pin("u@x", " 123456 ").is_ok());
        assert_eq!(Credential::password("", "x"), Err(CredentialError::Empty("user")));
        assert_eq!(
            Credential::password("u", ""),
            Err(CredentialError::Empty("password"))
        );
        assert_eq!(
            Credential::tokenless(Some(" p-1 ".into())),
            Ok(Credential::Tokenless {
                profile_id: Some("p-1".into())
            })
        );
        assert_eq!(
            Credential::tokenless(Some(String::new())),
            Ok(Credential::Tokenless { profile_id: None })
        );
        assert!(Credential::tokenless(Some("../x".into())).is_err());
        assert!(Credential::tokenless(Some("a".repeat(65))).is_err());
        assert_eq!(Credential::tokenless(None).unwrap().kind(), "tokenless");
    }

    #[test]
    fn credentials_from_qr_payloads() {
        use crate::qr::{parse_payload, PayloadOptions};
        let opts = PayloadOptions::default();
        let with_token = parse_payload(
            r#"{"enroll.SERVER_URL":"https://mdm.example.com","enroll.ENROLLMENT_TOKEN":"ent_abcdefghijklmnopqrstuvwxyz","enroll.PROFILE_ID":"p1"}"#,
            &opts,
        )
        .unwrap();
        let (server, cred) = Credential::from_qr_intent(&with_token).unwrap().unwrap();
        assert_eq!(server, "https://mdm.example.com");
        assert_eq!(cred.kind(), "token");
        let tokenless = parse_payload(
            r#"{"enroll.SERVER_URL":"https://mdm.example.com","enroll.PROFILE_ID":"p1"}"#,
            &opts,
        )
        .unwrap();
        let (_, cred) = Credential::from_qr_intent(&tokenless).unwrap().unwrap();
        assert_eq!(
            cred,
            Credential::Tokenless {
                profile_id: Some("p1".into())
            }
        );
        let invitation = parse_payload("https://mdm.example.com/go?user=a%40b.c", &opts).unwrap();
        assert!(Credential::from_qr_intent(&invitation).is_none());
    }
}
