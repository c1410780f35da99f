//! The device mode's persisted state record — the step reached and what each step produced —
//! and [`FileStore`], the core [`SecureStore`] that keeps it in a file (mode 0600, written to a
//! temporary file and renamed). The record is committed through the core's step machine
//! ([`enroll_core::agent::machine`]) after every step; `Debug` hides the key and the token.

use crate::{Result, WsimError};
use base64::Engine as _;
use enroll_core::agent::machine::StepState;
use enroll_core::platform::{PlatformError, SecureStore};
use enroll_core::secret::SecretBytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The steps, in order. Each is one committed transition of the core's step machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Nothing done.
    #[default]
    Start,
    /// Discovery answered (auth policy and service URLs known).
    Discovered,
    /// Federated only: the Entra bulk token was redeemed for an access token.
    TokenRedeemed,
    /// Policy read.
    PolicyRead,
    /// The RSA key and the PKCS #10 request exist (kept, so a resumed run sends the same CSR).
    KeyReady,
    /// The enrollment service answered with a provisioning document (not yet checked).
    Enrolled,
    /// The provisioning document was checked against the key and the CA.
    Provisioned,
    /// The first OMA-DM session ended: the device is managed.
    Managed,
}

impl Step {
    /// Short snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Step::Start => "start",
            Step::Discovered => "discovered",
            Step::TokenRedeemed => "token_redeemed",
            Step::PolicyRead => "policy_read",
            Step::KeyReady => "key_ready",
            Step::Enrolled => "enrolled",
            Step::Provisioned => "provisioned",
            Step::Managed => "managed",
        }
    }
}

/// What the device knows.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Step reached.
    pub step: Step,
    /// `OnPremise` or `Federated`.
    pub auth_policy: Option<String>,
    /// MS-XCEP URL.
    pub policy_url: Option<String>,
    /// MS-WSTEP URL.
    pub enrollment_url: Option<String>,
    /// Federated: the token URL.
    pub authentication_url: Option<String>,
    /// Policy: smallest key.
    pub min_key_bits: u32,
    /// The key (PKCS #8, base64). Secret.
    pub key_pkcs8: Option<String>,
    /// The PKCS #10 request sent (base64 DER).
    #[serde(default)]
    pub csr_der: Option<String>,
    /// The provisioning document received, until it is checked.
    #[serde(default)]
    pub provisioning_doc: Option<String>,
    /// The Entra access token. Secret.
    pub access_token: Option<String>,
    /// The Entra device object.
    pub entra_device_id: Option<String>,
    /// The client certificate (base64 DER).
    pub cert_der: Option<String>,
    /// The CA (base64 DER).
    pub ca_der: Option<String>,
    /// `User` or `System`.
    pub cert_store: Option<String>,
    /// OMA-DM URL.
    pub management_url: Option<String>,
    /// OMA-DM sessions completed.
    pub sessions_done: u32,
    /// Server commands answered in the last session.
    #[serde(default)]
    pub last_session_commands: u32,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("step", &self.step)
            .field("auth_policy", &self.auth_policy)
            .field("cert_store", &self.cert_store)
            .field("sessions_done", &self.sessions_done)
            .finish_non_exhaustive()
    }
}

impl StepState for State {
    fn name(&self) -> &'static str {
        self.step.name()
    }

    fn is_settled(&self) -> bool {
        self.step == Step::Managed
    }
}

pub(crate) fn b64e(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub(crate) fn b64d(s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|_| WsimError::State("a stored value is not base64".into()))
}

/// Largest store file read (the record holds a key, two certificates and a document).
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A [`SecureStore`] in one file: a JSON object of base64 values, replaced atomically (temporary
/// file, fsync, rename), mode 0600 since it holds the device's private key.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

fn io(what: &str, e: std::io::Error) -> PlatformError {
    PlatformError::other(format!("{what}: {e}"))
}

impl FileStore {
    /// A store kept at `path` (created at the first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> std::result::Result<BTreeMap<String, String>, PlatformError> {
        match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(io("reading the state file", e)),
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                return Err(PlatformError::other("the state file is larger than 4 MiB"))
            }
            Ok(_) => {}
        }
        let bytes = std::fs::read(&self.path).map_err(|e| io("reading the state file", e))?;
        serde_json::from_slice(&bytes).map_err(|_| PlatformError::other("the state file is not valid JSON"))
    }

    fn save(&self, map: &BTreeMap<String, String>) -> std::result::Result<(), PlatformError> {
        use std::io::Write as _;
        let text = serde_json::to_vec_pretty(map).map_err(|e| PlatformError::other(e.to_string()))?;
        let tmp = self.path.with_extension("tmp");
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(|e| io("writing the state file", e))?;
            f.write_all(&text).map_err(|e| io("writing the state file", e))?;
            f.sync_all().map_err(|e| io("writing the state file", e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| io("writing the state file", e))
    }
}

impl SecureStore for FileStore {
    fn get(&self, key: &str) -> std::result::Result<Option<SecretBytes>, PlatformError> {
        let _g = self
            .lock
            .lock()
            .map_err(|_| PlatformError::other("lock poisoned"))?;
        match self.load()?.get(key) {
            None => Ok(None),
            Some(v) => base64::engine::general_purpose::STANDARD
                .decode(v)
                .map(|b| Some(SecretBytes::new(b)))
                .map_err(|_| PlatformError::other("a state file entry is not base64")),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> std::result::Result<(), PlatformError> {
        let _g = self
            .lock
            .lock()
            .map_err(|_| PlatformError::other("lock poisoned"))?;
        let mut map = self.load()?;
        map.insert(key.to_owned(), b64e(value));
        self.save(&map)
    }

    fn delete(&self, key: &str) -> std::result::Result<(), PlatformError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_store_round_trips_and_refuses_hostile_files() {
        let dir = std::env::temp_dir().join(format!("wsim-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.json");
        let s = FileStore::new(&path);
        assert!(s.get("k").unwrap().is_none());
        s.set("k", b"value").unwrap();
        assert_eq!(
            FileStore::new(&path).get("k").unwrap().unwrap().expose(),
            b"value"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        s.delete("k").unwrap();
        assert!(s.get("k").unwrap().is_none());
        std::fs::write(&path, "{not json").unwrap();
        assert!(s.get("k").is_err());
        std::fs::write(&path, vec![b' '; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        assert!(s.get("k").unwrap_err().message.contains("4 MiB"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_hides_the_key_and_the_token() {
        let s = State {
            key_pkcs8: Some("PRIVATEKEY".into()),
            access_token: Some("ACCESSTOKEN".into()),
            ..State::default()
        };
        let d = format!("{s:?}");
        assert!(!d.contains("PRIVATEKEY") && !d.contains("ACCESSTOKEN"), "{d}");
    }
}
