//! The agent's "set your password" step (seed 003: after a PIN, a user with no password is
//! asked to set one, in the agent as in the portal): whether an enrollment offers it
//! (`password_setup: offered` in its reply) and `POST /enrollments/{id}/password`, which sets
//! the password once through [`UserService::set_first_password`] (the portal's own rule).
//!
//! The caller proves the enrollment with its bearer secret (like confirm and cancel). The offer
//! holds for [`PASSWORD_SETUP_WINDOW_SECS`] after the enrollment started, while the enrollment
//! is not cancelled or superseded, for a PIN enrollment of a local account without a password.

use super::EnrollmentService;
use crate::error::ApiError;
use crate::store::EnrollmentRow;
use crate::users::{UserRow, UserService};
use enroll_proto::secret::SecretString;
use enroll_proto::{ErrorCode, PasswordSetup, SetPasswordResponse};

/// How long after a PIN enrollment started its agent may set the user's first password, seconds.
pub const PASSWORD_SETUP_WINDOW_SECS: i64 = 24 * 3600;

/// Why no password can be set through `e` for `user` at `now` (`None`: it can).
fn refusal(e: &EnrollmentRow, user: Option<&UserRow>, now: i64) -> Option<ApiError> {
    let not_offered = |why: &str| Some(ApiError::new(ErrorCode::PasswordNotOffered, why));
    if e.credential != "pin" {
        return not_offered(
            "a password is only set after enrolling with an invitation's one-time PIN: sign in to the portal to \
             manage it",
        );
    }
    let Some(user) = user else {
        return not_offered("this enrollment is for no user");
    };
    if user.directory {
        return not_offered("directory accounts sign in with their network credentials");
    }
    if e.close_reason.is_some() {
        return Some(EnrollmentService::closed_error(e));
    }
    if now.saturating_sub(e.created_at) > PASSWORD_SETUP_WINDOW_SECS {
        return not_offered(
            "the offer to set a password ended 24 hours after the enrollment: set it in the self-service portal \
             with a new invitation",
        );
    }
    if user.password_hash.is_some() {
        return Some(ApiError::new(
            ErrorCode::PasswordAlreadySet,
            "this account already has a password: sign in with it",
        ));
    }
    None
}

impl EnrollmentService<'_> {
    /// `Some(Offered)` when the agent of `e` may set the user's first password now.
    pub(super) fn password_setup(&self, e: &EnrollmentRow, user: Option<&UserRow>) -> Option<PasswordSetup> {
        refusal(e, user, self.now())
            .is_none()
            .then_some(PasswordSetup::Offered)
    }

    /// `POST /enrollments/{id}/password`: the first password of the enrollment's user, once.
    /// `weak_password`, `password_already_set`, `password_not_offered`, `enrollment_closed`.
    pub fn set_enrollment_password(
        &self,
        id: &str,
        bearer: Option<&str>,
        password: &SecretString,
    ) -> Result<SetPasswordResponse, ApiError> {
        let (e, user) = {
            let c = self.read()?;
            let e = self.auth_enrollment(&c, id, bearer)?;
            let user = match &e.user_id {
                Some(uid) => crate::users::user_by_id(&c, uid)?,
                None => None,
            };
            (e, user)
        };
        if let Some(refused) = refusal(&e, user.as_ref(), self.now()) {
            return Err(refused);
        }
        let Some(user) = user else {
            return Err(ApiError::internal(&"offered password without user"));
        };
        // The portal's rule (length, directory, already set, checked again under the write lock).
        let view = UserService(self.0).set_first_password(&user.id, password)?;
        tracing::info!(enrollment_id = %e.id, user_id = %user.id, "first password set by the agent");
        Ok(SetPasswordResponse { user: view.email })
    }
}
