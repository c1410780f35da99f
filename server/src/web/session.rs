//! Sessions of the portal and the console, in memory: a random 256-bit id in a cookie
//! (`HttpOnly; Secure; SameSite=Strict; Path=/`), kept server-side only as its SHA-256, an idle
//! and an absolute lifetime, and one CSRF token per session that every form must send back.
//!
//! A sign-in replaces the anonymous session (new id: no session fixation); sign-out deletes
//! it. Sessions do not survive a restart (signing in again is the way back). At most
//! [`MAX_SESSIONS`] live at once: when full, expired ones are swept, then the least recently
//! used session that has not signed in is dropped; only a table full of signed-in sessions
//! refuses a new one (`unavailable`).

use crate::crypto;
use crate::error::ApiError;
use axum::http::{header, HeaderMap};
use enroll_proto::ErrorCode;
use std::collections::HashMap;
use std::sync::Mutex;

/// Most sessions held at once.
pub(crate) const MAX_SESSIONS: usize = 10_000;
/// Absolute lifetime of a session, seconds (8 h).
pub(crate) const MAX_AGE: i64 = 8 * 3600;

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionKind {
    /// Not signed in yet (holds the sign-in form's CSRF token).
    Anonymous,
    /// The administrator (console).
    Admin,
    /// A user signed in to the portal.
    User {
        /// User id.
        user_id: String,
        /// E-mail.
        email: String,
    },
}

/// A session as a request sees it.
#[derive(Clone)]
pub(crate) struct Session {
    /// Who.
    pub kind: SessionKind,
    /// The CSRF token of its forms.
    pub csrf: String,
    /// Idle lifetime, seconds.
    pub idle: i64,
    /// Last use.
    pub seen_at: i64,
    /// Creation.
    pub created_at: i64,
    /// Small per-session values of the pages (e.g. the last profile's expiry), never secrets
    /// shown back to another session.
    pub data: HashMap<&'static str, Vec<u8>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("kind", &self.kind)
            .field("seen_at", &self.seen_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether `token` is this session's CSRF token (constant time).
    pub(crate) fn csrf_ok(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| crypto::ct_eq_str(t, &self.csrf))
    }

    /// The hidden CSRF field of a form.
    pub(crate) fn csrf_field(&self) -> String {
        format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", self.csrf)
    }

    fn alive(&self, now: i64) -> bool {
        now < self.seen_at.saturating_add(self.idle) && now < self.created_at.saturating_add(MAX_AGE)
    }
}

/// The sessions of the server.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<Vec<u8>, Session>>,
}

fn key(id: &str) -> Vec<u8> {
    crypto::sha256(id.as_bytes())
}

fn poisoned() -> ApiError {
    ApiError::internal(&"session lock poisoned")
}

impl Sessions {
    /// A new session; returns its cookie value (the id) and the session.
    pub(crate) fn create(
        &self,
        kind: SessionKind,
        idle: i64,
        now: i64,
    ) -> Result<(String, Session), ApiError> {
        let id = crypto::random_b64(32).map_err(|e| ApiError::internal(&e))?;
        let csrf = crypto::random_b64(32).map_err(|e| ApiError::internal(&e))?;
        let session = Session {
            kind,
            csrf,
            idle,
            seen_at: now,
            created_at: now,
            data: HashMap::new(),
        };
        let mut map = self.map.lock().map_err(|_| poisoned())?;
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.alive(now));
        }
        if map.len() >= MAX_SESSIONS {
            // A flood of sign-in pages must not lock signed-in users out: the least recently
            // used session that has not signed in makes room.
            let oldest = map
                .iter()
                .filter(|(_, s)| s.kind == SessionKind::Anonymous)
                .min_by_key(|(_, s)| s.seen_at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        if map.len() >= MAX_SESSIONS {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "too many open sessions, retry in a few minutes",
            ));
        }
        map.insert(key(&id), session.clone());
        Ok((id, session))
    }

    /// The live session of cookie value `id` (its idle time restarts), or `None`.
    pub(crate) fn get(&self, id: &str, now: i64) -> Option<Session> {
        let mut map = self.map.lock().ok()?;
        let k = key(id);
        let alive = map.get(&k).is_some_and(|s| s.alive(now));
        if !alive {
            map.remove(&k);
            return None;
        }
        let s = map.get_mut(&k)?;
        s.seen_at = now;
        Some(s.clone())
    }

    /// Stores a value in the session `id`.
    pub(crate) fn put(&self, id: &str, name: &'static str, value: Vec<u8>) {
        if let Ok(mut map) = self.map.lock() {
            if let Some(s) = map.get_mut(&key(id)) {
                s.data.insert(name, value);
            }
        }
    }

    /// Takes a value out of the session `id` (a message shown once).
    pub(crate) fn take(&self, id: &str, name: &'static str) -> Option<Vec<u8>> {
        self.map.lock().ok()?.get_mut(&key(id))?.data.remove(name)
    }

    /// Ends the session `id`.
    pub(crate) fn remove(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&key(id));
        }
    }
}

/// The `Set-Cookie` value of a session cookie (`max_age` 0 deletes it).
pub(crate) fn session_cookie(name: &str, id: &str, max_age: i64) -> String {
    format!("{name}={id}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict")
}

/// The value of cookie `name` in the request (the first one; at most 4 KiB of cookies read).
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(text) = v.to_str() else { continue };
        if text.len() > 4096 {
            continue;
        }
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == name && !v.is_empty() && v.len() <= 256 {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn sessions_expire_when_idle_and_at_their_maximum_age() {
        let s = Sessions::default();
        let (id, _) = s.create(SessionKind::Admin, 600, 1000).unwrap();
        assert!(s.get(&id, 1599).is_some());
        assert!(s.get(&id, 2198).is_some(), "use restarts the idle time");
        assert!(s.get(&id, 2799).is_none());
        assert!(s.get(&id, 2000).is_none(), "an expired session is gone");
        let (id, _) = s.create(SessionKind::Admin, 600, 0).unwrap();
        let mut t = 0;
        while t + 500 < MAX_AGE {
            t += 500;
            assert!(s.get(&id, t).is_some());
        }
        assert!(s.get(&id, MAX_AGE).is_none());
        s.remove("nothing");
    }

    #[test]
    fn a_full_table_drops_the_oldest_anonymous_session() {
        let s = Sessions::default();
        let (admin, _) = s.create(SessionKind::Admin, 600, 0).unwrap();
        let (first, _) = s.create(SessionKind::Anonymous, 600, 1).unwrap();
        for i in 2..MAX_SESSIONS {
            s.create(SessionKind::Anonymous, 600, 2 + (i as i64 % 3)).unwrap();
        }
        let (newest, _) = s.create(SessionKind::Anonymous, 600, 10).unwrap();
        assert!(
            s.get(&first, 10).is_none(),
            "the oldest anonymous session made room"
        );
        assert!(s.get(&admin, 10).is_some(), "a signed-in session is kept");
        assert!(s.get(&newest, 10).is_some());
    }

    #[test]
    fn csrf_tokens_are_per_session() {
        let s = Sessions::default();
        let (_, a) = s.create(SessionKind::Anonymous, 600, 0).unwrap();
        let (_, b) = s.create(SessionKind::Anonymous, 600, 0).unwrap();
        assert!(a.csrf_ok(Some(&a.csrf)));
        assert!(!a.csrf_ok(Some(&b.csrf)));
        assert!(!a.csrf_ok(None));
        assert!(!a.csrf_ok(Some("")));
        assert!(!format!("{a:?}").contains(&a.csrf));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; enroll_console=abc; b=2"),
        );
        assert_eq!(cookie_value(&h, "enroll_console").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "enroll"), None);
        assert!(session_cookie("x", "v", 0).contains("HttpOnly; Secure; SameSite=Strict"));
    }
}
