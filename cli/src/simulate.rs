//! `enroll simulate`: enrolls N simulated devices at once, the way iOS and macOS enroll, against
//! an MDM server — from an enrollment profile file (NanoMDM + micromdm/scep, or any server) or
//! from the enrollment server through the agent's protocol (`--server` + `--token`: each device
//! enrolls and fetches its own profile, then does SCEP and MDM against the URLs in it).
//!
//! With neither `--profile` nor `--server`, the devices enroll into an embedded reference server
//! on loopback ([`Embedded`], also used by `enroll demo --platform apple`).
//!
//! Progress goes to stderr; the summary (active, failed by kind, enrollments/s, p50/p99 per
//! step) to stdout, as text or with `--json` as one document. The devices come from
//! `enroll-sim`; they exist only for the run.

use crate::out::Out;
use anyhow::{bail, Context as _};
use clap::Args;
use enroll_core::client::{ClientConfig, ProtocolClient};
use enroll_core::platform::SystemClock;
use enroll_core::secret::SecretString;
use enroll_core::tls::TrustConfig;
use enroll_proto::CredentialWire;
use enroll_sim::fleet::Progress;
use enroll_sim::server::ServerProfiles;
use enroll_sim::{
    enroll_fleet, ApplePlatform, FixedProfile, FleetConfig, FleetReport, HttpConfig, ProfileSource, Transport,
};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The device platform to simulate.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SimPlatform {
    /// Apple devices: SCEP + MDM check-in + command channel.
    Apple,
    /// Windows PCs: MS-MDE2 discovery, policy, enrollment, then OMA-DM (needs --package).
    Windows,
}

/// Which Apple OS the simulated devices report.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AppleOs {
    /// iPhones.
    Ios,
    /// Macs.
    Macos,
}

/// `enroll simulate` options.
#[derive(Args)]
pub struct SimulateArgs {
    /// Platform of the simulated devices.
    #[arg(long, value_enum, default_value = "apple")]
    platform: SimPlatform,
    /// Apple OS the devices report.
    #[arg(long, value_enum, default_value = "ios")]
    os: AppleOs,
    /// Devices to enroll.
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Enrollments in flight at most.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Enrollment profile (`.mobileconfig`, XML or binary plist, signed or not) all devices use.
    #[arg(long, conflicts_with_all = ["server", "token"])]
    profile: Option<PathBuf>,
    /// Windows: the seed 001 customizations.xml (`enroll server windows package`) every PC uses.
    #[arg(long, conflicts_with_all = ["profile", "server", "token"])]
    package: Option<PathBuf>,
    /// Enrollment server base URL: each device enrolls through the agent protocol for its profile.
    #[arg(long, requires = "token")]
    server: Option<String>,
    /// Enrollment token for `--server` (a bulk token enrolls many devices).
    #[arg(long, env = "ENROLL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate (PEM or DER) trusted for TLS, and for the signature of signed profiles.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Allow plain http to loopback servers (NanoMDM and scepserver in tests).
    #[arg(long)]
    insecure_loopback_http: bool,
}

/// An embedded reference server on loopback (TLS, a temporary data directory) with a user and
/// an enrollment token, and the profile source enrolling through it.
pub(crate) struct Embedded {
    /// The server.
    pub server: enroll_server::RunningServer,
    /// Trust in its CA.
    pub trust: TrustConfig,
    /// Profiles through the agent's protocol with the token.
    pub source: Arc<ServerProfiles>,
    /// Its admin API.
    pub admin: crate::admin::AdminClient,
    _dir: Option<tempfile::TempDir>,
}

impl Embedded {
    /// Starts it (data in `dir`, or a temporary directory removed on drop).
    pub(crate) async fn start(dir: Option<PathBuf>, platform: ApplePlatform) -> anyhow::Result<Self> {
        let (tmp, path) = match dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir()?;
                let p = t.path().join("server");
                (Some(t), p)
            }
        };
        let mut config = enroll_server::ServerConfig::new(&path);
        config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let server = enroll_server::start(config).await?;
        let trust = TrustConfig::with_ca(server.ca_cert_pem().as_bytes())?;
        let admin = crate::admin::AdminClient::new(
            &server.base_url(),
            trust.clone(),
            server.admin_token().clone(),
            false,
        )?;
        let email = "simulated.devices@example.com";
        admin
            .create_user(&enroll_proto::CreateUserRequest {
                email: email.into(),
                display_name: "Simulated devices".into(),
                password: None,
                directory: false,
            })
            .await?;
        let token = admin
            .create_token(&enroll_proto::CreateTokenRequest {
                user: email.into(),
                days: None,
                never_expires: true,
            })
            .await?;
        let client = ProtocolClient::new(
            &server.base_url(),
            ClientConfig {
                trust: trust.clone(),
                ..ClientConfig::default()
            },
            Arc::new(SystemClock),
        )?;
        let source = Arc::new(ServerProfiles::new(
            client,
            CredentialWire::Token { token: token.token },
            platform,
        ));
        Ok(Self {
            server,
            trust,
            source,
            admin,
            _dir: tmp,
        })
    }
}

/// Runs the simulation and prints its summary.
pub async fn run(args: &SimulateArgs, out: &Out) -> anyhow::Result<()> {
    if args.devices == 0 || args.concurrency == 0 {
        bail!("--devices and --concurrency must be at least 1");
    }
    if let SimPlatform::Windows = args.platform {
        let Some(package) = &args.package else {
            bail!("--platform windows needs --package customizations.xml (from `enroll server windows package`)");
        };
        return crate::windows::simulate(package, args.ca.as_deref(), args.devices, args.concurrency, out)
            .await;
    }
    if args.package.is_some() {
        bail!("--package is for --platform windows");
    }
    let trust = match &args.ca {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            TrustConfig::with_ca(&bytes).context("the --ca file holds no certificate")?
        }
        None => TrustConfig::default(),
    };
    let platform = match args.os {
        AppleOs::Ios => ApplePlatform::Ios,
        AppleOs::Macos => ApplePlatform::Macos,
    };
    let mut embedded = None;
    let source: Arc<dyn ProfileSource> = match (&args.profile, &args.server, &args.token) {
        (None, None, _) => {
            let e = Embedded::start(None, platform).await?;
            out.step(format!(
                "embedded reference server at {} (CA SHA-256 {})",
                e.server.base_url(),
                e.server.ca_fingerprint()
            ));
            let source = e.source.clone();
            embedded = Some(e);
            source
        }
        (Some(path), _, _) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            // Fail early on a profile no device could use, or URLs it may not use.
            let parsed = enroll_sim::EnrollmentProfile::parse(&bytes, &trust.ca_certificates)?;
            for url in [&parsed.scep.url, &parsed.mdm.server_url, &parsed.mdm.checkin_url] {
                enroll_core::client::validate_base_url(url, args.insecure_loopback_http).with_context(|| {
                    format!("the profile's URL {url} (plain http needs --insecure-loopback-http and a loopback host)")
                })?;
            }
            Arc::new(FixedProfile(bytes))
        }
        (None, Some(server), Some(token)) => {
            let mut server_trust = trust.clone();
            server_trust.public_roots = server_trust.ca_certificates.is_empty();
            let config = ClientConfig {
                trust: server_trust,
                allow_insecure_loopback_http: args.insecure_loopback_http,
                ..ClientConfig::default()
            };
            let client = ProtocolClient::new(server, config, Arc::new(SystemClock))?;
            let credential = CredentialWire::Token {
                token: SecretString::new(token.clone()),
            };
            Arc::new(ServerProfiles::new(client, credential, platform))
        }
        _ => bail!("give --profile FILE, or --server URL with --token, or neither (embedded server)"),
    };
    let trust = match &embedded {
        Some(e) => e.trust.clone(),
        None => trust,
    };
    let transport = Transport::new(HttpConfig {
        trust: trust.clone(),
        allow_insecure_loopback_http: args.insecure_loopback_http,
        ..HttpConfig::default()
    });
    let config = FleetConfig {
        devices: args.devices,
        concurrency: args.concurrency,
        platform,
        trusted_profile_cas: trust.ca_certificates.clone(),
    };
    out.step(format!(
        "simulating {} Apple device(s), {} at a time",
        args.devices,
        args.concurrency.min(args.devices)
    ));
    let bar = Arc::new(Bar::new(out.json));
    let progress = bar.clone();
    let (report, _devices) = enroll_fleet(
        &config,
        transport,
        source,
        Arc::new(move |p: Progress| progress.update(p)),
    )
    .await;
    bar.finish();
    if let Some(e) = embedded {
        e.server.shutdown().await;
    }
    out.result(
        summary(&report),
        serde_json::to_value(&report).context("the summary cannot be written as JSON")?,
    );
    if report.active == 0 {
        bail!("no device enrolled");
    }
    Ok(())
}

/// The progress bar on stderr (one line redrawn on a terminal, a line every second otherwise;
/// JSON lines with `--json`).
struct Bar {
    started: Instant,
    last: Mutex<Option<Instant>>,
    tty: bool,
    json: bool,
}

impl Bar {
    fn new(json: bool) -> Self {
        Self {
            started: Instant::now(),
            last: Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
            json,
        }
    }

    fn update(&self, p: Progress) {
        let finished = p.done + p.failed == p.total;
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        let due = self
            .last
            .lock()
            .map(|mut last| {
                let due = finished || last.is_none_or(|t| t.elapsed() >= every);
                if due {
                    *last = Some(Instant::now());
                }
                due
            })
            .unwrap_or(false);
        if !due {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64();
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({"progress": {"enrolled": p.done, "failed": p.failed, "total": p.total}})
            );
            return;
        }
        let width = 30;
        let filled = (p.done + p.failed) * width / p.total.max(1);
        let text = format!(
            "  [{}{}] {}/{} enrolled, {} failed, {:.1}/s",
            "#".repeat(filled),
            "-".repeat(width - filled),
            p.done,
            p.total,
            p.failed,
            p.done as f64 / secs.max(1e-3)
        );
        if self.tty {
            eprint!("\r{text}   ");
        } else {
            eprintln!("{text}");
        }
    }

    fn finish(&self) {
        if self.tty && !self.json {
            eprintln!();
        }
    }
}

/// The human summary.
fn summary(r: &FleetReport) -> String {
    let mut text = format!(
        "devices: {}\nactive: {}\nfailed: {}\nelapsed: {:.2} s\nenrollments/s: {:.2}\n",
        r.devices,
        r.active,
        r.failed.values().sum::<usize>(),
        r.elapsed_secs,
        r.enrollments_per_sec
    );
    for (kind, n) in &r.failed {
        text.push_str(&format!("  failed {kind}: {n}\n"));
    }
    text.push_str(&format!(
        "{:<14} {:>10} {:>10} {:>10}\n",
        "step (ms)", "p50", "p99", "max"
    ));
    for (step, s) in &r.steps {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        text.push_str(&format!(
            "{step:<14} {:>10.1} {:>10.1} {:>10.1}\n",
            ms(s.p50),
            ms(s.p99),
            ms(s.max)
        ));
    }
    text.trim_end().to_owned()
}
