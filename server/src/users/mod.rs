//! Users: the accounts devices enroll for (local, with an argon2 password, or "network
//! credentials" checked by the [`crate::directory::Directory`]).
//!
//! A domain of its own rather than part of `enrollment`, because three domains read users:
//! enrollment (credentials), devices (an owner's e-mail) and bulk (a profile's associated
//! user). As the lowest domain it depends on the shared layers only, so none of them has to
//! import another for a user look-up. The directory adapter itself stays a shared layer
//! (`crate::directory`), beside the PKI, because start-up errors ([`crate::ServerError`]) name it.
//! Invitations and PINs are enrollment rules (`enrollment/invitations.rs`).

pub(crate) mod queries;
mod routes;

pub(crate) use queries::*;
pub(crate) use routes::table;

use crate::common::{field, new_id, validate_email, MAX_PASSWORD_BYTES};
use crate::crypto;
use crate::directory::DirectoryError;
use crate::error::ApiError;
use crate::state::domain_service;
use enroll_proto::secret::SecretString;
use enroll_proto::{CreateUserRequest, ErrorCode, UserView};

use rusqlite::Connection;

/// Shortest password a user sets in the portal or through the agent, in bytes.
pub const MIN_PASSWORD_BYTES: usize = enroll_proto::MIN_NEW_PASSWORD_BYTES;

domain_service!(
    /// Rules of user accounts.
    UserService
);

impl UserService<'_> {
    /// `POST /admin/users`: a local user (argon2 password) or a directory user.
    pub fn create_user(&self, req: &CreateUserRequest) -> Result<UserView, ApiError> {
        validate_email(&req.email)?;
        field("display_name", &req.display_name)?;
        if let Some(p) = &req.password {
            if p.is_empty() || p.len() > MAX_PASSWORD_BYTES {
                return Err(ApiError::bad_request("password must be 1 to 1024 bytes"));
            }
        }
        let exists = |c: &Connection| -> Result<(), ApiError> {
            if queries::user_by_email(c, &req.email)?.is_some() {
                return Err(ApiError::bad_request("a user with this e-mail already exists")
                    .with_status(axum::http::StatusCode::CONFLICT));
            }
            Ok(())
        };
        exists(&*self.read()?)?;
        let password_hash = match (&req.password, req.directory) {
            (Some(p), false) => Some(crypto::argon2_hash(p.expose().as_bytes())?),
            _ => None,
        };
        let user = UserRow {
            id: new_id(),
            email: req.email.trim().to_string(),
            display_name: req.display_name.clone(),
            directory: req.directory,
            password_hash,
            created_at: self.now(),
        };
        {
            let store = self.lock()?;
            exists(store.conn())?;
            queries::insert_user(store.conn(), &user)?;
        }
        if let (true, Some(p)) = (req.directory, &req.password) {
            if let Err(e) = self.directory.set_password(&user.email, p) {
                if let Ok(store) = self.lock() {
                    let _ = queries::delete_user(store.conn(), &user.id);
                }
                return Err(match e {
                    DirectoryError::Unsupported => {
                        ApiError::bad_request("this directory does not accept passwords from the server")
                    }
                    DirectoryError::Unavailable(_) => {
                        ApiError::new(ErrorCode::Unavailable, "directory unavailable")
                    }
                });
            }
        }
        tracing::info!(user_id = %user.id, directory = user.directory, "user created");
        Ok(user.view())
    }

    /// `GET /admin/users`.
    pub fn list_users(&self) -> Result<Vec<UserView>, ApiError> {
        Ok(queries::list_users(&*self.read()?)?
            .iter()
            .map(UserRow::view)
            .collect())
    }

    /// Sets the local password of a user who has none yet (seed 003: after signing in with a
    /// one-time PIN, in the portal or through the agent): 8 to 1024 bytes, else `weak_password`;
    /// `password_already_set` when the account has one. Directory accounts keep their network
    /// credentials (`password_not_offered`).
    pub fn set_first_password(&self, user_id: &str, password: &SecretString) -> Result<UserView, ApiError> {
        if password.len() < MIN_PASSWORD_BYTES || password.len() > MAX_PASSWORD_BYTES {
            return Err(ApiError::new(
                ErrorCode::WeakPassword,
                "the password must be 8 to 1024 bytes long: choose a longer one",
            ));
        }
        let hash = crypto::argon2_hash(password.expose().as_bytes())?;
        let store = self.lock()?;
        let mut user =
            queries::user_by_id(store.conn(), user_id)?.ok_or_else(|| ApiError::not_found("no such user"))?;
        if user.directory {
            return Err(ApiError::new(
                ErrorCode::PasswordNotOffered,
                "directory accounts sign in with their network credentials",
            ));
        }
        if user.password_hash.is_some() {
            return Err(ApiError::new(
                ErrorCode::PasswordAlreadySet,
                "this account already has a password: sign in with it",
            ));
        }
        queries::set_password_hash(store.conn(), &user.id, &hash)?;
        user.password_hash = Some(hash);
        tracing::info!(user_id = %user.id, "first password set");
        Ok(user.view())
    }
}
