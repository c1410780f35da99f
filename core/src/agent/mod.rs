//! The enrollment agent: the state machine that drives an enrollment end to end.
//!
//! ```text
//! Idle ─begin─▶ Discovered ─POST /enrollments─▶ Authenticated ─GET profile─▶ ProfileReady
//!                                    ▲                                  │ (window open)
//!                                    └──── window passed: refetch ──────┤
//!                                                                        ▼
//!                     Active ◀── confirm ── Installing ── user cancels ──▶ Cancelled
//! ```
//! The full diagram, the retry policy and the crash-safety argument are in `README.md` beside
//! this file. Each transition is persisted atomically (one [`SecureStore::set`]) before the
//! next side effect, and every server call is idempotent, so a kill at any point resumes with
//! [`Agent::run`] and never creates a second device record.
//!
//! After a PIN enrollment of a user without a password, the active state carries the server's
//! offer to set one ([`Agent::set_password`], [`Agent::skip_password`], in `password.rs`).
//!
//! Transitions live in [`Agent::step`]; I/O helpers in [`crate::client`] and
//! [`crate::profile`]. The state record's persistence ([`machine::load_state`],
//! [`machine::save_state`]) is the platform-free step machine in [`machine`], which other
//! enrollment flows (the Windows device mode) drive with [`machine::run_steps`].

pub mod machine;
mod password;
mod start;
pub mod state;

use crate::client::{ClientConfig, ProtocolClient};
use crate::credentials::Credential;
use crate::error::{Error, Result};
use crate::platform::{InstallOutcome, Platform, ProfileToInstall};
use crate::profile;
use crate::protocol::{self, DeviceAction, DeviceState, ErrorCode};
use state::{Attempt, DeviceHandle, EnrollmentHandle, EnrollmentStatus, HeldProfile, PersistedState};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Key under which the state is kept in the [`crate::platform::SecureStore`].
pub const DEFAULT_STATE_KEY: &str = "enroll.state.v1";

/// Settings of the agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Protocol client settings (trust, timeouts, retries, limits).
    pub client: ClientConfig,
    /// CA certificates (DER) that profile signatures must chain to. Empty: the client's CAs.
    pub profile_anchors: Vec<Vec<u8>>,
    /// Most profiles fetched in one attempt before giving up as expired.
    pub max_profile_fetches: u32,
    /// A profile is installed only if at least this much of its window remains.
    pub install_margin: Duration,
    /// How often a deferred install (macOS System Settings) is polled.
    pub deferred_poll_interval: Duration,
    /// Secure-store key of the state.
    pub state_key: String,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            client: ClientConfig::default(),
            profile_anchors: Vec::new(),
            max_profile_fetches: 3,
            install_margin: Duration::from_secs(5),
            deferred_poll_interval: Duration::from_secs(2),
            state_key: DEFAULT_STATE_KEY.to_owned(),
        }
    }
}

/// What a check-in found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinOutcome {
    /// The device record's state on the server.
    pub device_state: DeviceState,
    /// The administrator action applied, if any (the app may have more to do, e.g. a real wipe).
    pub applied: Option<DeviceAction>,
    /// The agent's state afterwards.
    pub status: EnrollmentStatus,
}

/// The enrollment agent. Share it behind an `Arc`; all methods take `&self`.
///
/// Operations are serialised: a second call waits for the first to finish a transition.
pub struct Agent {
    config: AgentConfig,
    platform: Platform,
    state: tokio::sync::Mutex<PersistedState>,
    status_tx: watch::Sender<EnrollmentStatus>,
    cancel: Mutex<CancellationToken>,
    client: Mutex<Option<ProtocolClient>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("status", &*self.status_tx.borrow())
            .finish_non_exhaustive()
    }
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Agent {
    /// Creates the agent and loads the persisted state (resuming where a previous run stopped).
    pub fn new(config: AgentConfig, platform: Platform) -> Result<Self> {
        let state: PersistedState =
            machine::load_state(platform.store.as_ref(), &config.state_key)?.unwrap_or_default();
        let (status_tx, _) = watch::channel(state.status());
        Ok(Self {
            config,
            platform,
            state: tokio::sync::Mutex::new(state),
            status_tx,
            cancel: Mutex::new(CancellationToken::new()),
            client: Mutex::new(None),
        })
    }

    /// The current state (no secrets).
    pub fn status(&self) -> EnrollmentStatus {
        self.status_tx.borrow().clone()
    }

    /// Observes state changes; the receiver holds the current state first.
    pub fn subscribe(&self) -> watch::Receiver<EnrollmentStatus> {
        self.status_tx.subscribe()
    }

    /// Clock skew measured on the last reply (server minus device), milliseconds.
    pub fn clock_skew_ms(&self) -> Option<i64> {
        self.client
            .lock()
            .ok()
            .and_then(|c| c.as_ref().and_then(ProtocolClient::skew_ms))
    }

    fn client_for(&self, server: &str) -> Result<ProtocolClient> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| Error::InvalidState("client lock poisoned".into()))?;
        if let Some(client) = guard.as_ref() {
            if client.base_url().as_str().trim_end_matches('/') == server.trim_end_matches('/') {
                return Ok(client.clone());
            }
        }
        let client = ProtocolClient::new(server, self.config.client.clone(), self.platform.clock.clone())?;
        *guard = Some(client.clone());
        Ok(client)
    }

    fn anchors(&self) -> &[Vec<u8>] {
        if self.config.profile_anchors.is_empty() {
            &self.config.client.trust.ca_certificates
        } else {
            &self.config.profile_anchors
        }
    }

    fn cancel_token(&self) -> CancellationToken {
        self.cancel.lock().map(|t| t.clone()).unwrap_or_default()
    }

    fn fresh_cancel_token(&self) {
        if let Ok(mut token) = self.cancel.lock() {
            if token.is_cancelled() {
                *token = CancellationToken::new();
            }
        }
    }

    /// Persists `next` atomically, then makes it current and notifies observers.
    fn transition(&self, current: &mut PersistedState, next: PersistedState) -> Result<()> {
        machine::save_state(self.platform.store.as_ref(), &self.config.state_key, &next)?;
        tracing::info!(
            from = current.status().name(),
            to = next.status().name(),
            "enrollment state"
        );
        *current = next;
        self.status_tx.send_replace(current.status());
        Ok(())
    }

    /// Runs transitions until the state settles (active, cancelled, expired, failed, …).
    ///
    /// Resumes whatever state was persisted. Returns the settled state, or the error that
    /// stopped progress (the state stays resumable when the error is transient).
    pub async fn run(&self) -> Result<EnrollmentStatus> {
        loop {
            let status = self.step().await?;
            if status.is_settled() {
                return Ok(status);
            }
        }
    }

    /// Performs exactly one transition (or none if the state is settled) and persists it.
    pub async fn step(&self) -> Result<EnrollmentStatus> {
        let token = self.cancel_token();
        let mut st = self.state.lock().await;
        if token.is_cancelled() && st.in_progress() {
            self.cancel_locked(&mut st, "user_cancelled").await?;
            return Err(Error::Cancelled);
        }
        let current = st.clone();
        match current {
            PersistedState::Discovered { attempt, credential } => {
                self.step_discovered(&mut st, attempt, credential, &token).await?
            }
            PersistedState::Authenticated {
                attempt,
                enrollment,
                fetches,
            } => {
                self.step_fetch(&mut st, attempt, enrollment, fetches, &token)
                    .await?
            }
            PersistedState::ProfileReady {
                attempt,
                enrollment,
                fetches,
                profile,
            } => {
                let next = if self.window_open(&profile) {
                    PersistedState::Installing {
                        attempt,
                        enrollment,
                        fetches,
                        profile,
                    }
                } else {
                    tracing::info!(
                        fetches,
                        "profile window passed before install; fetching a fresh one"
                    );
                    self.after_expiry(attempt, enrollment, fetches)
                };
                self.transition(&mut st, next)?;
            }
            PersistedState::Installing {
                attempt,
                enrollment,
                fetches,
                profile,
            } => {
                self.step_install(&mut st, attempt, enrollment, fetches, profile, &token)
                    .await?
            }
            _ => {}
        }
        Ok(st.status())
    }

    async fn cancellable<T>(
        &self,
        token: &CancellationToken,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::select! {
            biased;
            _ = token.cancelled() => Err(Error::Cancelled),
            r = fut => r,
        }
    }

    async fn step_discovered(
        &self,
        st: &mut PersistedState,
        attempt: Attempt,
        credential: Credential,
        token: &CancellationToken,
    ) -> Result<()> {
        let client = self.client_for(&attempt.server)?;
        let device = self.platform.device.describe()?;
        let reply = match &credential {
            Credential::Device {
                device_id,
                device_secret,
            } => {
                let request = protocol::ReenrollRequest { device };
                self.cancellable(
                    token,
                    client.reenroll(device_id, device_secret, &attempt.key, &request),
                )
                .await
            }
            other => {
                let wire = other
                    .to_wire()
                    .ok_or_else(|| Error::InvalidState("credential kind".into()))?;
                let request = protocol::EnrollRequest {
                    credential: wire,
                    device,
                };
                self.cancellable(token, client.enroll(&attempt.key, &request))
                    .await
            }
        };
        match reply {
            Ok(r) => {
                let enrollment = EnrollmentHandle {
                    enrollment_id: r.enrollment_id,
                    enrollment_secret: r.enrollment_secret,
                    device_id: r.device_id,
                    kind: r.kind,
                    user: r.user,
                    password_setup: r.password_setup == Some(protocol::PasswordSetup::Offered),
                };
                self.transition(
                    st,
                    PersistedState::Authenticated {
                        attempt,
                        enrollment,
                        fetches: 0,
                    },
                )
            }
            Err(Error::Cancelled) => {
                self.cancel_locked(st, "user_cancelled").await?;
                Err(Error::Cancelled)
            }
            Err(err @ Error::Server { .. }) if !err.is_transient() => {
                // The server refused the credential: drop it from storage, keep the reason.
                let code = err.server_code();
                let reason = err.to_string();
                self.transition(
                    st,
                    PersistedState::Failed {
                        server: attempt.server,
                        reason,
                        code,
                    },
                )?;
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    async fn step_fetch(
        &self,
        st: &mut PersistedState,
        attempt: Attempt,
        enrollment: EnrollmentHandle,
        fetches: u32,
        token: &CancellationToken,
    ) -> Result<()> {
        if fetches >= self.config.max_profile_fetches {
            self.transition(
                st,
                PersistedState::Expired {
                    server: attempt.server,
                    fetches,
                },
            )?;
            return Ok(());
        }
        let client = self.client_for(&attempt.server)?;
        let fetched = match self
            .cancellable(
                token,
                client.fetch_profile(&enrollment.enrollment_id, &enrollment.enrollment_secret),
            )
            .await
        {
            Ok(fetched) => fetched,
            Err(Error::Cancelled) => {
                self.cancel_locked(st, "user_cancelled").await?;
                return Err(Error::Cancelled);
            }
            Err(err) if matches!(err.server_code(), Some(ErrorCode::EnrollmentClosed)) => {
                let reason = err.to_string();
                self.transition(
                    st,
                    PersistedState::Failed {
                        server: attempt.server,
                        reason,
                        code: err.server_code(),
                    },
                )?;
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        let fetches = fetches + 1;
        let now = client.server_now_ms() / 1000;
        // Signature and required keys first: a malformed profile is refused as malformed even
        // when its window has also passed (the window is checked in the next step).
        match profile::verify_profile(&fetched.signed, self.anchors(), now) {
            Ok(verified) => {
                let expires_at = profile::earliest_deadline(verified.expires_at, fetched.expires_at);
                tracing::info!(uuid = %verified.uuid, ?expires_at, "verified profile");
                let profile = HeldProfile {
                    uuid: verified.uuid,
                    identifier: verified.identifier,
                    expires_at,
                    signed: crate::secret::SecretBytes::new(fetched.signed),
                };
                self.transition(
                    st,
                    PersistedState::ProfileReady {
                        attempt,
                        enrollment,
                        fetches,
                        profile,
                    },
                )
            }
            Err(err) => {
                // Count the rejected fetch so a hostile server cannot loop the agent forever.
                self.transition(
                    st,
                    PersistedState::Authenticated {
                        attempt,
                        enrollment,
                        fetches,
                    },
                )?;
                Err(Error::Profile(err))
            }
        }
    }

    /// Whether the profile may still be installed: `device_now + skew + margin < expires_at`,
    /// always when it has no window.
    fn window_open(&self, profile: &HeldProfile) -> bool {
        let Some(expires_at) = profile.expires_at else {
            return true;
        };
        let now_ms = self
            .client
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(ProtocolClient::server_now_ms));
        let now_ms = now_ms.unwrap_or_else(|| self.platform.clock.now_ms());
        let margin = i64::try_from(self.config.install_margin.as_millis()).unwrap_or(0);
        now_ms.saturating_add(margin) < expires_at.saturating_mul(1000)
    }

    fn after_expiry(&self, attempt: Attempt, enrollment: EnrollmentHandle, fetches: u32) -> PersistedState {
        if fetches >= self.config.max_profile_fetches {
            PersistedState::Expired {
                server: attempt.server,
                fetches,
            }
        } else {
            PersistedState::Authenticated {
                attempt,
                enrollment,
                fetches,
            }
        }
    }

    async fn step_install(
        &self,
        st: &mut PersistedState,
        attempt: Attempt,
        enrollment: EnrollmentHandle,
        fetches: u32,
        profile: HeldProfile,
        token: &CancellationToken,
    ) -> Result<()> {
        // Make sure the skew is known (after a restart the client is new).
        let client = self.client_for(&attempt.server)?;
        if client.skew_ms().is_none() {
            let _ = self.cancellable(token, client.info()).await;
        }
        let installer = self.platform.installer.clone();
        let uuid = profile.uuid.clone();
        let already = blocking(move || installer.is_installed(&uuid)).await??;
        if !already {
            if !self.window_open(&profile) {
                tracing::info!("profile window passed during install; fetching a fresh one");
                let next = self.after_expiry(attempt, enrollment, fetches);
                return self.transition(st, next);
            }
            let skew_s = client.skew_ms().unwrap_or(0) / 1000;
            let to_install = ProfileToInstall {
                identifier: profile.identifier.clone(),
                uuid: profile.uuid.clone(),
                expires_at: profile.expires_at,
                expires_at_local: profile.expires_at.map(|e| e.saturating_sub(skew_s)),
                signed_profile: profile.signed.clone(),
            };
            let installer = self.platform.installer.clone();
            let outcome = blocking(move || installer.install(&to_install)).await??;
            match outcome {
                InstallOutcome::Installed => {}
                InstallOutcome::Cancelled => {
                    self.cancel_locked(st, "user_cancelled").await?;
                    return Ok(());
                }
                InstallOutcome::Deferred => {
                    if !self.wait_for_install(&profile, token).await? {
                        if token.is_cancelled() {
                            self.cancel_locked(st, "user_cancelled").await?;
                            return Err(Error::Cancelled);
                        }
                        let next = self.after_expiry(attempt, enrollment, fetches);
                        return self.transition(st, next);
                    }
                }
            }
        }
        let request = protocol::ConfirmRequest {
            profile_uuid: profile.uuid.clone(),
        };
        let reply = client
            .confirm(&enrollment.enrollment_id, &enrollment.enrollment_secret, &request)
            .await?;
        let next = PersistedState::Active {
            server: attempt.server,
            device: DeviceHandle {
                device_id: reply.device_id,
                device_secret: reply.device_secret,
            },
            profile_identifier: profile.identifier,
            password_offer: enrollment.password_offer(),
            user: enrollment.user,
            enrolled_at_ms: self.platform.clock.now_ms(),
        };
        self.transition(st, next)
    }

    /// Polls a deferred install until it is installed (true) or the window closes (false).
    /// Without a window it polls until the install or a cancel.
    async fn wait_for_install(&self, profile: &HeldProfile, token: &CancellationToken) -> Result<bool> {
        loop {
            let installer = self.platform.installer.clone();
            let uuid = profile.uuid.clone();
            if blocking(move || installer.is_installed(&uuid)).await?? {
                return Ok(true);
            }
            if !self.window_open(profile) || token.is_cancelled() {
                return Ok(false);
            }
            tokio::select! {
                _ = token.cancelled() => return Ok(false),
                _ = tokio::time::sleep(self.config.deferred_poll_interval) => {}
            }
        }
    }

    /// Reports a cancel to the server (when an enrollment exists) and settles as cancelled.
    async fn cancel_locked(&self, st: &mut PersistedState, reason: &str) -> Result<()> {
        let server = st.server().unwrap_or_default().to_owned();
        let enrollment = match &*st {
            PersistedState::Authenticated { enrollment, .. }
            | PersistedState::ProfileReady { enrollment, .. }
            | PersistedState::Installing { enrollment, .. } => Some(enrollment.clone()),
            PersistedState::Discovered { .. } => None,
            _ => return Err(Error::InvalidState("no enrollment in progress".into())),
        };
        if let Some(enrollment) = enrollment {
            let client = self.client_for(&server)?;
            let request = protocol::CancelRequest {
                reason: reason.to_owned(),
            };
            let reply = client
                .cancel(&enrollment.enrollment_id, &enrollment.enrollment_secret, &request)
                .await?;
            tracing::info!(device_state = ?reply.device_state, mdm = ?reply.mdm, "enrollment cancelled on the server");
        }
        self.transition(st, PersistedState::Cancelled { server })
    }

    /// Cancels the enrollment in progress: stops a running [`Agent::run`], reports the cancel to
    /// the server (which deactivates MDM for the device) and settles as cancelled.
    pub async fn cancel(&self) -> Result<EnrollmentStatus> {
        self.cancel_token().cancel();
        let mut st = self.state.lock().await;
        if st.in_progress() {
            self.cancel_locked(&mut st, "user_cancelled").await?;
        } else if !matches!(*st, PersistedState::Cancelled { .. }) {
            return Err(Error::InvalidState("no enrollment in progress".into()));
        }
        Ok(st.status())
    }

    /// Reports device details and state; applies a retire, wipe or reset sent by the server.
    ///
    /// Retire and wipe remove the profile and clear all secrets and local state; reset does the
    /// same on the device while the server keeps the entry active until the next enrollment.
    pub async fn checkin(&self, details: BTreeMap<String, String>) -> Result<CheckinOutcome> {
        let mut st = self.state.lock().await;
        let PersistedState::Active {
            server,
            device,
            profile_identifier,
            ..
        } = st.clone()
        else {
            return Err(Error::InvalidState("the device is not enrolled".into()));
        };
        let client = self.client_for(&server)?;
        let descriptor = self.platform.device.describe()?;
        let request = protocol::CheckinRequest {
            device: descriptor,
            details,
        };
        let reply = match client
            .checkin(&device.device_id, &device.device_secret, &request)
            .await
        {
            Ok(reply) => reply,
            Err(err) if matches!(err.server_code(), Some(ErrorCode::DeviceInactive)) => {
                // The action was applied and acknowledged before, but the state change was lost.
                self.clear_after_action(&mut st, DeviceAction::Retire, &server, &profile_identifier)?;
                return Ok(CheckinOutcome {
                    device_state: DeviceState::Retired,
                    applied: None,
                    status: st.status(),
                });
            }
            Err(err) => return Err(err),
        };
        let Some(action) = reply.action else {
            return Ok(CheckinOutcome {
                device_state: reply.device_state,
                applied: None,
                status: st.status(),
            });
        };
        tracing::info!(?action, "administrator action received at check-in");
        let ack = protocol::AckRequest { action };
        let device_state = match client.ack(&device.device_id, &device.device_secret, &ack).await {
            Ok(r) => r.device_state,
            Err(err) => {
                tracing::warn!(error = %err, "could not acknowledge the action; applying it anyway");
                reply.device_state
            }
        };
        self.clear_after_action(&mut st, action, &server, &profile_identifier)?;
        Ok(CheckinOutcome {
            device_state,
            applied: Some(action),
            status: st.status(),
        })
    }

    fn clear_after_action(
        &self,
        st: &mut PersistedState,
        action: DeviceAction,
        server: &str,
        profile_identifier: &str,
    ) -> Result<()> {
        if let Err(err) = self.platform.installer.remove(profile_identifier) {
            tracing::warn!(error = %err, "removing the profile failed");
        }
        self.transition(st, PersistedState::after_action(action, server.to_owned()))
    }

    /// Forgets all local state and secrets (does not contact the server).
    pub async fn reset_local(&self) -> Result<()> {
        let mut st = self.state.lock().await;
        self.platform.store.delete(&self.config.state_key)?;
        *st = PersistedState::Idle;
        self.status_tx.send_replace(st.status());
        Ok(())
    }
}

/// Turns an invitation URL (`…/go?user=…`) into the server base URL.
pub fn strip_go(url: &str) -> String {
    let trimmed = url.trim();
    let without_query = trimmed.split(['?', '#']).next().unwrap_or(trimmed);
    let without_slash = without_query.trim_end_matches('/');
    match without_slash.strip_suffix("/go") {
        Some(base) => base.to_owned(),
        None => without_query.to_owned(),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::InvalidState(format!("platform call panicked: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_go_keeps_prefix() {
        assert_eq!(strip_go("https://h:8443/go?user=a%40b"), "https://h:8443");
        assert_eq!(strip_go("https://h/tenant/go/"), "https://h/tenant");
        assert_eq!(strip_go("https://h/tenant"), "https://h/tenant");
    }
}
