//! Desktop (macOS and Linux) implementations of the core's platform traits.
//!
//! - [`KeyringStore`]: the OS keychain through the `keyring` crate (macOS Keychain, Linux
//!   Secret Service);
//! - [`FileStore`]: the headless fallback, a JSON file named `secrets.insecure-file-store.json`
//!   with mode 0600, replaced atomically (write, fsync, rename);
//! - [`DirInstaller`]: Linux "installation" into a profile directory;
//!   [`MacInstaller`]: hands the profile to System Settings with `open` and tracks the window
//!   by polling `profiles list`;
//! - [`HostDevice`]: describes this machine (machine id, OS version, model).

use base64::Engine as _;
use enroll_core::platform::{
    DeviceInfo, InstallOutcome, PlatformError, PlatformErrorKind, ProfileInstaller, ProfileToInstall,
    SecureStore,
};
use enroll_proto::secret::SecretBytes;
use enroll_proto::{DeviceDescriptor, Platform};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name of the fallback secret store.
pub const FILE_STORE_NAME: &str = "secrets.insecure-file-store.json";

fn io_err(context: &str, e: std::io::Error) -> PlatformError {
    let kind = if e.kind() == std::io::ErrorKind::PermissionDenied {
        PlatformErrorKind::Denied
    } else {
        PlatformErrorKind::Other
    };
    PlatformError::new(kind, format!("{context}: {e}"))
}

/// Creates `dir` (and its parents) and makes it private to the user (mode 0700): the agent's
/// state directory and its `profiles/` hold secrets (the file store, profiles with their
/// one-time SCEP challenge).
pub fn create_private_dir(dir: &Path) -> Result<(), PlatformError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("creating the state directory", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|e| io_err("reading the state directory", e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io_err("setting the state directory to mode 0700", e))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600 (its directory 0700): temp file, fsync,
/// rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlatformError> {
    let dir = path
        .parent()
        .ok_or_else(|| PlatformError::other("path has no parent directory"))?;
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_err("creating a temporary file", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_err("setting file mode 0600", e))?;
    }
    tmp.write_all(bytes).map_err(|e| io_err("writing", e))?;
    tmp.as_file().sync_all().map_err(|e| io_err("syncing", e))?;
    tmp.persist(path)
        .map_err(|e| io_err("renaming into place", e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Secret store in a mode-0600 JSON file, for machines without a keychain (headless Linux).
///
/// The name says what it is: the file is protected by file permissions only.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileStore {
    /// A store in `dir/secrets.insecure-file-store.json`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_STORE_NAME),
            lock: Mutex::new(()),
        }
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<BTreeMap<String, String>, PlatformError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                if bytes.len() > 4 * 1024 * 1024 {
                    return Err(PlatformError::other("secret store file is larger than 4 MiB"));
                }
                serde_json::from_slice(&bytes)
                    .map_err(|_| PlatformError::other("secret store file is not valid JSON"))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_err("reading the secret store", e)),
        }
    }

    fn save(&self, map: &BTreeMap<String, String>) -> Result<(), PlatformError> {
        let bytes = serde_json::to_vec(map).map_err(|e| PlatformError::other(e.to_string()))?;
        write_atomic(&self.path, &bytes)
    }
}

impl SecureStore for FileStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, PlatformError> {
        let _g = self
            .lock
            .lock()
            .map_err(|_| PlatformError::other("lock poisoned"))?;
        let map = self.load()?;
        match map.get(key) {
            None => Ok(None),
            Some(v) => base64::engine::general_purpose::STANDARD
                .decode(v)
                .map(|b| Some(SecretBytes::new(b)))
                .map_err(|_| PlatformError::other("secret store entry is not base64")),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        let _g = self
            .lock
            .lock()
            .map_err(|_| PlatformError::other("lock poisoned"))?;
        let mut map = self.load()?;
        map.insert(
            key.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(value),
        );
        self.save(&map)
    }

    fn delete(&self, key: &str) -> Result<(), PlatformError> {
        let _g = self
            .lock
            .lock()
            .map_err(|_| PlatformError::other("lock poisoned"))?;
        let mut map = self.load()?;
        if map.remove(key).is_some() {
            self.save(&map)?;
        }
        Ok(())
    }
}

/// Secret store in the OS keychain (service `enroll`, one entry per key, scoped by `scope`).
#[derive(Debug)]
pub struct KeyringStore {
    scope: String,
}

/// Runs a keyring call on a plain thread: some backends drive their own async runtime and must
/// not be called from inside the agent's tokio tasks.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, PlatformError> {
    std::thread::scope(|s| s.spawn(f).join()).map_err(|_| PlatformError::other("keyring call panicked"))
}

fn keyring_err(e: keyring::Error) -> PlatformError {
    match e {
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => {
            PlatformError::new(PlatformErrorKind::Unavailable, "the keychain is not available")
        }
        other => PlatformError::other(format!("keychain: {other}")),
    }
}

impl KeyringStore {
    /// A keychain store; `scope` separates several state directories on one machine.
    pub fn new(scope: &str) -> Self {
        Self {
            scope: scope.to_owned(),
        }
    }

    fn entry(&self, key: &str) -> Result<keyring::Entry, PlatformError> {
        keyring::Entry::new("enroll", &format!("{}:{key}", self.scope)).map_err(keyring_err)
    }

    /// Whether a keychain answers on this machine (writes, reads back and deletes a probe).
    pub fn probe(&self) -> bool {
        let ok = self.set("probe", b"ok").is_ok()
            && matches!(self.get("probe"), Ok(Some(v)) if v.expose() == b"ok");
        let _ = self.delete("probe");
        ok
    }
}

impl SecureStore for KeyringStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, PlatformError> {
        let entry = self.entry(key)?;
        match off_runtime(|| entry.get_secret())? {
            Ok(bytes) => Ok(Some(SecretBytes::new(bytes))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err(e)),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        let entry = self.entry(key)?;
        off_runtime(|| entry.set_secret(value))?.map_err(keyring_err)
    }

    fn delete(&self, key: &str) -> Result<(), PlatformError> {
        let entry = self.entry(key)?;
        match off_runtime(|| entry.delete_credential())? {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_err(e)),
        }
    }
}

/// Which secret store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// The keychain when one answers, else the file fallback.
    Auto,
    /// The OS keychain only.
    Keyring,
    /// The mode-0600 file only.
    File,
}

/// Opens the secret store; returns it with a human name of what was chosen.
pub fn open_store(
    kind: StoreKind,
    dir: &Path,
) -> Result<(std::sync::Arc<dyn SecureStore>, String), PlatformError> {
    let scope = dir.to_string_lossy().to_string();
    match kind {
        StoreKind::File => {
            let s = FileStore::new(dir);
            let name = format!("file {}", s.path().display());
            Ok((std::sync::Arc::new(s), name))
        }
        StoreKind::Keyring => {
            let k = KeyringStore::new(&scope);
            if !k.probe() {
                return Err(PlatformError::new(
                    PlatformErrorKind::Unavailable,
                    "no keychain answers on this machine",
                ));
            }
            Ok((std::sync::Arc::new(k), "keychain".to_owned()))
        }
        StoreKind::Auto => {
            // A file store that already holds state keeps being used, so state never splits.
            let file = FileStore::new(dir);
            if file.path().exists() {
                let name = format!("file {}", file.path().display());
                return Ok((std::sync::Arc::new(file), name));
            }
            let k = KeyringStore::new(&scope);
            if k.probe() {
                Ok((std::sync::Arc::new(k), "keychain".to_owned()))
            } else {
                let name = format!("file {} (no keychain on this machine)", file.path().display());
                Ok((std::sync::Arc::new(file), name))
            }
        }
    }
}

/// Linux profile "installation": the signed profile is written into a directory (where a
/// configuration agent picks it up), with an index of installed `PayloadUUID`s.
#[derive(Debug)]
pub struct DirInstaller {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl DirInstaller {
    /// Installs into `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            lock: Mutex::new(()),
        }
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("installed.json")
    }

    fn index(&self) -> Result<BTreeMap<String, String>, PlatformError> {
        match std::fs::read(self.index_path()) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|_| PlatformError::other("profile index is not valid JSON")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_err("reading the profile index", e)),
        }
    }

    fn file_name(identifier: &str) -> String {
        let safe: String = identifier
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{safe}.mobileconfig")
    }
}

impl ProfileInstaller for DirInstaller {
    fn install(&self, profile: &ProfileToInstall) -> Result<InstallOutcome, PlatformError> {
        let _g = self
            .lock
            .lock()
            .map_err(|_| PlatformError::other("lock poisoned"))?;
        write_atomic(
            &self.dir.join(Self::file_name(&profile.identifier)),
            profile.signed_profile.expose(),
        )?;
        let mut index = self.index()?;
        index.retain(|_, id| id != &profile.identifier);
        index.insert(profile.uuid.clone(), profile.identifier.clone());
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| PlatformError::other(e.to_string()))?;
        write_atomic(&self.index_path(), &bytes)?;
        Ok(InstallOutcome::Installed)
    }

    fn is_installed(&self, uuid: &str) -> Result<bool, PlatformError> {
        let _g = self
            .lock
            .lock()
            .map_err(|_| PlatformError::other("lock poisoned"))?;
        Ok(self.index()?.contains_key(uuid))
    }

    fn remove(&self, identifier: &str) -> Result<(), PlatformError> {
        let _g = self
            .lock
            .lock()
            .map_err(|_| PlatformError::other("lock poisoned"))?;
        match std::fs::remove_file(self.dir.join(Self::file_name(identifier))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing the profile", e)),
        }
        let mut index = self.index()?;
        index.retain(|_, id| id != identifier);
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| PlatformError::other(e.to_string()))?;
        write_atomic(&self.index_path(), &bytes)
    }
}

/// macOS: the profile is written to disk and opened, so System Settings shows it for the user
/// to install; the agent then polls `profiles list` until it appears or the window closes.
#[derive(Debug)]
pub struct MacInstaller {
    dir: PathBuf,
}

impl MacInstaller {
    /// Keeps downloaded profiles in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

impl ProfileInstaller for MacInstaller {
    fn install(&self, profile: &ProfileToInstall) -> Result<InstallOutcome, PlatformError> {
        let path = self.dir.join(DirInstaller::file_name(&profile.identifier));
        write_atomic(&path, profile.signed_profile.expose())?;
        let status = std::process::Command::new("/usr/bin/open")
            .arg(&path)
            .status()
            .map_err(|e| io_err("running open", e))?;
        if !status.success() {
            return Err(PlatformError::other(format!("open exited with {status}")));
        }
        Ok(InstallOutcome::Deferred)
    }

    fn is_installed(&self, uuid: &str) -> Result<bool, PlatformError> {
        let out = std::process::Command::new("/usr/bin/profiles")
            .args(["list", "-output", "stdout-xml"])
            .output()
            .map_err(|e| io_err("running profiles", e))?;
        Ok(String::from_utf8_lossy(&out.stdout).contains(uuid))
    }

    fn remove(&self, identifier: &str) -> Result<(), PlatformError> {
        let status = std::process::Command::new("/usr/bin/profiles")
            .args(["remove", "-identifier", identifier])
            .status()
            .map_err(|e| io_err("running profiles", e))?;
        if status.success() {
            Ok(())
        } else {
            Err(PlatformError::other(format!(
                "profiles remove exited with {status}"
            )))
        }
    }
}

/// Describes this machine. On Linux: `/etc/machine-id`, `/etc/os-release`, DMI product name.
#[derive(Debug, Clone)]
pub struct HostDevice {
    /// Overrides the hardware identifier (the demo uses a fresh one per run).
    pub hardware_id: Option<String>,
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() < 256)
}

impl DeviceInfo for HostDevice {
    fn describe(&self) -> Result<DeviceDescriptor, PlatformError> {
        let platform = if cfg!(target_os = "macos") {
            Platform::Macos
        } else {
            Platform::Linux
        };
        let os_version = if cfg!(target_os = "macos") {
            std::process::Command::new("/usr/bin/sw_vers")
                .arg("-productVersion")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        } else {
            read_trimmed("/etc/os-release")
                .and_then(|s| {
                    s.lines().find_map(|l| {
                        l.strip_prefix("VERSION_ID=")
                            .map(|v| v.trim_matches('"').to_owned())
                    })
                })
                .unwrap_or_else(|| "unknown".to_owned())
        };
        let model = read_trimmed("/sys/class/dmi/id/product_name")
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let manufacturer = read_trimmed("/sys/class/dmi/id/sys_vendor").unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "Apple".to_owned()
            } else {
                "unknown".to_owned()
            }
        });
        let hardware_id = self
            .hardware_id
            .clone()
            .or_else(|| read_trimmed("/etc/machine-id"));
        Ok(DeviceDescriptor {
            platform,
            os_version,
            model,
            manufacturer,
            serial: None,
            imeis: Vec::new(),
            hardware_id,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        assert!(store.get("k").unwrap().is_none());
        store.set("k", b"value").unwrap();
        assert_eq!(store.get("k").unwrap().unwrap().expose(), b"value");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        store.delete("k").unwrap();
        assert!(store.get("k").unwrap().is_none());
        std::fs::write(store.path(), b"{not json").unwrap();
        assert!(store.get("k").is_err());
    }

    #[test]
    fn dir_installer_tracks_installs() {
        let dir = tempfile::tempdir().unwrap();
        let inst = DirInstaller::new(dir.path().to_path_buf());
        let p = ProfileToInstall {
            identifier: "com.enroll.mdm/../x".into(),
            uuid: "U1".into(),
            expires_at: Some(0),
            expires_at_local: Some(0),
            signed_profile: SecretBytes::new(b"der".to_vec()),
        };
        assert_eq!(inst.install(&p).unwrap(), InstallOutcome::Installed);
        assert!(inst.is_installed("U1").unwrap());
        assert!(dir.path().join("com.enroll.mdm_.._x.mobileconfig").exists());
        inst.remove("com.enroll.mdm/../x").unwrap();
        assert!(!inst.is_installed("U1").unwrap());
    }
}
