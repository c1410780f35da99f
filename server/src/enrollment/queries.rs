//! Store queries of the enrollment flow: one-time PINs, profile issuances (and their SCEP
//! challenge hashes), idempotency keys.

use crate::store::CachedSql;
use crate::store::StoreResult;
use rusqlite::{params, Connection, OptionalExtension};

// ---------------------------------------------------------------------------------------------
// PINs

/// A one-time PIN row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRow {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: String,
    /// argon2 hash of the PIN.
    pub pin_hash: String,
    /// Creation.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Failed attempts that lock the PIN.
    pub max_attempts: u32,
    /// When it was used.
    pub used_at: Option<i64>,
}

/// Revokes every live PIN of a user and stores a new one.
pub fn replace_pin(
    c: &Connection,
    user_id: &str,
    pin_hash: &str,
    now: i64,
    expires_at: i64,
    max_attempts: u32,
) -> StoreResult<()> {
    c.exec(
        "UPDATE pins SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, now],
    )?;
    c.exec(
        "INSERT INTO pins(user_id, pin_hash, created_at, expires_at, attempts, max_attempts)
         VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        params![user_id, pin_hash, now, expires_at, max_attempts],
    )?;
    Ok(())
}

/// The current (latest, not revoked) PIN of a user.
pub fn current_pin(c: &Connection, user_id: &str) -> StoreResult<Option<PinRow>> {
    c.row(
        "SELECT id, user_id, pin_hash, created_at, expires_at, attempts, max_attempts, used_at
         FROM pins WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY id DESC LIMIT 1",
        [user_id],
        |r| {
            Ok(PinRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                pin_hash: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                attempts: r.get(5)?,
                max_attempts: r.get(6)?,
                used_at: r.get(7)?,
            })
        },
    )
    .optional()
}

/// Counts one failed attempt; returns the new count.
pub fn pin_failed_attempt(c: &Connection, pin_id: i64) -> StoreResult<u32> {
    c.exec("UPDATE pins SET attempts = attempts + 1 WHERE id = ?1", [pin_id])?;
    c.row("SELECT attempts FROM pins WHERE id = ?1", [pin_id], |r| r.get(0))
}

/// Marks a PIN used.
pub fn pin_mark_used(c: &Connection, pin_id: i64, now: i64) -> StoreResult<()> {
    c.exec("UPDATE pins SET used_at = ?2 WHERE id = ?1", params![pin_id, now])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// profile issuances

/// Records an issued profile.
pub fn insert_issuance(
    c: &Connection,
    uuid: &str,
    enrollment_id: &str,
    issued_at: i64,
    expires_at: i64,
    challenge_hash: &[u8],
) -> StoreResult<()> {
    c.exec(
        "INSERT INTO profile_issuances(uuid, enrollment_id, issued_at, expires_at, challenge_hash)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![uuid, enrollment_id, issued_at, expires_at, challenge_hash],
    )?;
    Ok(())
}

/// How many profiles an enrollment was issued.
pub fn issuance_count(c: &Connection, enrollment_id: &str) -> StoreResult<u32> {
    c.row(
        "SELECT COUNT(*) FROM profile_issuances WHERE enrollment_id = ?1",
        [enrollment_id],
        |r| r.get(0),
    )
}

/// Whether `uuid` was issued for `enrollment_id`.
pub fn issuance_exists(c: &Connection, enrollment_id: &str, uuid: &str) -> StoreResult<bool> {
    c.row(
        "SELECT COUNT(*) FROM profile_issuances WHERE enrollment_id = ?1 AND uuid = ?2",
        params![enrollment_id, uuid],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

// ---------------------------------------------------------------------------------------------
// idempotency

/// Looks up an idempotency key: (request fingerprint, enrollment id).
pub fn idempotency_get(c: &Connection, key: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
    c.row(
        "SELECT fingerprint, enrollment_id FROM idempotency WHERE key = ?1",
        [key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Stores an idempotency key.
pub fn idempotency_put(
    c: &Connection,
    key: &str,
    fingerprint: &[u8],
    enrollment_id: &str,
    now: i64,
) -> StoreResult<()> {
    c.exec(
        "INSERT INTO idempotency(key, fingerprint, enrollment_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![key, fingerprint, enrollment_id, now],
    )?;
    Ok(())
}
