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
//! Get/Replace/Exec from a [`DeviceTree`]. After every step the [`State`] is saved (JSON, mode
//! 0600: it holds the private key), so a killed run resumes where it stopped and a finished step
//! is never done twice.

mod http;
mod state;
mod tree;

pub use state::{State, Step};
pub use tree::{DeviceTree, MemoryTree};

use enroll_mdm::cert::{build_csr, common_name, ParsedCertificate};
use enroll_mdm::key::{RsaBits, RsaPrivateKey};
use enroll_wmdm::customizations::Customizations;
use enroll_wmdm::mde2::{self, AuthPolicy, DiscoverRequest, DiscoverResponse, EnrollRequest, Policy};
use enroll_wmdm::provdoc::ParsedProvisioningDoc;
use enroll_wmdm::soap::{self, Envelope};
use enroll_wmdm::syncml::{self, Command, Item, Kind, Message, SyncHdr};
use std::path::PathBuf;
use std::time::SystemTime;

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
    /// The state file could not be read or written.
    #[error("state file: {0}")]
    State(String),
}

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
    /// Where the state is saved after each step (none: memory only).
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
    /// Where it stands.
    pub state: State,
    /// Every OMA-DM message the server sent, as received.
    pub transcript: Vec<String>,
}

impl<T: DeviceTree> WindowsDevice<T> {
    /// A device, resuming from `config.state_file` when it exists.
    pub fn new(info: DeviceInfo, credential: Credential, config: Config, tree: T) -> Result<Self> {
        let state = match &config.state_file {
            Some(p) if p.exists() => State::load(p)?,
            _ => State::default(),
        };
        Ok(Self {
            info,
            credential,
            config,
            tree,
            state,
            transcript: Vec::new(),
        })
    }

    fn save(&self) -> Result<()> {
        match &self.config.state_file {
            Some(p) => self.state.save(p),
            None => Ok(()),
        }
    }

    fn upn(&self) -> &str {
        match &self.credential {
            Credential::Package(c) => &c.enrollment.upn,
            Credential::EntraBulkToken { package_upn, .. } => package_upn,
        }
    }

    fn discovery_url(&self) -> Result<String> {
        let raw = match &self.credential {
            Credential::Package(c) => c.enrollment.discovery_url.clone(),
            Credential::EntraBulkToken { discovery_url, .. } => discovery_url.clone(),
        };
        let u = url::Url::parse(&raw)
            .map_err(|e| invalid("discovery", format!("DiscoveryServiceFullUrl: {e}")))?;
        if u.scheme() != "https" {
            return Err(invalid("discovery", "DiscoveryServiceFullUrl must be https"));
        }
        Ok(raw)
    }

    /// Runs every step not done yet, then the OMA-DM sessions.
    pub async fn run(&mut self, progress: Progress<'_>) -> Result<()> {
        let client = http::client(&self.config.trust, None)?;
        if self.state.step < Step::Discovered {
            self.discover(&client).await?;
            progress(&format!(
                "discovery: {} policy",
                self.state.auth_policy.as_deref().unwrap_or("?")
            ));
        }
        if self.state.step < Step::PolicyRead {
            self.policy(&client).await?;
            progress(&format!(
                "policy: RSA >= {} bits, hash {}",
                self.state.min_key_bits,
                mde2::OID_SHA256
            ));
        }
        if self.state.step < Step::Enrolled {
            self.enroll(&client).await?;
            progress(&format!(
                "enrollment: client certificate in My/{}, management at {}",
                self.state.cert_store.as_deref().unwrap_or("?"),
                self.state.management_url.as_deref().unwrap_or("?")
            ));
        }
        while self.state.sessions_done < self.config.sessions {
            let n = self.session().await?;
            progress(&format!(
                "OMA-DM session {}: {n} server command(s) answered",
                self.state.sessions_done
            ));
        }
        Ok(())
    }

    async fn discover(&mut self, client: &reqwest::Client) -> Result<()> {
        let step = "discovery";
        let base = self.discovery_url()?;
        let url = if base.trim_end_matches('/').ends_with(".svc") {
            base.clone()
        } else {
            format!("{}/EnrollmentServer/Discovery.svc", base.trim_end_matches('/'))
        };
        http::get_ok(client, &url, step).await?;
        let req = DiscoverRequest {
            email: self.upn().to_owned(),
            request_version: "4.0".into(),
            device_type: "CIMClient_Windows".into(),
            application_version: self.info.os_version.clone(),
            auth_policies: vec!["OnPremise".into(), "Federated".into()],
        };
        let text = http::post_soap(client, &url, req.to_xml(&msg_id(), &url), step).await?;
        let env = Envelope::parse(&text).map_err(|e| invalid(step, e))?;
        let rep = DiscoverResponse::read(&env).map_err(|e| invalid(step, e))?;
        let host = |u: &str| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        };
        if host(&rep.policy_url) != host(&url) || host(&rep.enrollment_url) != host(&url) {
            return Err(invalid(
                step,
                "the policy and enrollment services are not on the discovery host",
            ));
        }
        self.state.auth_policy = Some(rep.auth_policy.as_str().to_owned());
        self.state.policy_url = Some(rep.policy_url);
        self.state.enrollment_url = Some(rep.enrollment_url);
        self.state.authentication_url = rep.authentication_url;
        self.state.step = Step::Discovered;
        self.save()
    }

    async fn security(&mut self, client: &reqwest::Client) -> Result<String> {
        match (&self.credential, self.state.auth_policy.as_deref()) {
            (Credential::Package(c), Some("OnPremise")) => {
                Ok(soap::username_security(&c.enrollment.upn, &c.enrollment.secret))
            }
            (Credential::EntraBulkToken { token, .. }, Some("Federated")) => {
                if self.state.access_token.is_none() {
                    let url = self
                        .state
                        .authentication_url
                        .clone()
                        .ok_or_else(|| invalid("token", "discovery gave no authentication URL"))?;
                    let (access, device) =
                        http::redeem(client, &url, token, &self.info.device_id, &self.info.device_name)
                            .await?;
                    self.state.access_token = Some(access);
                    self.state.entra_device_id = Some(device);
                    self.save()?;
                }
                let t = self.state.access_token.clone().unwrap_or_default();
                Ok(soap::binary_security(mde2::VALUE_JWT, &t))
            }
            (_, p) => Err(invalid(
                "discovery",
                format!(
                    "the server asks for {} authentication, which this package does not carry",
                    p.unwrap_or("no")
                ),
            )),
        }
    }

    async fn policy(&mut self, client: &reqwest::Client) -> Result<()> {
        let step = "policy";
        let url = self
            .state
            .policy_url
            .clone()
            .ok_or_else(|| invalid(step, "no policy URL"))?;
        let sec = self.security(client).await?;
        let text = http::post_soap(
            client,
            &url,
            soap::request(
                mde2::ACTION_GET_POLICIES,
                &msg_id(),
                &url,
                &sec,
                &mde2::get_policies_body(),
            ),
            step,
        )
        .await?;
        let p = Policy::read(&Envelope::parse(&text).map_err(|e| invalid(step, e))?)
            .map_err(|e| invalid(step, e))?;
        if p.hash_oid != mde2::OID_SHA256 {
            return Err(invalid(step, "the policy's hash is not SHA-256"));
        }
        self.state.min_key_bits = p.min_key_bits;
        self.state.step = Step::PolicyRead;
        self.save()
    }

    async fn enroll(&mut self, client: &reqwest::Client) -> Result<()> {
        let step = "enrollment";
        let key = match &self.state.key_pkcs8 {
            Some(k) => RsaPrivateKey::from_pkcs8_der(&state::b64d(k)?).map_err(|e| invalid(step, e))?,
            None => {
                let bits = match self.state.min_key_bits {
                    0..=2048 => RsaBits::Rsa2048,
                    2049..=3072 => RsaBits::Rsa3072,
                    _ => RsaBits::Rsa4096,
                };
                let k = RsaPrivateKey::generate(bits).map_err(|e| invalid(step, e))?;
                self.state.key_pkcs8 = Some(state::b64e(&k.to_pkcs8_der().map_err(|e| invalid(step, e))?));
                self.save()?;
                k
            }
        };
        let subject = common_name(&self.info.device_id).map_err(|e| invalid(step, e))?;
        let csr = build_csr(&key, &subject, None).map_err(|e| invalid(step, e))?;
        let url = self
            .state
            .enrollment_url
            .clone()
            .ok_or_else(|| invalid(step, "no enrollment URL"))?;
        let sec = self.security(client).await?;
        let device_enrollment = matches!(self.credential, Credential::EntraBulkToken { .. });
        let req = EnrollRequest {
            csr_der: csr,
            context: vec![
                ("UXInitiated".into(), "false".into()),
                ("HWDevID".into(), self.info.device_id.clone()),
                ("Locale".into(), "en-US".into()),
                ("TargetedUserLoggedIn".into(), "false".into()),
                ("OSEdition".into(), "48".into()),
                ("DeviceName".into(), self.info.device_name.clone()),
                ("MAC".into(), "00-15-5D-00-00-01".into()),
                ("DeviceID".into(), self.info.device_id.clone()),
                (
                    "EnrollmentType".into(),
                    if device_enrollment { "Device" } else { "Full" }.into(),
                ),
                ("DeviceType".into(), "CIMClient_Windows".into()),
                ("OSVersion".into(), self.info.os_version.clone()),
                ("ApplicationVersion".into(), self.info.os_version.clone()),
            ],
        };
        let text = http::post_soap(client, &url, req.to_xml(&msg_id(), &url, &sec), step).await?;
        let doc = mde2::read_rstr(&Envelope::parse(&text).map_err(|e| invalid(step, e))?)
            .map_err(|e| invalid(step, e))?;
        let parsed = ParsedProvisioningDoc::parse(&doc).map_err(|e| invalid(step, e))?;
        let (store, _, cert) = parsed
            .mine
            .first()
            .cloned()
            .ok_or_else(|| invalid(step, "the provisioning document has no client certificate"))?;
        let expected = if device_enrollment { "System" } else { "User" };
        if store != expected {
            return Err(invalid(
                step,
                format!("the certificate goes to My/{store}, expected My/{expected}"),
            ));
        }
        let leaf = ParsedCertificate::from_der(&cert).map_err(|e| invalid(step, e))?;
        if leaf.public_key().map_err(|e| invalid(step, e))?.spki_der() != key.public_key_der() {
            return Err(invalid(
                step,
                "the issued certificate is not for this device's key",
            ));
        }
        let (_, ca) = parsed
            .roots
            .first()
            .cloned()
            .ok_or_else(|| invalid(step, "no CA certificate"))?;
        let ca_parsed = ParsedCertificate::from_der(&ca).map_err(|e| invalid(step, e))?;
        leaf.verify_signed_by(&ca_parsed)
            .map_err(|_| invalid(step, "the client certificate is not signed by the CA sent"))?;
        if !leaf.valid_at(SystemTime::now()) {
            return Err(invalid(step, "the client certificate is not valid now"));
        }
        let addr = parsed
            .application
            .get("ADDR")
            .cloned()
            .ok_or_else(|| invalid(step, "no management address (w7 ADDR)"))?;
        self.state.cert_der = Some(state::b64e(&cert));
        self.state.ca_der = Some(state::b64e(&ca));
        self.state.cert_store = Some(store);
        self.state.management_url = Some(addr);
        self.state.step = Step::Enrolled;
        self.save()
    }

    /// One OMA-DM session (client-initiated); the number of server commands answered.
    pub async fn session(&mut self) -> Result<usize> {
        let step = "oma-dm";
        let cert = state::b64d(
            self.state
                .cert_der
                .as_deref()
                .ok_or_else(|| invalid(step, "not enrolled"))?,
        )?;
        let key = state::b64d(
            self.state
                .key_pkcs8
                .as_deref()
                .ok_or_else(|| invalid(step, "no key"))?,
        )?;
        let url = self
            .state
            .management_url
            .clone()
            .ok_or_else(|| invalid(step, "no management URL"))?;
        let client = http::client(&self.config.trust, Some((cert, key)))?;
        let session_id = (self.state.sessions_done + 1).to_string();
        let hdr = |msg_id: u32| SyncHdr {
            session_id: session_id.clone(),
            msg_id,
            target: url.clone(),
            source: self.info.device_id.clone(),
        };
        let devinfo = [
            "./DevInfo/DevId",
            "./DevInfo/Man",
            "./DevInfo/Mod",
            "./DevInfo/DmV",
            "./DevInfo/Lang",
        ]
        .iter()
        .filter_map(|u| self.tree.get(u).map(|v| Item::source(u, &v)))
        .collect();
        let mut msg = Message {
            hdr: hdr(1),
            commands: vec![
                Command::alert(1, syncml::ALERT_CLIENT_INITIATED),
                Command::new(Kind::Replace, 2, devinfo),
            ],
            is_final: true,
        };
        let mut answered = 0;
        for n in 1..=32u32 {
            let text = http::post_syncml(&client, &url, msg.to_xml(), step).await?;
            self.transcript.push(text.clone());
            let reply = Message::parse(&text).map_err(|e| invalid(step, e))?;
            if reply.header_status().and_then(|s| s.data.as_deref()) != Some("200") {
                return Err(invalid(step, "the server did not accept the message header"));
            }
            let ops: Vec<Command> = reply.operations().cloned().collect();
            if ops.is_empty() {
                self.state.sessions_done += 1;
                self.save()?;
                return Ok(answered);
            }
            let mut out = vec![Command::status(1, reply.hdr.msg_id, 0, "SyncHdr", 200)];
            let mut id = 2;
            for c in ops {
                answered += 1;
                let uri = c.items.first().and_then(|i| i.target.clone()).unwrap_or_default();
                let data = c.items.first().and_then(|i| i.data.clone());
                let code = match c.kind {
                    Kind::Get => match self.tree.get(&uri) {
                        Some(v) => {
                            out.push(Command {
                                msg_ref: Some(reply.hdr.msg_id),
                                cmd_ref: Some(c.cmd_id),
                                ..Command::new(Kind::Results, id + 1, vec![Item::source(&uri, &v)])
                            });
                            200
                        }
                        None => 404,
                    },
                    Kind::Replace | Kind::Add => self.tree.replace(&uri, data.as_deref().unwrap_or("")),
                    Kind::Exec => self.tree.exec(&uri, data.as_deref()),
                    Kind::Delete => self.tree.delete(&uri),
                    _ => 406,
                };
                // The status goes before its Results.
                let at = out.len() - usize::from(c.kind == Kind::Get && code == 200);
                out.insert(
                    at,
                    Command::status(id, reply.hdr.msg_id, c.cmd_id, c.kind.as_str(), code),
                );
                id += 2;
            }
            msg = Message {
                hdr: hdr(n + 1),
                commands: out,
                is_final: true,
            };
        }
        Err(invalid(step, "the session did not end within 32 messages"))
    }
}

fn msg_id() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

/// The auth policy the state records, parsed.
pub fn auth_policy(state: &State) -> Option<AuthPolicy> {
    state.auth_policy.as_deref().and_then(AuthPolicy::parse)
}
