//! Platform capabilities that the host app implements.
//!
//! The core never touches the keychain, the profile installer or device identifiers itself: the
//! app (Android, iOS, macOS, desktop CLI) provides them through these traits. Methods are
//! synchronous and may block briefly; the core calls them from its own tasks. In-memory
//! implementations for tests live in [`crate::fakes`].

use crate::protocol::DeviceDescriptor;
use crate::secret::SecretBytes;

/// Why a platform call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformErrorKind {
    /// The capability is missing (no keychain, no camera, …).
    Unavailable,
    /// The user or the OS refused (locked keychain, permission denied).
    Denied,
    /// Anything else.
    Other,
}

/// Error returned by a platform implementation. The message must not contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct PlatformError {
    /// Category.
    pub kind: PlatformErrorKind,
    /// Human-readable detail (no secrets).
    pub message: String,
}

impl PlatformError {
    /// Builds an error of the given kind.
    pub fn new(kind: PlatformErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Shorthand for [`PlatformErrorKind::Other`].
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(PlatformErrorKind::Other, message)
    }
}

/// Secure key-value storage: Android Keystore-backed storage, Apple Keychain, desktop keyring.
///
/// The core keeps its whole enrollment state (including bearer secrets) under one key, so
/// `set` must replace the value atomically: after a crash, `get` returns either the old or the
/// new value, never a mix.
pub trait SecureStore: Send + Sync {
    /// Reads a value, `None` when absent.
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, PlatformError>;
    /// Writes a value atomically.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError>;
    /// Deletes a value; deleting an absent key succeeds.
    fn delete(&self, key: &str) -> Result<(), PlatformError>;
}

/// A verified management profile, ready to hand to the system.
#[derive(Debug, Clone)]
pub struct ProfileToInstall {
    /// `PayloadIdentifier` (stable per device: installing again replaces it).
    pub identifier: String,
    /// `PayloadUUID` of this issuance.
    pub uuid: String,
    /// End of the install window, Unix seconds in server time; `None`: no window (a profile
    /// without `PayloadExpirationDate` from a server that sent no `enroll-profile-expires`).
    pub expires_at: Option<i64>,
    /// End of the install window converted to the device's own clock, Unix seconds.
    pub expires_at_local: Option<i64>,
    /// The signed `.mobileconfig` (CMS DER). Contains a one-time challenge: do not log.
    pub signed_profile: SecretBytes,
}

/// What happened when the profile was handed to the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The profile is installed.
    Installed,
    /// The user cancelled the installation.
    Cancelled,
    /// The system took the profile and the user has to finish (macOS System Settings): the
    /// core then polls [`ProfileInstaller::is_installed`] until the window closes.
    Deferred,
}

/// Installs and removes the MDM profile.
pub trait ProfileInstaller: Send + Sync {
    /// Hands the profile to the system. May block while the OS shows its own UI.
    fn install(&self, profile: &ProfileToInstall) -> Result<InstallOutcome, PlatformError>;
    /// Whether the profile with this `PayloadUUID` is installed now (used after a restart).
    fn is_installed(&self, uuid: &str) -> Result<bool, PlatformError>;
    /// Removes the profile with this `PayloadIdentifier` (retire, wipe, reset).
    fn remove(&self, identifier: &str) -> Result<(), PlatformError>;
}

/// Describes the device: platform, OS version, model, manufacturer, serial, IMEIs, UDID or
/// Android ID.
pub trait DeviceInfo: Send + Sync {
    /// Current description of the device.
    fn describe(&self) -> Result<DeviceDescriptor, PlatformError>;
}

/// Wall clock of the device. Server time is derived from it with the measured skew.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// The platform capabilities bundled for the agent.
#[derive(Clone)]
pub struct Platform {
    /// Secure storage.
    pub store: std::sync::Arc<dyn SecureStore>,
    /// Profile installer.
    pub installer: std::sync::Arc<dyn ProfileInstaller>,
    /// Device description.
    pub device: std::sync::Arc<dyn DeviceInfo>,
    /// Clock.
    pub clock: std::sync::Arc<dyn Clock>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}
