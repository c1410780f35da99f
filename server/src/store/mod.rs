//! SQLite storage: schema and plain row functions.
//!
//! One database file (`enroll.db` in the data directory), WAL mode. Functions take a
//! `&Connection`, so they work the same on a connection and inside a transaction
//! (`rusqlite::Transaction` derefs to `Connection`). Nothing here knows about HTTP.
//!
//! `crate::store` holds what several domains share: the connections ([`Store`], the writer, and
//! [`Pool`], the writer with its readers: `pool.rs`), the schema and
//! its migrations ([`schema`]), the `meta` key-value table, the enrollment token rows
//! (`tokens.rs`: user tokens and bulk-profile tokens) and the enrollment rows (`enrollments.rs`:
//! written by the enrollment flow, closed by device actions). Each domain keeps its own queries
//! in its folder (`users/queries.rs`, `devices/queries.rs`, `enrollment/queries.rs`,
//! `bulk/queries.rs`).
//!
//! Secrets are never stored in clear: tokens as SHA-256, PINs and passwords as argon2 PHC
//! strings, SCEP challenges as SHA-256. Enrollment and device secrets are not stored at all
//! (they are HMACs derived from the server secret).

mod cached;
mod enrollments;
mod pool;
pub mod schema;
mod tokens;

pub use cached::{CachedSql, STATEMENT_CACHE};
pub use enrollments::*;
pub use pool::{Pool, ReadConn};
pub use schema::{apply_schema, BULK_INDEXES, SCHEMA_VERSION};
pub use tokens::*;

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// Storage error.
pub type StoreResult<T> = Result<T, rusqlite::Error>;

/// The database connection.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

/// Applies the connection settings shared by every connection to the database file.
pub fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies the schema.
    ///
    /// The file is private to the user (mode 0600, set when it is created and tightened when
    /// an existing one is wider); SQLite gives its `-wal` and `-shm` files the same mode.
    pub fn open(path: &Path) -> StoreResult<Self> {
        make_private(path)?;
        let conn = Connection::open(path)?;
        configure(&conn)?;
        apply_schema(&conn)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(Self { conn })
    }

    /// The connection (for reads and single statements).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, mutably (to start transactions).
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Creates `path` empty with mode 0600 if it does not exist; an existing file wider than 0600
/// is narrowed.
fn make_private(path: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let io = |e: std::io::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
        match std::fs::metadata(path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// helpers shared by the domains' queries

/// A JSON encoding failure as a storage error.
pub(crate) fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

/// Decodes a JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(idx: usize, text: &str) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

/// Case-folded e-mail used for uniqueness and look-ups.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

// ---------------------------------------------------------------------------------------------
// meta

/// Reads a `meta` value.
pub fn meta_get(c: &Connection, key: &str) -> StoreResult<Option<String>> {
    c.row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

/// Writes a `meta` value.
pub fn meta_set(c: &Connection, key: &str, value: &str) -> StoreResult<()> {
    c.exec(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::schema::SCHEMA;
    use super::*;

    pub(crate) fn mem() -> Store {
        let conn = Connection::open_in_memory().unwrap();
        apply_schema(&conn).unwrap();
        Store { conn }
    }

    /// The steps of `sql`'s query plan (SQLite's `EXPLAIN QUERY PLAN`, parameters NULL) that
    /// read a table row by row: a `SCAN` of a table, or an index search constrained by the
    /// platform alone (every device of a platform). Empty for a query that only looks rows up.
    pub(crate) fn row_by_row_steps(conn: &Connection, sql: &str) -> Vec<String> {
        let params = (1..=20)
            .rev()
            .find(|n| sql.contains(&format!("?{n}")))
            .unwrap_or(0);
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Value::Null; params];
        let steps: Vec<String> = st
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        steps
            .into_iter()
            .filter(|d| {
                (d.starts_with("SCAN ") && !d.contains("CONSTANT ROW") && !d.contains("VIRTUAL TABLE"))
                    || d.ends_with("(platform=?)")
            })
            .collect()
    }

    #[test]
    fn the_plan_check_sees_a_walk_over_a_platform() {
        // The form the device match had before: one OR over the identifiers.
        let walk = "SELECT id FROM devices WHERE platform = ?1 AND (
                (?2 IS NOT NULL AND hardware_id = ?2)
                OR (?3 IS NOT NULL AND serial = ?3 AND manufacturer_norm = ?4)
                OR id IN (SELECT device_id FROM device_imeis WHERE imei IN (?5, ?6)))";
        let store = mem();
        assert_eq!(row_by_row_steps(&store.conn, walk).len(), 1, "{walk}");
        assert!(!row_by_row_steps(&store.conn, "SELECT id FROM devices").is_empty());
        assert!(row_by_row_steps(&store.conn, "SELECT id FROM devices WHERE id = ?1").is_empty());
    }

    #[test]
    fn version_1_databases_are_migrated() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        apply_schema(&conn).unwrap();
        apply_schema(&conn).unwrap();
        let has: bool = conn
            .prepare_cached("SELECT 1 FROM pragma_table_info('enrollments') WHERE name = 'bulk_device_id'")
            .unwrap()
            .exists([])
            .unwrap();
        assert!(has);
    }
}
