//! The device mode's saved state: the step reached and what each step produced. Saved as JSON
//! (mode 0600, written to a temporary file and renamed) after every step; `Debug` hides the
//! key and the access token.

use crate::{Result, WsimError};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The steps, in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Nothing done.
    #[default]
    Start,
    /// Discovery answered.
    Discovered,
    /// Policy read.
    PolicyRead,
    /// Certificate and provisioning document received.
    Enrolled,
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

pub(crate) fn b64e(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub(crate) fn b64d(s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|_| WsimError::State("a stored value is not base64".into()))
}

impl State {
    /// Reads a state file (at most 1 MiB).
    pub fn load(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| WsimError::State(e.to_string()))?;
        if meta.len() > 1024 * 1024 {
            return Err(WsimError::State("the state file is larger than 1 MiB".into()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| WsimError::State(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| WsimError::State(format!("unreadable: {e}")))
    }

    /// Writes the state file atomically, mode 0600.
    pub fn save(&self, path: &Path) -> Result<()> {
        let err = |e: std::io::Error| WsimError::State(e.to_string());
        let text = serde_json::to_vec_pretty(self).map_err(|e| WsimError::State(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write as _;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(err)?;
            f.write_all(&text).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, path).map_err(err)
    }
}
