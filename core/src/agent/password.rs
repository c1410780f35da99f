//! The first-password step (seed 003: "after a PIN, a user with no password is asked to set
//! one"): when the server's enrollment reply offered it, the active state keeps the offer, the
//! status says `password_offered`, and the app either sets the password
//! ([`Agent::set_password`]) or declines ([`Agent::skip_password`]). The enrollment itself never
//! waits for this step.
//!
//! The password is sent once (`POST /enrollments/{id}/password`, with the enrollment's bearer
//! secret) and never stored, logged or put in an error.

use super::state::{EnrollmentStatus, PersistedState};
use super::Agent;
use crate::error::{Error, Result};
use crate::protocol::{self, ErrorCode};
use crate::secret::SecretString;

impl Agent {
    /// Sets the enrolled user's first password, when the status is `Active` with
    /// `password_offered`. On success, or when the server says the offer no longer stands
    /// (`password_already_set`, `password_not_offered`, a closed enrollment), the offer is
    /// dropped; a weak password, a rate limit or a network failure keep it (try again).
    ///
    /// Errors: [`Error::InvalidState`] without an offer, [`Error::Server`] with the server's
    /// code (`weak_password`, `password_already_set`, `password_not_offered`, `rate_limited`).
    pub async fn set_password(&self, password: SecretString) -> Result<EnrollmentStatus> {
        let mut st = self.state.lock().await;
        let (server, offer) = match &*st {
            PersistedState::Active {
                server,
                password_offer: Some(offer),
                ..
            } => (server.clone(), offer.clone()),
            _ => {
                return Err(Error::InvalidState(
                    "no password to set: the server offers it only after enrolling with a one-time PIN, for a user \
                     without one"
                        .into(),
                ))
            }
        };
        let client = self.client_for(&server)?;
        let request = protocol::SetPasswordRequest { password };
        match client
            .set_password(&offer.enrollment_id, &offer.enrollment_secret, &request)
            .await
        {
            Ok(reply) => {
                tracing::info!(user = %reply.user, "first password set");
                self.drop_offer(&mut st)?;
                Ok(st.status())
            }
            Err(err)
                if matches!(
                    err.server_code(),
                    Some(
                        ErrorCode::PasswordAlreadySet
                            | ErrorCode::PasswordNotOffered
                            | ErrorCode::EnrollmentClosed
                            | ErrorCode::EnrollmentNotFound
                            | ErrorCode::Unauthorized
                    )
                ) =>
            {
                tracing::info!(error = %err, "the server no longer offers to set a password");
                self.drop_offer(&mut st)?;
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    /// Declines the first-password step: the offer is forgotten (the user can still set a
    /// password in the self-service portal). Does nothing without an offer.
    pub async fn skip_password(&self) -> Result<EnrollmentStatus> {
        let mut st = self.state.lock().await;
        self.drop_offer(&mut st)?;
        Ok(st.status())
    }

    fn drop_offer(&self, st: &mut PersistedState) -> Result<()> {
        let mut next = st.clone();
        if let PersistedState::Active { password_offer, .. } = &mut next {
            if password_offer.take().is_some() {
                return self.transition(st, next);
            }
        }
        Ok(())
    }
}
