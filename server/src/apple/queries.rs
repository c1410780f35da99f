//! Store queries of the Apple domain: challenge look-up and use, issued identities.

use crate::store::CachedSql;
use rusqlite::{params, Connection, OptionalExtension};

/// A profile issuance found by its challenge hash.
pub(super) struct Issuance {
    /// The issuance (profile) UUID.
    pub uuid: String,
    /// The enrollment it belongs to.
    pub enrollment_id: String,
    /// The device the enrollment was made for.
    pub device_id: String,
    /// Profile expiry, Unix seconds.
    pub expires_at: i64,
    /// When the enrollment was closed (cancelled, replaced), if it was.
    pub closed: bool,
    /// Whether the challenge has been used already.
    pub used: bool,
    /// The device's state.
    pub device_state: String,
}

/// The lookup of [`issuance_by_challenge`] (by the `profile_issuances_challenge` index).
pub(crate) const ISSUANCE_BY_CHALLENGE: &str =
    "SELECT pi.uuid, pi.enrollment_id, e.device_id, pi.expires_at, e.closed_at IS NOT NULL,
            u.issuance_uuid IS NOT NULL, d.state
     FROM profile_issuances pi
     JOIN enrollments e ON e.id = pi.enrollment_id
     JOIN devices d ON d.id = e.device_id
     LEFT JOIN scep_challenges_used u ON u.issuance_uuid = pi.uuid
     WHERE pi.challenge_hash = ?1";

/// The issuance whose challenge hashes to `hash`.
pub(super) fn issuance_by_challenge(conn: &Connection, hash: &[u8]) -> rusqlite::Result<Option<Issuance>> {
    conn.row(ISSUANCE_BY_CHALLENGE, params![hash], |r| {
        Ok(Issuance {
            uuid: r.get(0)?,
            enrollment_id: r.get(1)?,
            device_id: r.get(2)?,
            expires_at: r.get(3)?,
            closed: r.get(4)?,
            used: r.get(5)?,
            device_state: r.get(6)?,
        })
    })
    .optional()
}

/// Marks a challenge used; `false` when it already was (a concurrent request won).
pub(super) fn use_challenge(conn: &Connection, issuance_uuid: &str, now: i64) -> rusqlite::Result<bool> {
    let n = conn.exec(
        "INSERT OR IGNORE INTO scep_challenges_used(issuance_uuid, used_at) VALUES (?1, ?2)",
        params![issuance_uuid, now],
    )?;
    Ok(n == 1)
}

/// An identity certificate issued by the SCEP CA.
pub(super) struct Identity {
    /// The device it was issued to.
    pub device_id: String,
    /// The enrollment it was issued for (none after a renewal).
    pub enrollment_id: Option<String>,
    /// Expiry, Unix seconds.
    pub not_after: i64,
    /// Whether it was revoked (renewed, retired).
    pub revoked: bool,
}

/// Records an issued identity.
pub(super) fn insert_identity(
    conn: &Connection,
    serial: &str,
    device_id: &str,
    enrollment_id: Option<&str>,
    der: &[u8],
    issued_at: i64,
    not_after: i64,
) -> rusqlite::Result<()> {
    conn.exec(
        "INSERT INTO apple_certificates(serial, device_id, enrollment_id, cert_der, issued_at, not_after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![serial, device_id, enrollment_id, der, issued_at, not_after],
    )?;
    conn.exec(
        "INSERT INTO device_history(device_id, at, event, detail) VALUES (?1, ?2, 'identity_issued', ?3)",
        params![device_id, issued_at, format!("SCEP certificate {serial}")],
    )?;
    Ok(())
}

/// The identity with this serial (lower-case hex) and exact DER.
pub(super) fn identity(conn: &Connection, serial: &str, der: &[u8]) -> rusqlite::Result<Option<Identity>> {
    conn.row(
        "SELECT device_id, enrollment_id, not_after, revoked_at IS NOT NULL FROM apple_certificates
         WHERE serial = ?1 AND cert_der = ?2",
        params![serial, der],
        |r| {
            Ok(Identity {
                device_id: r.get(0)?,
                enrollment_id: r.get(1)?,
                not_after: r.get(2)?,
                revoked: r.get(3)?,
            })
        },
    )
    .optional()
}

/// Revokes an identity (replaced by a renewal).
pub(super) fn revoke_identity(conn: &Connection, serial: &str, now: i64) -> rusqlite::Result<()> {
    conn.exec(
        "UPDATE apple_certificates SET revoked_at = ?2 WHERE serial = ?1 AND revoked_at IS NULL",
        params![serial, now],
    )?;
    Ok(())
}

/// The state of a device.
pub(super) fn device_state(conn: &Connection, device_id: &str) -> rusqlite::Result<Option<String>> {
    conn.row(
        "SELECT state FROM devices WHERE id = ?1",
        params![device_id],
        |r| r.get(0),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_looked_up_by_index() {
        let store = crate::store::tests::mem();
        let steps = crate::store::tests::row_by_row_steps(store.conn(), ISSUANCE_BY_CHALLENGE);
        assert!(steps.is_empty(), "{steps:?}");
    }
}
