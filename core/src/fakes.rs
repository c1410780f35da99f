//! In-memory implementations of the platform traits, for tests and demos.
//!
//! They behave like the real ones where it matters to the core (atomic store writes,
//! installed-profile bookkeeping that survives an agent restart when the same instance is
//! shared) and let tests script outcomes and move the clock.

use crate::platform::{
    Clock, DeviceInfo, InstallOutcome, PlatformError, PlatformErrorKind, ProfileInstaller, ProfileToInstall,
    SecureStore,
};
use crate::protocol::{DeviceDescriptor, Platform as OsPlatform};
use crate::secret::SecretBytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

fn poisoned() -> PlatformError {
    PlatformError::other("lock poisoned")
}

/// A [`SecureStore`] in memory. Writes can be made to fail to test error paths.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Vec<u8>>>,
    fail_writes: AtomicBool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Makes every following `set` fail (or succeed again).
    pub fn fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::SeqCst);
    }

    /// Raw contents of a key (tests inspect what was persisted).
    pub fn raw(&self, key: &str) -> Option<Vec<u8>> {
        self.map.lock().ok().and_then(|m| m.get(key).cloned())
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SecureStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, PlatformError> {
        Ok(self
            .map
            .lock()
            .map_err(|_| poisoned())?
            .get(key)
            .map(|v| SecretBytes::new(v.clone())))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(PlatformError::new(
                PlatformErrorKind::Unavailable,
                "store write refused (test)",
            ));
        }
        self.map
            .lock()
            .map_err(|_| poisoned())?
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), PlatformError> {
        self.map.lock().map_err(|_| poisoned())?.remove(key);
        Ok(())
    }
}

/// One call to [`FakeInstaller::install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallRecord {
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// Window end, server time (`None`: no window).
    pub expires_at: Option<i64>,
    /// Device clock at install, Unix milliseconds.
    pub at_ms: i64,
    /// Outcome returned.
    pub outcome: InstallOutcome,
}

/// Callback run at the start of every fake install.
type InstallHook = Box<dyn Fn(&ProfileToInstall) + Send + Sync>;

/// A [`ProfileInstaller`] that records installs and returns scripted outcomes.
pub struct FakeInstaller {
    clock: Arc<dyn Clock>,
    script: Mutex<VecDeque<InstallOutcome>>,
    records: Mutex<Vec<InstallRecord>>,
    installed: Mutex<HashMap<String, String>>,
    removed: Mutex<Vec<String>>,
    hook: Mutex<Option<InstallHook>>,
}

impl std::fmt::Debug for FakeInstaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeInstaller").finish_non_exhaustive()
    }
}

impl FakeInstaller {
    /// An installer that installs everything (unless scripted otherwise).
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            clock,
            script: Mutex::default(),
            records: Mutex::default(),
            installed: Mutex::default(),
            removed: Mutex::default(),
            hook: Mutex::default(),
        })
    }

    /// Outcomes for the next installs, in order; afterwards installs succeed.
    pub fn script(&self, outcomes: impl IntoIterator<Item = InstallOutcome>) {
        if let Ok(mut s) = self.script.lock() {
            s.extend(outcomes);
        }
    }

    /// Runs `hook` at the start of every install (tests move clocks here).
    pub fn on_install(&self, hook: impl Fn(&ProfileToInstall) + Send + Sync + 'static) {
        if let Ok(mut h) = self.hook.lock() {
            *h = Some(Box::new(hook));
        }
    }

    /// Marks a deferred profile as installed by the user.
    pub fn complete_deferred(&self, uuid: &str, identifier: &str) {
        if let Ok(mut m) = self.installed.lock() {
            m.insert(uuid.to_owned(), identifier.to_owned());
        }
    }

    /// Every install call so far.
    pub fn records(&self) -> Vec<InstallRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Identifiers removed so far.
    pub fn removed(&self) -> Vec<String> {
        self.removed.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Whether any profile is installed now.
    pub fn any_installed(&self) -> bool {
        self.installed.lock().map(|m| !m.is_empty()).unwrap_or(false)
    }
}

impl ProfileInstaller for FakeInstaller {
    fn install(&self, profile: &ProfileToInstall) -> Result<InstallOutcome, PlatformError> {
        if let Some(hook) = self.hook.lock().map_err(|_| poisoned())?.as_ref() {
            hook(profile);
        }
        let outcome = self
            .script
            .lock()
            .map_err(|_| poisoned())?
            .pop_front()
            .unwrap_or(InstallOutcome::Installed);
        self.records.lock().map_err(|_| poisoned())?.push(InstallRecord {
            uuid: profile.uuid.clone(),
            identifier: profile.identifier.clone(),
            expires_at: profile.expires_at,
            at_ms: self.clock.now_ms(),
            outcome,
        });
        if outcome == InstallOutcome::Installed {
            let mut installed = self.installed.lock().map_err(|_| poisoned())?;
            installed.retain(|_, id| id != &profile.identifier);
            installed.insert(profile.uuid.clone(), profile.identifier.clone());
        }
        Ok(outcome)
    }

    fn is_installed(&self, uuid: &str) -> Result<bool, PlatformError> {
        Ok(self.installed.lock().map_err(|_| poisoned())?.contains_key(uuid))
    }

    fn remove(&self, identifier: &str) -> Result<(), PlatformError> {
        self.installed
            .lock()
            .map_err(|_| poisoned())?
            .retain(|_, id| id != identifier);
        self.removed
            .lock()
            .map_err(|_| poisoned())?
            .push(identifier.to_owned());
        Ok(())
    }
}

/// A [`DeviceInfo`] returning a fixed (changeable) description.
#[derive(Debug)]
pub struct FakeDevice {
    descriptor: Mutex<DeviceDescriptor>,
}

impl FakeDevice {
    /// A device with this description.
    pub fn new(descriptor: DeviceDescriptor) -> Arc<Self> {
        Arc::new(Self {
            descriptor: Mutex::new(descriptor),
        })
    }

    /// An Android phone (`os_version` like "14"), identified by serial and one IMEI.
    pub fn android(os_version: &str, serial: &str, imei: &str) -> Arc<Self> {
        Self::new(DeviceDescriptor {
            platform: OsPlatform::Android,
            os_version: os_version.to_owned(),
            model: "Galaxy S24".to_owned(),
            manufacturer: "samsung".to_owned(),
            serial: Some(serial.to_owned()),
            imeis: vec![imei.to_owned()],
            hardware_id: None,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }

    /// An iPhone identified by UDID.
    pub fn ios(udid: &str) -> Arc<Self> {
        Self::new(DeviceDescriptor {
            platform: OsPlatform::Ios,
            os_version: "17.5".to_owned(),
            model: "iPhone15,2".to_owned(),
            manufacturer: "Apple".to_owned(),
            serial: None,
            imeis: Vec::new(),
            hardware_id: Some(udid.to_owned()),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }

    /// Replaces the description (e.g. an OS update).
    pub fn set(&self, descriptor: DeviceDescriptor) {
        if let Ok(mut d) = self.descriptor.lock() {
            *d = descriptor;
        }
    }
}

impl DeviceInfo for FakeDevice {
    fn describe(&self) -> Result<DeviceDescriptor, PlatformError> {
        self.descriptor.lock().map(|d| d.clone()).map_err(|_| poisoned())
    }
}

/// A [`Clock`] that tests move by hand; starts at the system time plus an offset.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock at the current system time shifted by `offset_ms`.
    pub fn offset_from_now(offset_ms: i64) -> Arc<Self> {
        let now = crate::platform::SystemClock.now_ms();
        Arc::new(Self {
            now_ms: AtomicI64::new(now + offset_ms),
        })
    }

    /// Moves the clock forward (or back, with a negative value).
    pub fn advance_ms(&self, delta: i64) {
        self.now_ms.fetch_add(delta, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}
