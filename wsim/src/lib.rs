//! # enroll-wsim
//!
//! The Windows device mode: a simulated Windows PC that enrolls the way Windows' own MDM client
//! does, for tests, demos and benchmarks (on a real PC the OS does this; the agent would only call
//! `RegisterDeviceWithManagement`). It is not part of the mobile library.
//!
//! [`WindowsDevice::run`] reads its credential — the seed 001 `customizations.xml`
//! ([`Credential::Package`]) or the seed 002 Entra bulk token ([`Credential::EntraBulkToken`]) —
//! then goes discovery → policy → RSA key and PKCS #10 → enrollment → the provisioning document
//! checked against its key and the CA → the first OMA-DM session over mutual TLS, answering
//! Get/Replace/Exec from a [`DeviceTree`].
//!
//! The steps run on the core's step machine ([`enroll_core::agent::machine`]): the [`State`]
//! record is committed to a core [`SecureStore`] after every step ([`FileStore`] for a state
//! file, mode 0600: it holds the private key), each step is idempotent, and a run killed at any
//! point resumes from the last committed step without a second device record on the server
//! (the argument is in `steps.rs`). The Windows specifics stay here and in `enroll-wmdm`; the
//! core only lends its platform-free machine.

mod http;
mod omadm;
mod state;
mod steps;
mod tree;

pub use state::{FileStore, State, Step};
pub use tree::{DeviceTree, MemoryTree};

use enroll_core::agent::machine::{run_steps, StateRecord};
use enroll_core::platform::SecureStore;
use enroll_wmdm::customizations::Customizations;
use enroll_wmdm::mde2::{self, AuthPolicy};
use std::path::PathBuf;
use std::sync::Arc;

/// What can go wrong, by step.
#[derive(Debug, thiserror::Error)]
pub enum WsimError {
    /// The server refused a step (a SOAP fault, an HTTP error).
    #[error("{step}: {message}")]
    Refused {
        /// The step.
        step: &'static str,
        /// What the server said.
        message: String,
    },
    /// The network or TLS failed.
    #[error("{step}: transport: {message}")]
    Transport {
        /// The step.
        step: &'static str,
        /// The cause.
        message: String,
    },
    /// The device refused what the server sent.
    #[error("{step}: {message}")]
    Invalid {
        /// The step.
        step: &'static str,
        /// Why.
        message: String,
    },
    /// The state could not be read or written.
    #[error("state file: {0}")]
    State(String),
}

impl From<enroll_core::Error> for WsimError {
    fn from(e: enroll_core::Error) -> Self {
        WsimError::State(e.to_string())
    }
}

/// Key of the device mode's state record in its [`SecureStore`].
pub const STATE_KEY: &str = "enroll.windows.state.v1";

/// Result of this crate.
pub type Result<T> = std::result::Result<T, WsimError>;

fn invalid(step: &'static str, message: impl ToString) -> WsimError {
    WsimError::Invalid {
        step,
        message: message.to_string(),
    }
}

/// What the device enrolls with.
#[derive(Clone)]
pub enum Credential {
    /// Seed 001: the provisioning package's project file.
    Package(Customizations),
    /// Seed 002: the package's Entra bulk token (a device enrollment).
    EntraBulkToken {
        /// The bulk token (secret).
        token: String,
        /// The package user (`package_<guid>@<domain>`).
        package_upn: String,
        /// The MDM discovery URL.
        discovery_url: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Package(c) => f.debug_tuple("Package").field(&c.enrollment).finish(),
            Self::EntraBulkToken { package_upn, .. } => f
                .debug_struct("EntraBulkToken")
                .field("package_upn", package_upn)
                .finish_non_exhaustive(),
        }
    }
}

/// The simulated PC.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// `DeviceID` (Windows' MDM device id).
    pub device_id: String,
    /// `./DevInfo/Man`.
    pub manufacturer: String,
    /// `./DevInfo/Mod`.
    pub model: String,
    /// `./DevDetail/SwV`.
    pub os_version: String,
    /// Computer name.
    pub device_name: String,
}

impl DeviceInfo {
    /// A PC with a random device id.
    pub fn random() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
        Self {
            device_name: format!("PC-{}", &id[..8]),
            device_id: id,
            manufacturer: "Contoso Computers".into(),
            model: "Surface-like 9".into(),
            os_version: "10.0.22631.4460".into(),
        }
    }
}

/// Settings of a device run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Roots the device trusts for the server's TLS (DER).
    pub trust: Vec<Vec<u8>>,
    /// Where the state is saved after each step, as a [`FileStore`] (none: memory only, unless
    /// [`WindowsDevice::with_store`] gives a store).
    pub state_file: Option<PathBuf>,
    /// How many OMA-DM sessions to run after enrollment (1 = the first session only).
    pub sessions: u32,
}

/// Progress of a run, for demos.
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A simulated Windows PC.
pub struct WindowsDevice<T: DeviceTree> {
    /// The PC.
    pub info: DeviceInfo,
    /// Its credential.
    pub credential: Credential,
    /// Its settings.
    pub config: Config,
    /// Its OMA-DM tree.
    pub tree: T,
    /// Every OMA-DM message the server sent, as received.
    pub transcript: Vec<String>,
    record: StateRecord<State>,
}

impl<T: DeviceTree> WindowsDevice<T> {
    /// A device, resuming from `config.state_file` when it exists (in memory without one).
    pub fn new(info: DeviceInfo, credential: Credential, config: Config, tree: T) -> Result<Self> {
        let store: Arc<dyn SecureStore> = match &config.state_file {
            Some(p) => Arc::new(FileStore::new(p)),
            None => enroll_core::fakes::MemoryStore::new(),
        };
        Self::with_store(info, credential, config, tree, store)
    }

    /// A device whose state record lives in `store` (under [`STATE_KEY`]), resuming from it.
    pub fn with_store(
        info: DeviceInfo,
        credential: Credential,
        config: Config,
        tree: T,
        store: Arc<dyn SecureStore>,
    ) -> Result<Self> {
        let record = StateRecord::open(store, STATE_KEY)?;
        Ok(Self {
            info,
            credential,
            config,
            tree,
            transcript: Vec::new(),
            record,
        })
    }

    /// Where the device stands (the last committed state).
    pub fn state(&self) -> &State {
        self.record.current()
    }

    /// Forgets the saved state (a reinstalled PC): the next run starts at discovery.
    pub fn reset(&mut self) -> Result<()> {
        Ok(self.record.clear()?)
    }

    /// Runs every step not committed yet, then OMA-DM sessions up to `config.sessions`;
    /// `progress` gets one line per committed step.
    pub async fn run(&mut self, progress: Progress<'_>) -> Result<()> {
        let client = http::client(&self.config.trust, None)?;
        let mut machine = steps::Enroller {
            info: &self.info,
            credential: &self.credential,
            trust: &self.config.trust,
            tree: &mut self.tree,
            transcript: &mut self.transcript,
            client,
        };
        run_steps(&mut machine, &mut self.record, |s| progress(&describe(s))).await?;
        while self.record.current().sessions_done < self.config.sessions {
            self.session().await?;
            progress(&describe(self.record.current()));
        }
        Ok(())
    }

    /// One more OMA-DM session of an enrolled device (committed when it ends); the number of
    /// server commands answered.
    pub async fn session(&mut self) -> Result<usize> {
        let mut next = self.record.current().clone();
        if next.step < Step::Provisioned {
            return Err(invalid("oma-dm", "the device is not enrolled yet: run it first"));
        }
        let n = omadm::session(
            &self.info,
            &self.config.trust,
            &mut self.tree,
            &mut self.transcript,
            &next,
        )
        .await?;
        next.sessions_done += 1;
        next.last_session_commands = u32::try_from(n).unwrap_or(u32::MAX);
        next.step = Step::Managed;
        self.record.commit(next)?;
        Ok(n)
    }
}

/// The progress line of a committed state; it starts with the step's name in the user's terms
/// (`discovery`, `entra token`, `policy`, `key and CSR`, `enrollment`, `provisioning document`,
/// `OMA-DM session N`).
pub fn describe(s: &State) -> String {
    let host = |u: &Option<String>| {
        u.as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "?".into())
    };
    match s.step {
        Step::Start => "not started".into(),
        Step::Discovered => format!(
            "discovery: {} authentication, policy and enrollment services on {}",
            s.auth_policy.as_deref().unwrap_or("?"),
            host(&s.enrollment_url)
        ),
        Step::TokenRedeemed => format!(
            "entra token: redeemed, Entra device object {}",
            s.entra_device_id.as_deref().unwrap_or("?")
        ),
        Step::PolicyRead => format!(
            "policy: RSA >= {} bits, hash {} (SHA-256)",
            s.min_key_bits,
            mde2::OID_SHA256
        ),
        Step::KeyReady => format!(
            "key and CSR: RSA key of at least {} bits, PKCS #10 request signed with SHA-256",
            s.min_key_bits.max(2048)
        ),
        Step::Enrolled => format!(
            "enrollment: certificate issued, provisioning document received ({} bytes)",
            s.provisioning_doc.as_deref().map_or(0, str::len)
        ),
        Step::Provisioned => format!(
            "provisioning document: the client certificate matches this key, is signed by the CA sent, goes to My/{}; management at {}",
            s.cert_store.as_deref().unwrap_or("?"),
            s.management_url.as_deref().unwrap_or("?")
        ),
        Step::Managed => format!(
            "OMA-DM session {}: {} server command(s) answered",
            s.sessions_done, s.last_session_commands
        ),
    }
}

fn msg_id() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

/// The auth policy the state records, parsed.
pub fn auth_policy(state: &State) -> Option<AuthPolicy> {
    state.auth_policy.as_deref().and_then(AuthPolicy::parse)
}
