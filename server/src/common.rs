//! Small rules shared by several domains, kept here so that no domain imports another for them:
//! free-text and e-mail checks, identifier bounds, token validity bounds, the device listing page
//! and the `invalid_token` reply (a user token and a bulk token fail the same way).

use crate::error::ApiError;
use enroll_proto::{ErrorCode, FALLBACK_PASSWORD};

/// Longest accepted free-text field (model, serial, reason, detail values…), in characters.
pub const MAX_FIELD_CHARS: usize = 256;
/// Token validity bounds, in days.
pub const TOKEN_DAYS: std::ops::RangeInclusive<u32> = 7..=999;
/// Default token validity, in days.
pub const DEFAULT_TOKEN_DAYS: u32 = 7;
/// Longest accepted e-mail address, in characters.
pub(crate) const MAX_EMAIL_CHARS: usize = 254;
/// Longest accepted password, in bytes (the wire protocol's limit).
pub(crate) const MAX_PASSWORD_BYTES: usize = enroll_proto::MAX_PASSWORD_BYTES;
/// Longest accepted identifier (enrollment, device), in bytes.
pub(crate) const MAX_ID_BYTES: usize = 64;
/// Default and largest page of a device listing.
pub const DEVICE_PAGE: (u64, u64) = (1000, 10_000);

/// Checks a free-text field: at most [`MAX_FIELD_CHARS`] characters, no control character.
pub(crate) fn field(name: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(ApiError::bad_request(format!(
            "{name} is longer than {MAX_FIELD_CHARS} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{name} contains control characters"
        )));
    }
    Ok(())
}

/// Checks an e-mail address (shape only).
pub fn validate_email(email: &str) -> Result<(), ApiError> {
    let e = email.trim();
    let ok = !e.is_empty()
        && e.chars().count() <= MAX_EMAIL_CHARS
        && e.contains('@')
        && !e.starts_with('@')
        && !e.ends_with('@')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request("invalid e-mail address"))
    }
}

/// Whether an identifier has an acceptable length (1 to [`MAX_ID_BYTES`] bytes).
pub(crate) fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES
}

/// A new random identifier (UUID v4).
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `invalid_token`, sending the device to the normal sign-in (user + password).
pub(crate) fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        "unknown or revoked enrollment token: sign in with your user name and password instead",
    )
    .with_fallback(FALLBACK_PASSWORD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(validate_email("a@b.c").is_ok());
        assert!(validate_email("").is_err());
        assert!(validate_email("no-at").is_err());
        assert!(validate_email("a b@c").is_err());
        assert!(validate_email(&format!("{}@x", "a".repeat(300))).is_err());
    }
}
