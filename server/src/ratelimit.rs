//! Failure counters for rate limits (issue 13), in memory: failed attempts are counted per
//! source address and per account. The enrollment domain decides what counts (password, PIN and
//! token guesses on the credential routes, on top of the PIN lock); this table knows no domain.
//!
//! Fixed windows driven by the server clock ([`crate::clock::ServerClock`], so tests move time
//! with `ManualClock`): after [`ACCOUNT_MAX_FAILURES`] failures for one account, or
//! [`SOURCE_MAX_FAILURES`] from one address, within [`WINDOW_SECS`], further attempts are refused
//! with `rate_limited`, `retry_after_secs` and a `Retry-After` header until the window ends,
//! without checking the credential (so a correct guess during a lock teaches nothing). A success
//! clears the account's count. The table holds at most [`MAX_ENTRIES`] keys: when full, expired
//! windows are dropped first, then the oldest one.

use crate::error::ApiError;
use enroll_proto::ErrorCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Length of a counting window, seconds.
pub(crate) const WINDOW_SECS: i64 = 15 * 60;
/// Failed attempts for one account (e-mail) within a window before it is refused.
pub(crate) const ACCOUNT_MAX_FAILURES: u32 = 10;
/// Failed attempts from one source address within a window before it is refused.
pub(crate) const SOURCE_MAX_FAILURES: u32 = 30;
/// Most keys the table keeps (bounded memory whatever the number of addresses or names tried).
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// What is counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A source address (`None`: unknown, e.g. in-process tests).
    Source(Option<IpAddr>),
    /// An account, by lower-cased e-mail.
    Account(String),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    failures: u32,
}

/// The failure counters.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    table: Mutex<HashMap<Key, Window>>,
}

fn limit_of(key: &Key) -> u32 {
    match key {
        Key::Source(_) => SOURCE_MAX_FAILURES,
        Key::Account(_) => ACCOUNT_MAX_FAILURES,
    }
}

impl RateLimiter {
    /// Refuses with `rate_limited` when one of `keys` used up its failures in this window.
    pub(crate) fn check(&self, keys: &[Key], now: i64) -> Result<(), ApiError> {
        let Ok(table) = self.table.lock() else {
            return Ok(());
        };
        let mut wait: Option<i64> = None;
        for key in keys {
            if let Some(w) = table.get(key) {
                let ends = w.started + WINDOW_SECS;
                if now < ends && w.failures >= limit_of(key) {
                    wait = Some(wait.map_or(ends - now, |x| x.max(ends - now)));
                }
            }
        }
        match wait {
            None => Ok(()),
            Some(secs) => {
                let secs = u64::try_from(secs.max(1)).unwrap_or(1);
                tracing::info!(retry_after_secs = secs, "credential attempts rate limited");
                let mut e = ApiError::new(
                    ErrorCode::RateLimited,
                    format!("too many failed sign-in attempts: try again in {}", human(secs)),
                );
                e.info.retry_after_secs = Some(secs);
                Err(e)
            }
        }
    }

    /// Counts one failed attempt under each of `keys`.
    pub(crate) fn failure(&self, keys: &[Key], now: i64) {
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        for key in keys {
            if !table.contains_key(key) && table.len() >= MAX_ENTRIES {
                make_room(&mut table, now);
            }
            let w = table.entry(key.clone()).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now >= w.started + WINDOW_SECS {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }

    /// A successful sign-in: the account's count starts again.
    pub(crate) fn success(&self, keys: &[Key]) {
        if let Ok(mut table) = self.table.lock() {
            for key in keys {
                if matches!(key, Key::Account(_)) {
                    table.remove(key);
                }
            }
        }
    }

    /// Keys held (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }
}

fn make_room(table: &mut HashMap<Key, Window>, now: i64) {
    table.retain(|_, w| now < w.started + WINDOW_SECS);
    if table.len() >= MAX_ENTRIES {
        if let Some(oldest) = table
            .iter()
            .min_by_key(|(_, w)| w.started)
            .map(|(k, _)| k.clone())
        {
            table.remove(&oldest);
        }
    }
}

fn human(secs: u64) -> String {
    if secs < 120 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs.div_ceil(60))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn locks_an_account_then_opens_when_the_window_ends() {
        let rl = RateLimiter::default();
        let keys = vec![Key::Account("a@example.com".into())];
        for _ in 0..ACCOUNT_MAX_FAILURES {
            rl.check(&keys, 100).unwrap();
            rl.failure(&keys, 100);
        }
        let e = rl.check(&keys, 160).unwrap_err();
        assert_eq!(e.info.code, ErrorCode::RateLimited);
        assert_eq!(e.info.retry_after_secs, Some((WINDOW_SECS - 60) as u64));
        rl.check(&keys, 100 + WINDOW_SECS).unwrap();
    }

    #[test]
    fn a_success_clears_the_account_not_the_source() {
        let rl = RateLimiter::default();
        let keys = vec![Key::Source(None), Key::Account("a@example.com".into())];
        for _ in 0..ACCOUNT_MAX_FAILURES - 1 {
            rl.failure(&keys, 0);
        }
        rl.success(&keys);
        assert_eq!(rl.len(), 1);
    }

    #[test]
    fn the_table_stays_bounded() {
        let rl = RateLimiter::default();
        for i in 0..(MAX_ENTRIES + 50) {
            rl.failure(&[Key::Account(format!("u{i}@example.com"))], i as i64);
        }
        assert!(rl.len() <= MAX_ENTRIES);
    }
}
