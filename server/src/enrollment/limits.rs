//! Rate limits of the credential routes (issue 13): what one sign-in attempt is counted under
//! (its source address, and the account for a PIN or password) and which refusals count as a
//! failed guess. The counters are the shared [`crate::ratelimit::RateLimiter`]; the PIN lock
//! (seed 003) still applies beneath.

use crate::error::ApiError;
use crate::ratelimit::Key;
use crate::state::Shared;
use enroll_proto::{CredentialWire, ErrorCode};
use std::net::IpAddr;

/// The keys an attempt with `cred` from `source` is counted under.
pub(super) fn keys_of(source: Option<IpAddr>, cred: Option<&CredentialWire>) -> Vec<Key> {
    let mut keys = vec![Key::Source(source)];
    if let Some(CredentialWire::Pin { user, .. } | CredentialWire::Password { user, .. }) = cred {
        keys.push(Key::Account(user.trim().to_lowercase()));
    }
    keys
}

/// Whether a refusal is a failed guess (a wrong password, PIN or token).
fn is_guess_failure(e: &ApiError) -> bool {
    matches!(
        e.info.code,
        ErrorCode::InvalidCredentials
            | ErrorCode::InvalidPin
            | ErrorCode::InvalidToken
            | ErrorCode::Unauthorized
    )
}

/// Runs one credential check `f` under the rate limits: refused with `rate_limited` (and
/// `retry_after_secs`) while a key is over its limit, counted when it fails as a guess.
pub(super) fn guarded<T>(
    s: &Shared,
    keys: &[Key],
    f: impl FnOnce() -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let now = s.now();
    s.rate_limits.check(keys, now)?;
    let out = f();
    match &out {
        Ok(_) => s.rate_limits.success(keys),
        Err(e) if is_guess_failure(e) => s.rate_limits.failure(keys, now),
        Err(_) => {}
    }
    out
}
