//! The user directory ("network credentials", seed 003: LDAP users sign in with them).
//!
//! [`Directory`] is the seam for a real LDAP bind. The built-in [`SqliteDirectory`] keeps
//! accounts in its own table (`directory_accounts`) of the server database, with argon2
//! password hashes, so the flow can be exercised without a directory server.

use crate::crypto;
use crate::store::CachedSql;
use enroll_proto::secret::SecretString;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// Directory failure (not a wrong password: that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory cannot be reached or answered badly.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// The directory does not support the operation (e.g. setting a password over LDAP).
    #[error("operation not supported by this directory")]
    Unsupported,
}

/// A source of directory accounts.
pub trait Directory: Send + Sync {
    /// Checks `password` for the account `email`. `Ok(false)` for a wrong password or an unknown
    /// account (callers must not tell them apart).
    fn authenticate(&self, email: &str, password: &SecretString) -> Result<bool, DirectoryError>;

    /// Creates or replaces the account's password (the built-in directory). Directories that
    /// are managed elsewhere answer [`DirectoryError::Unsupported`].
    fn set_password(&self, email: &str, password: &SecretString) -> Result<(), DirectoryError> {
        let _ = (email, password);
        Err(DirectoryError::Unsupported)
    }
}

/// Built-in directory backed by the `directory_accounts` table.
#[derive(Debug)]
pub struct SqliteDirectory {
    conn: Mutex<Connection>,
}

fn db_err(e: rusqlite::Error) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

impl SqliteDirectory {
    /// Opens the directory table in the database file at `path` (its own connection).
    pub fn open(path: &Path) -> Result<Self, DirectoryError> {
        let conn = Connection::open(path).map_err(db_err)?;
        crate::store::configure(&conn).map_err(db_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS directory_accounts (
                 email_norm TEXT PRIMARY KEY,
                 password_hash TEXT NOT NULL,
                 updated_at INTEGER NOT NULL
             );",
        )
        .map_err(db_err)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn hash_of(&self, email: &str) -> Result<Option<String>, DirectoryError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| DirectoryError::Unavailable("lock poisoned".into()))?;
        conn.row(
            "SELECT password_hash FROM directory_accounts WHERE email_norm = ?1",
            [crate::store::normalize_email(email)],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)
    }
}

impl Directory for SqliteDirectory {
    fn authenticate(&self, email: &str, password: &SecretString) -> Result<bool, DirectoryError> {
        match self.hash_of(email)? {
            Some(hash) => Ok(crypto::argon2_verify(password.expose().as_bytes(), &hash)),
            None => {
                // Same work as a real check, so unknown accounts do not answer faster.
                let _ = crypto::argon2_verify(password.expose().as_bytes(), crypto::dummy_hash());
                Ok(false)
            }
        }
    }

    fn set_password(&self, email: &str, password: &SecretString) -> Result<(), DirectoryError> {
        let hash = crypto::argon2_hash(password.expose().as_bytes())
            .map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        let conn = self
            .conn
            .lock()
            .map_err(|_| DirectoryError::Unavailable("lock poisoned".into()))?;
        conn.exec(
            "INSERT INTO directory_accounts(email_norm, password_hash, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(email_norm) DO UPDATE SET password_hash = excluded.password_hash,
                                                   updated_at = excluded.updated_at",
            params![crate::store::normalize_email(email), hash, now],
        )
        .map_err(db_err)?;
        Ok(())
    }
}
