//! Starting an attempt: [`Agent::begin`] (and [`Agent::enroll`]), [`Agent::retarget`] (another
//! server for an attempt the server never accepted) and [`Agent::reenroll`]. The transitions that
//! follow are in the parent module.

use super::state::EnrollmentStatus;
use super::state::{Attempt, PersistedState};
use super::{new_key, strip_go, Agent};
use crate::credentials::Credential;
use crate::error::{Error, Result};

impl Agent {
    /// Starts a new enrollment with `server` (a base URL or an invitation URL ending in `/go`).
    ///
    /// Allowed when nothing is in progress and the device is not active, and over an attempt the
    /// server never accepted (`Discovered`: a wrong address, an untrusted certificate, a stopped
    /// server): the same server and credential again keep that attempt and its idempotency key
    /// (a reply lost on the way still counts), new values replace it. Does no I/O besides
    /// persisting; call [`Agent::run`] (or use [`Agent::enroll`]) to proceed.
    pub async fn begin(&self, server: &str, credential: Credential) -> Result<EnrollmentStatus> {
        let base = crate::client::validate_base_url(
            &strip_go(server),
            self.config.client.allow_insecure_loopback_http,
        )?;
        let server = base.as_str().trim_end_matches('/').to_owned();
        let mut st = self.state.lock().await;
        if let PersistedState::Discovered {
            attempt,
            credential: held,
        } = &*st
        {
            if attempt.server == server && *held == credential {
                self.fresh_cancel_token();
                return Ok(st.status());
            }
            tracing::info!(
                from = %attempt.server,
                to = %server,
                "replacing an attempt the server never accepted"
            );
        } else if st.in_progress() {
            return Err(Error::InvalidState(format!(
                "the server already accepted the enrollment in progress ({}): `resume` continues it, `cancel` \
                 abandons it",
                st.status().name()
            )));
        }
        if matches!(*st, PersistedState::Active { .. }) {
            return Err(Error::InvalidState(
                "the device is already enrolled; use re-enroll".into(),
            ));
        }
        if matches!(credential, Credential::Device { .. }) {
            return Err(Error::InvalidState(
                "device credentials are only used by re-enroll".into(),
            ));
        }
        self.fresh_cancel_token();
        let attempt = Attempt {
            server,
            key: new_key(),
            started_at_ms: self.platform.clock.now_ms(),
        };
        self.transition(&mut st, PersistedState::Discovered { attempt, credential })?;
        Ok(st.status())
    }

    /// Points an attempt the server never accepted (`Discovered`) at another server, e.g. after
    /// a typo in the address; the credential and the idempotency key stay. Once the server has
    /// accepted the enrollment it belongs to that server: another one is refused (cancel, then
    /// enroll there). The same server is always accepted.
    pub async fn retarget(&self, server: &str) -> Result<EnrollmentStatus> {
        let base = crate::client::validate_base_url(
            &strip_go(server),
            self.config.client.allow_insecure_loopback_http,
        )?;
        let server = base.as_str().trim_end_matches('/').to_owned();
        let mut st = self.state.lock().await;
        if st.server() == Some(server.as_str()) {
            return Ok(st.status());
        }
        match st.clone() {
            PersistedState::Discovered {
                mut attempt,
                credential,
            } => {
                attempt.server = server;
                self.transition(&mut st, PersistedState::Discovered { attempt, credential })?;
                Ok(st.status())
            }
            other if other.in_progress() => Err(Error::InvalidState(format!(
                "the server at {} already accepted this enrollment, which cannot move to another server: \
                 `cancel` it, then enroll with the new server",
                other.server().unwrap_or_default()
            ))),
            _ => Err(Error::InvalidState("no enrollment in progress".into())),
        }
    }

    /// Begins and runs an enrollment to the end.
    pub async fn enroll(&self, server: &str, credential: Credential) -> Result<EnrollmentStatus> {
        self.begin(server, credential).await?;
        self.run().await
    }

    /// Re-enrolls the device.
    ///
    /// - Active device, no credential: the device's own credential is used (iOS
    ///   "Settings > Troubleshooting > Re-enroll"); the server keeps one active entry.
    /// - After retire, wipe or reset (or with a credential): a normal enrollment; the server
    ///   matches the device and archives (Android 10+) or reuses (Android 9 and earlier, Apple)
    ///   its older entry.
    pub async fn reenroll(
        &self,
        server: Option<&str>,
        credential: Option<Credential>,
    ) -> Result<EnrollmentStatus> {
        {
            let mut st = self.state.lock().await;
            if st.in_progress() {
                return Err(Error::InvalidState(
                    "an enrollment is already in progress; resume or cancel it".into(),
                ));
            }
            let remembered = st.server().map(str::to_owned);
            let server = match (server, remembered) {
                (Some(s), _) => crate::client::validate_base_url(
                    &strip_go(s),
                    self.config.client.allow_insecure_loopback_http,
                )?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(Error::InvalidState("no server known: give the server URL".into()))
                }
            };
            let credential = match (credential, &*st) {
                (Some(c), _) => c,
                (None, PersistedState::Active { device, .. }) => Credential::Device {
                    device_id: device.device_id.clone(),
                    device_secret: device.device_secret.clone(),
                },
                (None, _) => {
                    return Err(Error::InvalidState(
                        "re-enrolling a device that is not active needs a credential".into(),
                    ))
                }
            };
            self.fresh_cancel_token();
            let attempt = Attempt {
                server,
                key: new_key(),
                started_at_ms: self.platform.clock.now_ms(),
            };
            self.transition(&mut st, PersistedState::Discovered { attempt, credential })?;
        }
        self.run().await
    }
}
