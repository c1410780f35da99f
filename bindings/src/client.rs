//! [`EnrollClient`]: the enrollment agent for apps, a thin wrapper over
//! [`enroll_core::Agent`].
//!
//! Async methods run on the library's runtime ([`crate::init_platform`]); from Kotlin they are
//! `suspend` functions, from Swift `async`, from Python coroutines. Dropping the foreign future
//! (cancelling the coroutine or task) does **not** stop the operation, because uniffi does not
//! carry cancellation across the boundary: call [`EnrollClient::cancel`], which interrupts a
//! running enrollment. State changes are observed with [`EnrollClient::observe`].

use crate::error::EnrollError;
use crate::platform::{self, Clock, DeviceInfo, ProfileInstaller, SecureStore};
use crate::runtime::{on_runtime, spawn_boxed};
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::protocol::{DeviceAction as CoreAction, DeviceState as CoreDeviceState};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the user proves they may enroll: an enrollment token, a one-time PIN, a username and
/// password, or a tokenless bulk enrollment. Validated when created; its text form never shows the secret.
///
/// Strings passed in from Kotlin/Swift/Python cannot be wiped on their side: drop them soon.
#[derive(Debug, uniffi::Object)]
#[uniffi::export(Debug)]
pub struct Credential {
    pub(crate) inner: enroll_core::Credential,
}

#[uniffi::export]
impl Credential {
    /// An enrollment token (surrounding whitespace is trimmed). Throws `InvalidInput` when empty,
    /// too long or containing control characters. Does not block.
    #[uniffi::constructor]
    pub fn token(token: String) -> Result<Arc<Self>, EnrollError> {
        Ok(Arc::new(Self {
            inner: enroll_core::Credential::token(token)?,
        }))
    }

    /// A one-time PIN (4 to 12 digits) for the invited user's e-mail. Throws `InvalidInput` on
    /// a malformed PIN or user. Does not block.
    #[uniffi::constructor]
    pub fn pin(user: String, pin: String) -> Result<Arc<Self>, EnrollError> {
        Ok(Arc::new(Self {
            inner: enroll_core::Credential::pin(user, pin)?,
        }))
    }

    /// A username (e-mail) and password, kept as typed. Throws `InvalidInput` when either is
    /// empty or too long. Does not block.
    #[uniffi::constructor]
    pub fn password(user: String, password: String) -> Result<Arc<Self>, EnrollError> {
        Ok(Arc::new(Self {
            inner: enroll_core::Credential::password(user, password)?,
        }))
    }

    /// Tokenless bulk enrollment: the device's identifiers (IMEI, or serial number and
    /// manufacturer) must match a device of a tokenless bulk profile, optionally the profile
    /// `profile_id` names. Throws `InvalidInput` for a malformed profile id. Does not block.
    #[uniffi::constructor(default(profile_id = None))]
    pub fn tokenless(profile_id: Option<String>) -> Result<Arc<Self>, EnrollError> {
        Ok(Arc::new(Self {
            inner: enroll_core::Credential::tokenless(profile_id)?,
        }))
    }

    /// Kind of credential: `token`, `pin`, `password` or `tokenless` (safe to log).
    pub fn kind(&self) -> String {
        self.inner.kind().to_owned()
    }
}

/// Settings of an [`EnrollClient`].
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientConfig {
    /// CA certificates (PEM, one or more per entry, or DER) trusted for the server and for
    /// profile signatures. Empty: the public Web PKI roots only.
    #[uniffi(default)]
    pub ca_certificates: Vec<Vec<u8>>,
    /// Also trust the public Web PKI roots when CA certificates are given.
    #[uniffi(default = false)]
    pub public_roots: bool,
    /// SPKI pins (`sha256/<base64>`); when given, the server key must match one.
    #[uniffi(default)]
    pub spki_pins: Vec<String>,
    /// Allow plain `http://` to a loopback host. Development only.
    #[uniffi(default = false)]
    pub allow_insecure_loopback_http: bool,
    /// TCP + TLS connect timeout, milliseconds.
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: u64,
    /// Whole-request timeout, milliseconds.
    #[uniffi(default = 30000)]
    pub request_timeout_ms: u64,
    /// Attempts per request on transient failures (including the first).
    #[uniffi(default = 4)]
    pub max_attempts: u32,
    /// Profiles fetched in one attempt before the enrollment ends `Expired`.
    #[uniffi(default = 3)]
    pub max_profile_fetches: u32,
    /// Secure-store key of the enrollment state.
    #[uniffi(default = "enroll.state.v1")]
    pub state_key: String,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("ca_certificates", &self.ca_certificates.len())
            .field("public_roots", &self.public_roots)
            .field("spki_pins", &self.spki_pins.len())
            .field("allow_insecure_loopback_http", &self.allow_insecure_loopback_http)
            .field("state_key", &self.state_key)
            .finish_non_exhaustive()
    }
}

impl TryFrom<ClientConfig> for enroll_core::AgentConfig {
    type Error = EnrollError;

    fn try_from(c: ClientConfig) -> Result<Self, EnrollError> {
        let mut config = enroll_core::AgentConfig::default();
        let trust = &mut config.client.trust;
        for ca in &c.ca_certificates {
            trust
                .ca_certificates
                .extend(enroll_core::tls::parse_certificates(ca).map_err(enroll_core::Error::from)?);
        }
        trust.public_roots = c.public_roots || c.ca_certificates.is_empty();
        trust.spki_pins = c
            .spki_pins
            .iter()
            .map(|p| enroll_core::tls::SpkiPin::parse(p))
            .collect::<Result<_, _>>()
            .map_err(enroll_core::Error::from)?;
        config.client.allow_insecure_loopback_http = c.allow_insecure_loopback_http;
        config.client.connect_timeout = Duration::from_millis(c.connect_timeout_ms);
        config.client.request_timeout = Duration::from_millis(c.request_timeout_ms);
        config.client.retry.max_attempts = c.max_attempts.max(1);
        config.max_profile_fetches = c.max_profile_fetches;
        config.state_key = c.state_key;
        Ok(config)
    }
}

/// The enrollment state as apps see it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum EnrollmentState {
    /// Nothing in progress, never enrolled (or forgotten).
    Idle,
    /// Server and credential known; the credential is being sent.
    Discovered {
        /// Server base URL.
        server: String,
    },
    /// The server accepted the credential.
    Authenticated {
        /// Device record on the server.
        device_id: String,
    },
    /// A verified profile is held.
    ProfileReady {
        /// End of its install window, Unix seconds, server time; null: no window.
        expires_at: Option<i64>,
    },
    /// The profile is being installed.
    Installing {
        /// End of its install window, Unix seconds, server time; null: no window.
        expires_at: Option<i64>,
    },
    /// Enrolled and managed.
    Active {
        /// Device record on the server.
        device_id: String,
        /// Enrolled user, if any.
        user: Option<String>,
        /// The user enrolled with a one-time PIN and has no password yet: ask for one and call
        /// [`EnrollClient::set_password`], or [`EnrollClient::skip_password`] (seed 003).
        password_offered: bool,
    },
    /// The user cancelled; the server deactivated MDM for the device.
    Cancelled,
    /// Every fetched profile expired before install.
    Expired {
        /// Profiles fetched.
        fetches: u32,
    },
    /// The server refused the attempt; enroll again with another credential.
    Failed {
        /// Why (no secrets).
        reason: String,
        /// The server's error code.
        code: Option<crate::error::ServerErrorCode>,
    },
    /// Retired by the administrator; secrets cleared.
    Retired,
    /// Wiped by the administrator; secrets cleared.
    Wiped,
    /// Reset by the administrator; secrets cleared.
    Reset,
}

impl From<EnrollmentStatus> for EnrollmentState {
    fn from(s: EnrollmentStatus) -> Self {
        match s {
            EnrollmentStatus::Idle => Self::Idle,
            EnrollmentStatus::Discovered { server } => Self::Discovered { server },
            EnrollmentStatus::Authenticated { device_id } => Self::Authenticated { device_id },
            EnrollmentStatus::ProfileReady { expires_at } => Self::ProfileReady { expires_at },
            EnrollmentStatus::Installing { expires_at } => Self::Installing { expires_at },
            EnrollmentStatus::Active {
                device_id,
                user,
                password_offered,
            } => Self::Active {
                device_id,
                user,
                password_offered,
            },
            EnrollmentStatus::Cancelled => Self::Cancelled,
            EnrollmentStatus::Expired { fetches } => Self::Expired { fetches },
            EnrollmentStatus::Failed { reason, code } => Self::Failed {
                reason,
                code: code.map(Into::into),
            },
            EnrollmentStatus::Retired => Self::Retired,
            EnrollmentStatus::Wiped => Self::Wiped,
            EnrollmentStatus::Reset => Self::Reset,
        }
    }
}

/// Whether `state` ends an attempt (nothing more happens without the user): every state but
/// discovered, authenticated, profile ready and installing.
#[uniffi::export]
pub fn enrollment_state_is_settled(state: &EnrollmentState) -> bool {
    !matches!(
        state,
        EnrollmentState::Discovered { .. }
            | EnrollmentState::Authenticated { .. }
            | EnrollmentState::ProfileReady { .. }
            | EnrollmentState::Installing { .. }
    )
}

/// State of the device record on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeviceState {
    /// Enrollment started; the profile is not installed yet.
    Pending,
    /// Enrolled and managed.
    Active,
    /// Retired by the administrator.
    Retired,
    /// Wiped by the administrator.
    Wiped,
    /// Cancelled by the user during install.
    Cancelled,
    /// An older entry of a device that re-enrolled.
    Archived,
}

impl From<CoreDeviceState> for DeviceState {
    fn from(s: CoreDeviceState) -> Self {
        match s {
            CoreDeviceState::Pending => Self::Pending,
            CoreDeviceState::Active => Self::Active,
            CoreDeviceState::Retired => Self::Retired,
            CoreDeviceState::Wiped => Self::Wiped,
            CoreDeviceState::Cancelled => Self::Cancelled,
            CoreDeviceState::Archived => Self::Archived,
        }
    }
}

/// An administrator action applied at check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeviceAction {
    /// Management removed; secrets and local state cleared.
    Retire,
    /// Erase requested; secrets and local state cleared (the app performs the actual wipe).
    Wipe,
    /// Reset; secrets and local state cleared, the server keeps the entry until re-enrollment.
    Reset,
}

impl From<CoreAction> for DeviceAction {
    fn from(a: CoreAction) -> Self {
        match a {
            CoreAction::Retire => Self::Retire,
            CoreAction::Wipe => Self::Wipe,
            CoreAction::Reset => Self::Reset,
        }
    }
}

/// What a check-in found and did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckinResult {
    /// The device record's state on the server.
    pub device_state: DeviceState,
    /// The administrator action applied, if any (the app may have more to do, e.g. a wipe).
    pub applied: Option<DeviceAction>,
    /// The enrollment state afterwards.
    pub state: EnrollmentState,
}

impl From<enroll_core::agent::CheckinOutcome> for CheckinResult {
    fn from(o: enroll_core::agent::CheckinOutcome) -> Self {
        Self {
            device_state: o.device_state.into(),
            applied: o.applied.map(Into::into),
            state: o.status.into(),
        }
    }
}

/// Receives enrollment state changes (see [`EnrollClient::observe`]).
///
/// Called on a library background thread, one call at a time and in order: return quickly
/// (post to your own dispatcher) and do not call back into the library from inside.
#[uniffi::export(foreign)]
pub trait EnrollmentObserver: Send + Sync {
    /// The state is now `state`.
    fn on_state(&self, state: EnrollmentState);
}

/// A running background task (an observation). [`TaskHandle::cancel`] stops it; so does
/// destroying/closing the handle, so keep a reference for as long as the task should run.
#[derive(Debug, uniffi::Object)]
pub struct TaskHandle {
    abort: Mutex<Option<tokio::task::AbortHandle>>,
}

impl TaskHandle {
    fn new(abort: tokio::task::AbortHandle) -> Self {
        Self {
            abort: Mutex::new(Some(abort)),
        }
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the task. Idempotent, does not block: a callback already running finishes, and no
    /// further callback starts.
    pub fn cancel(&self) {
        if let Ok(mut guard) = self.abort.lock() {
            if let Some(handle) = guard.take() {
                handle.abort();
            }
        }
    }

    /// Whether the task has stopped (cancelled, or the client is gone).
    pub fn is_finished(&self) -> bool {
        self.abort
            .lock()
            .map(|g| g.as_ref().is_none_or(tokio::task::AbortHandle::is_finished))
            .unwrap_or(true)
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The enrollment agent: enroll, resume (retarget), cancel, set the first password, check in,
/// re-enroll, forget.
///
/// One per app (it owns the persisted enrollment state under `ClientConfig.state_key`).
/// Thread-safe; operations are serialised: a second call waits for the first to finish a
/// transition. Async methods run on the library's runtime.
#[derive(Debug, uniffi::Object)]
pub struct EnrollClient {
    inner: Arc<enroll_core::Agent>,
}

#[uniffi::export]
impl EnrollClient {
    /// Creates the client and loads the persisted state (an interrupted enrollment is resumed
    /// by [`EnrollClient::resume`]). `clock` defaults to the system clock.
    ///
    /// **Blocks** while it reads the secure store (one `SecureStore.get` on the calling
    /// thread): call it off the main thread. Throws `InvalidInput` for a bad CA certificate or
    /// pin, `Platform` when the store fails or holds an unreadable state.
    #[uniffi::constructor(default(clock = None))]
    pub fn new(
        config: ClientConfig,
        store: Arc<dyn SecureStore>,
        installer: Arc<dyn ProfileInstaller>,
        device: Arc<dyn DeviceInfo>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Result<Arc<Self>, EnrollError> {
        let agent = enroll_core::Agent::new(
            config.try_into()?,
            platform::bundle(store, installer, device, clock),
        )?;
        Ok(Arc::new(Self {
            inner: Arc::new(agent),
        }))
    }

    /// The current state. Does not block (no I/O).
    pub fn status(&self) -> EnrollmentState {
        self.inner.status().into()
    }

    /// Clock skew measured on the last server reply (server minus device), milliseconds.
    pub fn clock_skew_ms(&self) -> Option<i64> {
        self.inner.clock_skew_ms()
    }

    /// Calls `observer.on_state` with the current state first, then with every change, until
    /// the returned handle is cancelled or destroyed. Does not block.
    ///
    /// Changes that follow each other faster than the observer returns may be coalesced (the
    /// observer always sees the latest state).
    pub fn observe(&self, observer: Arc<dyn EnrollmentObserver>) -> Result<Arc<TaskHandle>, EnrollError> {
        let mut rx = self.inner.subscribe();
        let task = spawn_boxed(Box::pin(async move {
            let first = rx.borrow_and_update().clone();
            observer.on_state(first.into());
            while rx.changed().await.is_ok() {
                let next = rx.borrow_and_update().clone();
                observer.on_state(next.into());
            }
        }))?;
        Ok(Arc::new(TaskHandle::new(task.abort_handle())))
    }
}

#[uniffi::export]
impl EnrollClient {
    /// Enrolls with `server_url` (a base URL or an invitation URL ending in `/go`) and runs to a
    /// settled state: returns `Active` on success, or `Cancelled` / `Expired` / `Failed`.
    ///
    /// Throws `WrongCredentials` (ask again), `PinLocked`, `CredentialExpired`, `Offline` /
    /// `Retryable` (the attempt stays resumable: call [`EnrollClient::resume`] later),
    /// `NotAllowedNow` when an enrollment is in progress or the device is already active.
    /// Calls the installer on a library thread when the profile is ready.
    pub async fn enroll(
        &self,
        server_url: String,
        credential: Arc<Credential>,
    ) -> Result<EnrollmentState, EnrollError> {
        let agent = self.inner.clone();
        let credential = credential.inner.clone();
        on_runtime(async move { Ok(agent.enroll(&server_url, credential).await?.into()) }).await
    }

    /// Resumes whatever was persisted (after a crash, a kill, or an `Offline` error) and runs
    /// to a settled state. Returns the state at once when nothing is in progress.
    pub async fn resume(&self) -> Result<EnrollmentState, EnrollError> {
        let agent = self.inner.clone();
        on_runtime(async move { Ok(agent.run().await?.into()) }).await
    }

    /// Cancels the enrollment in progress: interrupts a running `enroll`/`resume` (which then
    /// throws `Cancelled`), tells the server (which deactivates MDM for the device) and settles
    /// as `Cancelled`. Throws `NotAllowedNow` when nothing is in progress.
    pub async fn cancel(&self) -> Result<EnrollmentState, EnrollError> {
        let agent = self.inner.clone();
        on_runtime(async move { Ok(agent.cancel().await?.into()) }).await
    }

    /// Reports device details to the server and applies a retire, wipe or reset it sends
    /// (profile removed through the installer, secrets and local state cleared).
    /// Throws `NotAllowedNow` when the device is not enrolled.
    pub async fn checkin(&self, details: HashMap<String, String>) -> Result<CheckinResult, EnrollError> {
        let agent = self.inner.clone();
        on_runtime(async move { Ok(agent.checkin(details.into_iter().collect()).await?.into()) }).await
    }

    /// Re-enrolls: an active device with no credential uses its own (iOS "Settings >
    /// Troubleshooting > Re-enroll"); after a retire, wipe or reset give a credential. The server
    /// defaults to the one enrolled with. Runs to a settled state like [`EnrollClient::enroll`].
    pub async fn reenroll(
        &self,
        server_url: Option<String>,
        credential: Option<Arc<Credential>>,
    ) -> Result<EnrollmentState, EnrollError> {
        let agent = self.inner.clone();
        let credential = credential.map(|c| c.inner.clone());
        on_runtime(async move { Ok(agent.reenroll(server_url.as_deref(), credential).await?.into()) }).await
    }

    /// Points an attempt the server never accepted (`Discovered`: a typo in the address, a
    /// stopped server) at `server_url`, keeping its credential; then call
    /// [`EnrollClient::resume`]. The same server is always accepted. Throws `NotAllowedNow` once
    /// the server accepted the enrollment (cancel it, then enroll with the new server) or when
    /// nothing is in progress, `InvalidInput` for a malformed URL. Does no network I/O.
    pub async fn retarget(&self, server_url: String) -> Result<EnrollmentState, EnrollError> {
        let agent = self.inner.clone();
        on_runtime(async move { Ok(agent.retarget(&server_url).await?.into()) }).await
    }

    /// Sets the enrolled user's first password when the state is `Active` with
    /// `password_offered` (after a one-time PIN, seed 003): sent once to the server, never kept.
    /// Returns the state (`password_offered` false once set).
    ///
    /// Throws `ServerRejected` with `WeakPassword` (8 to 1024 bytes: ask again),
    /// `PasswordAlreadySet` or `PasswordNotOffered` (the offer is dropped), `Retryable` /
    /// `Offline` (try again), `NotAllowedNow` when no password is offered.
    pub async fn set_password(&self, password: String) -> Result<EnrollmentState, EnrollError> {
        let agent = self.inner.clone();
        let password = enroll_core::secret::SecretString::new(password);
        on_runtime(async move { Ok(agent.set_password(password).await?.into()) }).await
    }

    /// Declines the first-password step (the user can set one later in the self-service
    /// portal): `password_offered` becomes false. Does nothing without an offer; no network I/O.
    pub async fn skip_password(&self) -> Result<EnrollmentState, EnrollError> {
        let agent = self.inner.clone();
        on_runtime(async move { Ok(agent.skip_password().await?.into()) }).await
    }

    /// Forgets all local enrollment state and secrets (deletes the state key from the secure
    /// store). Does not contact the server. The state becomes `Idle`.
    pub async fn forget(&self) -> Result<(), EnrollError> {
        let agent = self.inner.clone();
        on_runtime(async move { Ok(agent.reset_local().await?) }).await
    }
}
