//! The agent's settings, kept in `<state-dir>/agent.json` (no secrets: those are in the secret
//! store), and the agent built from them for this machine.

use crate::desktop::{self, DirInstaller, HostDevice, MacInstaller};
use crate::global::GlobalArgs;
use crate::out::Out;
use anyhow::Context as _;
use enroll_core::platform::{Platform, ProfileInstaller, SystemClock};
use enroll_core::tls::{SpkiPin, TrustConfig};
use enroll_core::{Agent, AgentConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Agent settings kept in `<state-dir>/agent.json` (no secrets).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AgentSettings {
    /// Server base URL (without `/go`).
    pub(crate) server: Option<String>,
    /// CA certificates to trust (PEM); none: the public roots.
    pub(crate) ca_pem: Option<String>,
    /// SPKI pins, `sha256/<base64>`.
    pub(crate) spki_pins: Vec<String>,
    /// Allow plain http to a loopback server.
    pub(crate) insecure_loopback_http: bool,
}

/// Reads `<dir>/agent.json` (defaults when there is none).
pub(crate) fn load_settings(dir: &Path) -> anyhow::Result<AgentSettings> {
    match std::fs::read(dir.join("agent.json")) {
        Ok(b) => serde_json::from_slice(&b).context("agent.json is not valid"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AgentSettings::default()),
        Err(e) => Err(e).context("reading agent.json"),
    }
}

/// Writes `<dir>/agent.json` atomically.
pub(crate) fn save_settings(dir: &Path, s: &AgentSettings) -> anyhow::Result<()> {
    desktop::write_atomic(&dir.join("agent.json"), &serde_json::to_vec_pretty(s)?)?;
    Ok(())
}

/// The agent configuration for `settings` (trust, pins, loopback http).
pub(crate) fn agent_config(settings: &AgentSettings) -> anyhow::Result<AgentConfig> {
    let mut config = AgentConfig::default();
    let mut trust = TrustConfig::default();
    match &settings.ca_pem {
        Some(pem) => trust.ca_certificates = enroll_core::tls::parse_certificates(pem.as_bytes())?,
        None => trust.public_roots = true,
    }
    trust.spki_pins = settings
        .spki_pins
        .iter()
        .map(|p| SpkiPin::parse(p))
        .collect::<Result<_, _>>()?;
    config.client.trust = trust;
    config.client.allow_insecure_loopback_http = settings.insecure_loopback_http;
    Ok(config)
}

/// The agent on this machine: the secret store chosen by `--store`, the profile installer of
/// this OS, this host as the device.
pub(crate) fn build_agent(
    global: &GlobalArgs,
    dir: &Path,
    settings: &AgentSettings,
    out: &Out,
) -> anyhow::Result<Arc<Agent>> {
    let (store, store_name) = desktop::open_store(global.store, dir)?;
    if global.verbose > 0 {
        out.step(format!("secret store: {store_name}"));
    }
    let installer: Arc<dyn ProfileInstaller> = if cfg!(target_os = "macos") {
        Arc::new(MacInstaller::new(dir.join("profiles")))
    } else {
        Arc::new(DirInstaller::new(dir.join("profiles")))
    };
    let platform = Platform {
        store,
        installer,
        device: Arc::new(HostDevice {
            hardware_id: device_id_override(dir)?,
        }),
        clock: Arc::new(SystemClock),
    };
    Ok(Arc::new(Agent::new(agent_config(settings)?, platform)?))
}

/// The demo enrolls a simulated device whose id is kept in its state directory.
fn device_id_override(dir: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(dir.join("simulated-device-id")) {
        Ok(s) => Ok(Some(s.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
