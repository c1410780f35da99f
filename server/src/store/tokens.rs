//! Enrollment token rows, shared by user tokens (`enrollment/tokens.rs`) and bulk-profile tokens
//! (`bulk/service.rs`): only their SHA-256 is stored.

use super::CachedSql;
use super::StoreResult;
use rusqlite::{params, Connection, OptionalExtension};

/// An enrollment token row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Identifier.
    pub id: String,
    /// User the token enrolls for (absent for bulk-profile tokens).
    pub user_id: Option<String>,
    /// Bulk profile the token belongs to (its public id).
    pub bulk_profile_id: Option<String>,
    /// Creation.
    pub created_at: i64,
    /// Expiry (`None`: never).
    pub expires_at: Option<i64>,
    /// Revocation.
    pub revoked_at: Option<i64>,
}

/// Stores a token by the SHA-256 of its text.
pub fn insert_token(c: &Connection, t: &TokenRow, token_hash: &[u8]) -> StoreResult<()> {
    c.exec(
        "INSERT INTO tokens(id, token_hash, user_id, bulk_profile_id, created_at, expires_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            t.id,
            token_hash,
            t.user_id,
            t.bulk_profile_id,
            t.created_at,
            t.expires_at,
            t.revoked_at
        ],
    )?;
    Ok(())
}

/// Finds a token by the SHA-256 of its text.
pub fn token_by_hash(c: &Connection, token_hash: &[u8]) -> StoreResult<Option<TokenRow>> {
    c.row(
        "SELECT id, user_id, bulk_profile_id, created_at, expires_at, revoked_at FROM tokens WHERE token_hash = ?1",
        [token_hash],
        |r| {
            Ok(TokenRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                bulk_profile_id: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                revoked_at: r.get(5)?,
            })
        },
    )
    .optional()
}

/// Revokes a token (a bulk profile's token after a refresh).
pub fn revoke_token(c: &Connection, id: &str, now: i64) -> StoreResult<()> {
    c.exec(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now],
    )?;
    Ok(())
}

/// Sets a token's expiry (`None`: never).
pub fn set_token_expiry(c: &Connection, id: &str, expires_at: Option<i64>) -> StoreResult<()> {
    c.exec(
        "UPDATE tokens SET expires_at = ?2 WHERE id = ?1",
        params![id, expires_at],
    )?;
    Ok(())
}

/// Finds a token row by id.
pub fn token_by_id(c: &Connection, id: &str) -> StoreResult<Option<TokenRow>> {
    c.row(
        "SELECT id, user_id, bulk_profile_id, created_at, expires_at, revoked_at FROM tokens WHERE id = ?1",
        [id],
        |r| {
            Ok(TokenRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                bulk_profile_id: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                revoked_at: r.get(5)?,
            })
        },
    )
    .optional()
}
