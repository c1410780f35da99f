//! Platform capabilities implemented by the app (foreign traits), and their adapters to the
//! core's traits.
//!
//! The app implements [`SecureStore`] (Android Keystore / Apple Keychain), [`ProfileInstaller`]
//! (DevicePolicyManager / configuration-profile installation), [`DeviceInfo`] and optionally
//! [`Clock`] in Kotlin, Swift or Python. The adapters ([`ForeignStore`], …) implement
//! `enroll_core::platform::*` over them, converting borrowed arguments to owned ones and errors
//! both ways; they hold no logic of their own.
//!
//! **Threads**: the core calls these methods on its own background threads (tokio workers, or
//! its blocking pool for the installer), never on the app's main thread. Every method may block
//! briefly; [`ProfileInstaller::install`] may block while the OS shows its own UI.

use crate::error::PlatformError;
use enroll_core::platform as core;
use enroll_core::protocol;
use enroll_core::secret::SecretBytes;
use std::sync::Arc;

/// Secure key-value storage (Android Keystore-backed storage, Apple Keychain).
///
/// The library keeps its whole enrollment state, including bearer secrets, under one key:
/// `set` must replace a value atomically (after a crash, `get` returns the old or the new
/// value, never a mix). Called on a library background thread; must not call back into the
/// library.
#[uniffi::export(foreign)]
pub trait SecureStore: Send + Sync {
    /// Returns the value stored under `key`, or null/nil/None when absent.
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, PlatformError>;
    /// Stores `value` under `key`, replacing any previous value atomically.
    fn set(&self, key: String, value: Vec<u8>) -> Result<(), PlatformError>;
    /// Deletes `key`; deleting an absent key succeeds.
    fn delete(&self, key: String) -> Result<(), PlatformError>;
}

/// The signed `.mobileconfig` of a [`ProfileToInstall`] (CMS DER). It holds a one-time
/// enrollment challenge, so its text form (Kotlin `toString`, Swift `description`, Python
/// `repr`/`str`, and so the text form of the record around it) shows only its size. Read the
/// bytes with [`SignedProfile::bytes`] where they are handed to the system, and never log them.
#[derive(Clone, PartialEq, Eq, uniffi::Object)]
#[uniffi::export(Debug)]
pub struct SignedProfile {
    inner: SecretBytes,
}

impl std::fmt::Debug for SignedProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignedProfile(<{} bytes>)", self.inner.expose().len())
    }
}

#[uniffi::export]
impl SignedProfile {
    /// The signed profile (CMS DER). Secret: do not log it.
    pub fn bytes(&self) -> Vec<u8> {
        self.inner.expose().to_vec()
    }

    /// Its size in bytes (safe to log).
    pub fn size(&self) -> u64 {
        self.inner.expose().len() as u64
    }
}

/// A verified management profile, ready to hand to the system. Its text form never shows the
/// profile's bytes (see [`SignedProfile`]).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProfileToInstall {
    /// `PayloadIdentifier` (stable per device: installing again replaces the profile).
    pub identifier: String,
    /// `PayloadUUID` of this issuance.
    pub uuid: String,
    /// End of the install window, Unix seconds, server time; null: no window.
    pub expires_at: Option<i64>,
    /// End of the install window converted to the device clock, Unix seconds; null: no window.
    pub expires_at_local: Option<i64>,
    /// The signed `.mobileconfig` (holds the one-time challenge; `signed_profile.bytes()`).
    pub signed_profile: Arc<SignedProfile>,
}

impl From<&core::ProfileToInstall> for ProfileToInstall {
    fn from(p: &core::ProfileToInstall) -> Self {
        Self {
            identifier: p.identifier.clone(),
            uuid: p.uuid.clone(),
            expires_at: p.expires_at,
            expires_at_local: p.expires_at_local,
            signed_profile: Arc::new(SignedProfile {
                inner: p.signed_profile.clone(),
            }),
        }
    }
}

/// What happened when the profile was handed to the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum InstallOutcome {
    /// The profile is installed.
    Installed,
    /// The user cancelled the installation: the enrollment is cancelled on the server.
    Cancelled,
    /// The system took the profile and the user finishes elsewhere (macOS System Settings):
    /// the library then polls [`ProfileInstaller::is_installed`] until the window closes.
    Deferred,
}

impl From<InstallOutcome> for core::InstallOutcome {
    fn from(o: InstallOutcome) -> Self {
        match o {
            InstallOutcome::Installed => Self::Installed,
            InstallOutcome::Cancelled => Self::Cancelled,
            InstallOutcome::Deferred => Self::Deferred,
        }
    }
}

/// Installs and removes the MDM profile (Android: the device-owner / work-profile side of the
/// DPC; Apple: the configuration-profile installation).
///
/// Called on a library background thread; `install` may block while the OS shows its UI.
#[uniffi::export(foreign)]
pub trait ProfileInstaller: Send + Sync {
    /// Hands the verified profile to the system and reports what happened.
    fn install(&self, profile: ProfileToInstall) -> Result<InstallOutcome, PlatformError>;
    /// Whether the profile with this `PayloadUUID` is installed now (asked after a restart and
    /// while a deferred install is pending).
    fn is_installed(&self, uuid: String) -> Result<bool, PlatformError>;
    /// Removes the profile with this `PayloadIdentifier` (after a retire, wipe or reset).
    fn remove(&self, identifier: String) -> Result<(), PlatformError>;
}

/// Operating system family of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DevicePlatform {
    /// Android phone or tablet.
    Android,
    /// iPhone or iPad.
    Ios,
    /// Mac.
    Macos,
    /// Linux desktop.
    Linux,
    /// Windows PC.
    Windows,
}

impl From<DevicePlatform> for protocol::Platform {
    fn from(p: DevicePlatform) -> Self {
        match p {
            DevicePlatform::Android => Self::Android,
            DevicePlatform::Ios => Self::Ios,
            DevicePlatform::Macos => Self::Macos,
            DevicePlatform::Linux => Self::Linux,
            DevicePlatform::Windows => Self::Windows,
        }
    }
}

impl From<protocol::Platform> for DevicePlatform {
    fn from(p: protocol::Platform) -> Self {
        match p {
            protocol::Platform::Android => Self::Android,
            protocol::Platform::Ios => Self::Ios,
            protocol::Platform::Macos => Self::Macos,
            protocol::Platform::Linux => Self::Linux,
            protocol::Platform::Windows => Self::Windows,
        }
    }
}

/// What the device says about itself, sent at enrollment and at every check-in.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceDescriptor {
    /// Operating system family.
    pub platform: DevicePlatform,
    /// OS version, e.g. `14` (Android) or `17.4.1` (iOS).
    pub os_version: String,
    /// Model name.
    pub model: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Hardware serial number, when the platform exposes it.
    #[uniffi(default = None)]
    pub serial: Option<String>,
    /// IMEIs (15 digits each), zero to two.
    #[uniffi(default)]
    pub imeis: Vec<String>,
    /// Apple UDID or Android ID.
    #[uniffi(default = None)]
    pub hardware_id: Option<String>,
    /// Version of the app or agent, for the server's records.
    #[uniffi(default = "")]
    pub agent_version: String,
}

impl From<DeviceDescriptor> for protocol::DeviceDescriptor {
    fn from(d: DeviceDescriptor) -> Self {
        Self {
            platform: d.platform.into(),
            os_version: d.os_version,
            model: d.model,
            manufacturer: d.manufacturer,
            serial: d.serial,
            imeis: d.imeis,
            hardware_id: d.hardware_id,
            agent_version: d.agent_version,
        }
    }
}

/// Describes the device (Android: `Build.*`, `Settings.Secure.ANDROID_ID`; Apple: UIDevice /
/// IOKit). Called on a library background thread at enrollment and at every check-in.
#[uniffi::export(foreign)]
pub trait DeviceInfo: Send + Sync {
    /// The current description of the device.
    fn describe(&self) -> Result<DeviceDescriptor, PlatformError>;
}

/// Wall clock of the device (optional: the system clock is used when none is given). Tests use
/// it to simulate a device whose clock is off.
#[uniffi::export(foreign)]
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch. Must not throw.
    fn now_ms(&self) -> i64;
}

/// Adapts a foreign [`SecureStore`] to the core's trait.
pub struct ForeignStore(pub Arc<dyn SecureStore>);

impl core::SecureStore for ForeignStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, core::PlatformError> {
        Ok(self.0.get(key.to_owned())?.map(SecretBytes::new))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), core::PlatformError> {
        Ok(self.0.set(key.to_owned(), value.to_vec())?)
    }

    fn delete(&self, key: &str) -> Result<(), core::PlatformError> {
        Ok(self.0.delete(key.to_owned())?)
    }
}

/// Adapts a foreign [`ProfileInstaller`] to the core's trait.
pub struct ForeignInstaller(pub Arc<dyn ProfileInstaller>);

impl core::ProfileInstaller for ForeignInstaller {
    fn install(&self, profile: &core::ProfileToInstall) -> Result<core::InstallOutcome, core::PlatformError> {
        Ok(self.0.install(profile.into())?.into())
    }

    fn is_installed(&self, uuid: &str) -> Result<bool, core::PlatformError> {
        Ok(self.0.is_installed(uuid.to_owned())?)
    }

    fn remove(&self, identifier: &str) -> Result<(), core::PlatformError> {
        Ok(self.0.remove(identifier.to_owned())?)
    }
}

/// Adapts a foreign [`DeviceInfo`] to the core's trait.
pub struct ForeignDevice(pub Arc<dyn DeviceInfo>);

impl core::DeviceInfo for ForeignDevice {
    fn describe(&self) -> Result<protocol::DeviceDescriptor, core::PlatformError> {
        Ok(self.0.describe()?.into())
    }
}

/// Adapts a foreign [`Clock`] to the core's trait.
pub struct ForeignClock(pub Arc<dyn Clock>);

impl core::Clock for ForeignClock {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
}

/// Bundles the app's implementations for the core (the system clock when `clock` is `None`).
pub(crate) fn bundle(
    store: Arc<dyn SecureStore>,
    installer: Arc<dyn ProfileInstaller>,
    device: Arc<dyn DeviceInfo>,
    clock: Option<Arc<dyn Clock>>,
) -> core::Platform {
    core::Platform {
        store: Arc::new(ForeignStore(store)),
        installer: Arc::new(ForeignInstaller(installer)),
        device: Arc::new(ForeignDevice(device)),
        clock: match clock {
            Some(c) => Arc::new(ForeignClock(c)),
            None => Arc::new(core::SystemClock),
        },
    }
}
