//! Store queries of user accounts (e-mail unique case-insensitively).

use crate::store::CachedSql;
use crate::store::{normalize_email, StoreResult};
use enroll_proto::UserView;
use rusqlite::{params, Connection, OptionalExtension, Row};

// ---------------------------------------------------------------------------------------------
// users

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Identifier.
    pub id: String,
    /// E-mail as entered.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Directory (LDAP) account.
    pub directory: bool,
    /// argon2 hash of the local password.
    pub password_hash: Option<String>,
    /// Creation time.
    pub created_at: i64,
}

impl UserRow {
    /// The admin view.
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            directory: self.directory,
            has_password: self.password_hash.is_some(),
            created_at: self.created_at,
        }
    }
}

const USER_COLS: &str = "id, email, display_name, directory, password_hash, created_at";

fn user_from_row(r: &Row<'_>) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        email: r.get(1)?,
        display_name: r.get(2)?,
        directory: r.get::<_, i64>(3)? != 0,
        password_hash: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Sets a user's password hash.
pub fn set_password_hash(c: &Connection, id: &str, hash: &str) -> StoreResult<()> {
    c.exec(
        "UPDATE users SET password_hash = ?1 WHERE id = ?2",
        params![hash, id],
    )?;
    Ok(())
}

/// Inserts a user. Fails with a constraint violation if the e-mail exists (any case).
pub fn insert_user(c: &Connection, u: &UserRow) -> StoreResult<()> {
    c.exec(
        "INSERT INTO users(id, email, email_norm, display_name, directory, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            u.id,
            u.email,
            normalize_email(&u.email),
            u.display_name,
            i64::from(u.directory),
            u.password_hash,
            u.created_at
        ],
    )?;
    Ok(())
}

/// Deletes a user that has nothing attached (undo of a failed creation).
pub fn delete_user(c: &Connection, id: &str) -> StoreResult<()> {
    c.exec("DELETE FROM users WHERE id = ?1", [id])?;
    Ok(())
}

/// Finds a user by e-mail, case-insensitively.
pub fn user_by_email(c: &Connection, email: &str) -> StoreResult<Option<UserRow>> {
    c.row(
        &format!("SELECT {USER_COLS} FROM users WHERE email_norm = ?1"),
        [normalize_email(email)],
        user_from_row,
    )
    .optional()
}

/// Finds a user by id.
pub fn user_by_id(c: &Connection, id: &str) -> StoreResult<Option<UserRow>> {
    c.row(
        &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
        [id],
        user_from_row,
    )
    .optional()
}

/// All users, by e-mail.
pub fn list_users(c: &Connection) -> StoreResult<Vec<UserRow>> {
    let mut st = c.prepare_cached(&format!("SELECT {USER_COLS} FROM users ORDER BY email_norm"))?;
    let rows = st.query_map([], user_from_row)?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::mem;

    #[test]
    fn emails_are_case_insensitive_unique() {
        let s = mem();
        let u = UserRow {
            id: "1".into(),
            email: "Alice@Example.com".into(),
            display_name: String::new(),
            directory: false,
            password_hash: None,
            created_at: 0,
        };
        insert_user(s.conn(), &u).unwrap();
        let mut dup = u.clone();
        dup.id = "2".into();
        dup.email = "alice@example.COM".into();
        assert!(insert_user(s.conn(), &dup).is_err());
        assert_eq!(
            user_by_email(s.conn(), "ALICE@example.com").unwrap().unwrap().id,
            "1"
        );
    }
}
