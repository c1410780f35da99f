//! # enroll-server
//!
//! Reference enrollment server for the `enroll` agent: users (local or directory), invitations
//! with one-time PINs, enrollment tokens, idempotent enrollment, signed `.mobileconfig`
//! profiles, a device registry with Android 10+ archiving, check-ins and administrator actions
//! (retire, wipe, reset), bulk enrollment profiles with all-or-nothing CSV imports ([`bulk`]),
//! Samsung Knox Mobile Enrollment uploads and approvals, and enrollment QR codes ([`qr`]).
//!
//! The code is laid out by domain (`server/README.md` maps the seeds' rules to files):
//! `enrollment/`, `devices/`, `users/`, [`bulk`], `kme/`, each with its rules, store queries
//! and routes, over shared layers ([`store`], [`pki`], [`http`], [`error`], [`clock`],
//! [`crypto`], [`qr`], [`directory`]). Dependencies between domains go one way: enrollment →
//! users, devices, bulk; kme → bulk; bulk → users; devices → users (`tests/layout.rs`).
//!
//! The wire protocol is [`enroll_proto`]; `docs/protocol.md` and `docs/openapi.json`
//! describe it for other implementers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), enroll_server::ServerError> {
//! let mut config = enroll_server::ServerConfig::new("/var/lib/enroll");
//! config.bind = "127.0.0.1:0".parse().expect("address");
//! let server = enroll_server::start(config).await?;
//! println!("{} CA {}", server.base_url(), server.ca_fingerprint());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Storage is one SQLite file (`enroll.db`, WAL) in the data directory, next to the PKI files
//! (see [`pki`]), `admin-token` and `server-secret` (both mode 0600).
//!
//! The web pages sit on top of the domains: `portal/` (the self-service portal of seed 003:
//! `/go`, sign-in, the management profile, the in-app QR code) and `console/` (the admin
//! console), over the shared `web` layer (sessions, CSRF, forms, English and French, strict CSP).
//!
//! `apple/` serves the Apple MDM protocol the profile points to: SCEP at `/scep` (the device
//! identity, issued by the RSA SCEP CA of [`pki`]), check-in at `/mdm/checkin` and the command
//! channel at `/mdm/server`, with pushes behind [`push::Pusher`].

mod apple;
pub mod bulk;
pub mod clock;
mod common;
mod console;
pub mod crypto;
mod devices;
pub mod directory;
pub mod enrollment;
pub mod error;
pub mod http;
mod kme;
pub mod pki;
mod portal;
pub mod push;
pub mod qr;
mod ratelimit;
mod state;
pub mod store;
mod users;
mod web;
mod windows;

pub use clock::{ManualClock, ServerClock, SystemClock};
pub use directory::{Directory, DirectoryError, SqliteDirectory};
pub use error::ServerError;
pub use http::serve::{RunningServer, ServerStats};
pub use web::{is_apple_app_id, normalize_cert_sha256, AppLinks};

use enroll_proto::secret::SecretString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Default listening address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8443";

/// Server configuration. [`ServerConfig::new`] gives the defaults.
#[derive(Clone)]
pub struct ServerConfig {
    /// Directory holding the database, PKI, admin token and server secret.
    pub data_dir: PathBuf,
    /// Listening address (default `127.0.0.1:8443`; port 0 picks a free port).
    pub bind: SocketAddr,
    /// Extra host names (or IP addresses) for the TLS certificate, besides `localhost`,
    /// `127.0.0.1` and `::1`.
    pub hostnames: Vec<String>,
    /// How long an issued profile stays installable (`PayloadExpirationDate`), default 300 s.
    pub profile_validity: Duration,
    /// Wrong PINs before a PIN locks, default 5.
    pub pin_max_attempts: u32,
    /// Default PIN lifetime, default 24 h.
    pub pin_ttl: Duration,
    /// Serve plain HTTP (no TLS). Refused unless `bind` is a loopback address.
    pub insecure_http: bool,
    /// Time source (a [`ManualClock`] in tests).
    pub clock: Arc<dyn ServerClock>,
    /// Server name shown in `/info` and as the profile's organization.
    pub name: String,
    /// Public base URL put in profiles and invitations (e.g. `https://mdm.example.com`);
    /// default `https://<local address>`.
    pub public_url: Option<String>,
    /// Directory for "network credentials"; default the built-in [`SqliteDirectory`].
    pub directory: Option<Arc<dyn Directory>>,
    /// The device policy controller named in bulk profiles' Android provisioning QR codes.
    pub dpc: qr::DpcSettings,
    /// Wakes Apple devices when a command is queued; default [`push::NoPush`] (devices poll).
    pub pusher: Option<Arc<dyn push::Pusher>>,
    /// The phone apps `/go` opens (Android package, store pages, iOS universal link base).
    pub app_links: AppLinks,
    /// A DPC package (APK) to serve at [`qr::DPC_PACKAGE_PATH`] (at most
    /// [`MAX_DPC_PACKAGE_BYTES`]); its SHA-256 becomes the payloads' package checksum.
    pub dpc_package: Option<PathBuf>,
    /// SQLite reader connections beside the one writer, default 4. `0` keeps every request on
    /// the writer's connection and mutex (the mode before issue 13; the load benchmark's
    /// "before").
    pub store_readers: usize,
    /// Requests whose blocking work (SQLite, argon2, signing) may run at once, default
    /// [`DEFAULT_BLOCKING_LIMIT`]; the others wait, as tasks, for a turn (no thread each).
    /// `0` removes the bound (every request takes a blocking-pool thread at once, up to
    /// tokio's 512: the mode before issue 13, kept for the load benchmark's "before").
    pub blocking_limit: usize,
}

/// Default [`ServerConfig::blocking_limit`]: enough to keep the writer, the four readers and
/// the CPU busy, few enough that 10,000 clients at once do not mean 512 threads and their
/// stacks.
pub const DEFAULT_BLOCKING_LIMIT: usize = 16;

/// Largest DPC package the server serves (read into memory at start).
pub const MAX_DPC_PACKAGE_BYTES: u64 = 256 * 1024 * 1024;

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("hostnames", &self.hostnames)
            .field("profile_validity", &self.profile_validity)
            .field("pin_max_attempts", &self.pin_max_attempts)
            .field("pin_ttl", &self.pin_ttl)
            .field("insecure_http", &self.insecure_http)
            .field("name", &self.name)
            .field("public_url", &self.public_url)
            .field("custom_directory", &self.directory.is_some())
            .field("dpc", &self.dpc)
            .field("pusher", &self.pusher.as_ref().map_or("none", |p| p.name()))
            .field("app_links", &self.app_links)
            .field("dpc_package", &self.dpc_package)
            .field("store_readers", &self.store_readers)
            .field("blocking_limit", &self.blocking_limit)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Defaults, with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8443)),
            hostnames: Vec::new(),
            profile_validity: Duration::from_secs(300),
            pin_max_attempts: 5,
            pin_ttl: Duration::from_secs(24 * 3600),
            insecure_http: false,
            clock: Arc::new(SystemClock),
            name: "enroll".into(),
            public_url: None,
            directory: None,
            dpc: qr::DpcSettings::default(),
            pusher: None,
            app_links: AppLinks::default(),
            dpc_package: None,
            store_readers: 4,
            blocking_limit: DEFAULT_BLOCKING_LIMIT,
        }
    }

    fn validate(&self) -> Result<(), ServerError> {
        if self.insecure_http && !self.bind.ip().is_loopback() {
            return Err(ServerError::Config(
                "plain HTTP is only allowed on a loopback address".into(),
            ));
        }
        if self.profile_validity.as_secs() == 0 {
            return Err(ServerError::Config(
                "profile_validity must be at least one second".into(),
            ));
        }
        if self.pin_max_attempts == 0 {
            return Err(ServerError::Config("pin_max_attempts must be at least 1".into()));
        }
        if self.pin_ttl.as_secs() == 0 {
            return Err(ServerError::Config("pin_ttl must be at least one second".into()));
        }
        if !self.dpc.component.contains('/') {
            return Err(ServerError::Config("dpc.component must be package/class".into()));
        }
        if let Some(u) = &self.dpc.download_url {
            let parsed = url::Url::parse(u)
                .map_err(|_| ServerError::Config("dpc.download_url is not a URL".into()))?;
            if parsed.scheme() != "https" {
                return Err(ServerError::Config(
                    "dpc.download_url must be an https:// URL (Android downloads the DPC over https only)"
                        .into(),
                ));
            }
        }
        if !is_checksum(&self.dpc.signature_checksum) {
            return Err(ServerError::Config(
                "dpc.signature_checksum must be the URL-safe base64 of a SHA-256 digest (43 characters)"
                    .into(),
            ));
        }
        let pkg = &self.app_links.android_package;
        if pkg.is_empty()
            || pkg.len() > 255
            || !pkg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        {
            return Err(ServerError::Config(
                "app_links.android_package must be an Android package name (letters, digits, . and _)".into(),
            ));
        }
        if let Some(id) = &self.app_links.apple_app_id {
            if !web::is_apple_app_id(id) {
                return Err(ServerError::Config(
                    "app_links.apple_app_id must be TEAMID.bundle.id (a 10-character team id, a dot, the bundle id)"
                        .into(),
                ));
            }
        }
        if let Some(fp) = &self.app_links.android_cert_sha256 {
            if web::normalize_cert_sha256(fp).as_deref() != Some(fp.as_str()) {
                return Err(ServerError::Config(
                    "app_links.android_cert_sha256 must be the SHA-256 of the app's signing certificate as AB:CD:…                      (32 upper-case hex pairs)"
                        .into(),
                ));
            }
        }
        let links = [
            ("app_links.play_store_url", Some(&self.app_links.play_store_url)),
            ("app_links.app_store_url", Some(&self.app_links.app_store_url)),
            (
                "app_links.universal_link_base",
                self.app_links.universal_link_base.as_ref(),
            ),
        ];
        for (name, link) in links {
            if let Some(link) = link {
                let ok = url::Url::parse(link).is_ok_and(|u| u.scheme() == "https" && u.host().is_some());
                if !ok {
                    return Err(ServerError::Config(format!("{name} must be an https URL")));
                }
            }
        }
        if let Some(u) = &self.public_url {
            let parsed =
                url::Url::parse(u).map_err(|_| ServerError::Config("public_url is not a URL".into()))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(ServerError::Config("public_url must be http(s)".into()));
            }
        }
        Ok(())
    }
}

/// Whether `s` is URL-safe base64 of 32 bytes (a padding `=` allowed).
fn is_checksum(s: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .is_ok_and(|b| b.len() == 32)
}

/// Reads the DPC package at `path` (bounded) and its URL-safe base64 SHA-256.
fn load_dpc_package(path: &Path) -> Result<(Arc<[u8]>, String), ServerError> {
    use base64::Engine as _;
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| {
        ServerError::Config(format!("the DPC package {} cannot be read: {e}", path.display()))
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_DPC_PACKAGE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_DPC_PACKAGE_BYTES || bytes.is_empty() {
        return Err(ServerError::Config(format!(
            "the DPC package {} must hold 1 byte to {} MiB",
            path.display(),
            MAX_DPC_PACKAGE_BYTES / (1024 * 1024)
        )));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let sum = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    Ok((Arc::from(bytes), sum))
}

/// Starts the server: binds, loads or creates the data directory, serves until
/// [`RunningServer::shutdown`].
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    config.validate()?;
    http::serve::start(config).await
}

/// The application without a listener: the router and its state. Tests drive
/// [`App::router`] with `tower::ServiceExt::oneshot`; [`start`] serves it over TLS.
#[derive(Clone)]
pub struct App {
    core: Arc<state::Shared>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("base_url", &self.core.base_url)
            .finish_non_exhaustive()
    }
}

/// Every domain's routes. Order does not matter: the router groups them by path.
fn routes() -> Vec<http::Route> {
    let mut all = enrollment::table();
    all.extend(users::table());
    all.extend(devices::table());
    all.extend(bulk::table());
    all.extend(kme::table());
    all.extend(apple::table());
    all.extend(windows::table());
    all.extend(portal::table());
    all
}

/// The web pages (portal, console, their assets and the language switch): served by the same
/// router, not part of the API (`docs/openapi.json` does not list them).
fn pages() -> Vec<http::Route> {
    use axum::routing::get;
    let mut all = vec![
        http::Route::new("GET", "/assets/app.css", get(web::app_css)),
        http::Route::new("GET", "/assets/app.js", get(web::app_js)),
        http::Route::new("GET", "/lang/en", get(web::lang_en)),
        http::Route::new("GET", "/lang/fr", get(web::lang_fr)),
    ];
    all.extend(portal::pages());
    all.extend(console::pages());
    all
}

/// Every route the server answers, as (HTTP method, path template). The router is built from
/// the same list and `docs/openapi.json` must list exactly the same pairs (a test checks both).
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes().into_iter().map(|r| (r.method, r.path)).collect()
}

/// Reads the file, or creates it with `make()` (mode 0600).
fn load_or_create_secret(
    path: &Path,
    make: impl FnOnce() -> Result<Vec<u8>, ServerError>,
) -> Result<Vec<u8>, ServerError> {
    if path.exists() {
        return Ok(std::fs::read(path)?);
    }
    let value = make()?;
    crypto::write_private(path, &value)?;
    Ok(value)
}

impl App {
    /// Opens the data directory of `config` (creating what is missing) with `base_url` as the
    /// server's public URL (no trailing slash).
    pub fn open(config: &ServerConfig, base_url: &str) -> Result<Self, ServerError> {
        config.validate()?;
        let dir = &config.data_dir;
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            // A directory we create is private; an existing one keeps the mode it was given.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let pki = pki::Pki::load_or_create(dir, &config.hostnames)?;
        let admin = load_or_create_secret(&dir.join("admin-token"), || {
            Ok(format!("adm_{}", crypto::random_b64(32)?).into_bytes())
        })?;
        let admin =
            String::from_utf8(admin).map_err(|_| ServerError::Config("admin-token is not UTF-8".into()))?;
        let admin = admin.trim().to_string();
        if admin.len() < 16 {
            return Err(ServerError::Config(
                "admin-token is too short (16 characters at least)".into(),
            ));
        }
        let secret = load_or_create_secret(&dir.join("server-secret"), || Ok(crypto::random_bytes(32)?))?;
        if secret.len() != 32 {
            return Err(ServerError::Config(
                "server-secret must hold exactly 32 bytes".into(),
            ));
        }
        let upload_dir = dir.join("uploads");
        if !upload_dir.exists() {
            std::fs::create_dir_all(&upload_dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&upload_dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        // Uploads left by a crash mid-import are never resumed: remove them.
        for entry in std::fs::read_dir(&upload_dir)?.flatten() {
            if entry.path().extension().is_some_and(|e| e == "csv") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let db_path = dir.join("enroll.db");
        let store = store::Store::open(&db_path)?;
        let topic = match store::meta_get(store.conn(), "apns_topic")? {
            Some(t) => t,
            None => {
                let t = format!("com.apple.mgmt.External.{}", uuid::Uuid::new_v4());
                store::meta_set(store.conn(), "apns_topic", &t)?;
                t
            }
        };
        let directory: Arc<dyn Directory> = match &config.directory {
            Some(d) => d.clone(),
            None => Arc::new(SqliteDirectory::open(&db_path)?),
        };
        let base_url = config
            .public_url
            .as_deref()
            .unwrap_or(base_url)
            .trim_end_matches('/')
            .to_string();
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let mut dpc = config.dpc.clone();
        let dpc_package = match &config.dpc_package {
            Some(path) => {
                let (bytes, sum) = load_dpc_package(path)?;
                dpc.package_checksum = Some(sum);
                Some(bytes)
            }
            None => None,
        };
        let core = state::Shared {
            store: store::Pool::new(store, &db_path, config.store_readers)?,
            directory,
            pki,
            secret,
            admin_token: SecretString::new(admin),
            clock: config.clock.clone(),
            base_url,
            name: config.name.clone(),
            profile_validity: secs(config.profile_validity),
            pin_max_attempts: config.pin_max_attempts,
            pin_ttl: secs(config.pin_ttl),
            topic,
            dpc,
            dpc_package,
            upload_dir,
            rate_limits: ratelimit::RateLimiter::default(),
            pusher: config.pusher.clone().unwrap_or_else(|| Arc::new(push::NoPush)),
            web: web::Sessions::default(),
            app_links: config.app_links.clone(),
            blocking: (config.blocking_limit > 0)
                .then(|| Arc::new(tokio::sync::Semaphore::new(config.blocking_limit))),
        };
        Ok(Self { core: Arc::new(core) })
    }

    /// The HTTP router (every route of [`route_table`], JSON fallbacks, protocol header).
    pub fn router(&self) -> axum::Router {
        let mut all = routes();
        all.extend(pages());
        http::router(self.core.clone(), all)
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &SecretString {
        &self.core.admin_token
    }

    /// The PKI (CA, TLS identity, profile signer).
    pub fn pki(&self) -> &pki::Pki {
        &self.core.pki
    }

    /// Public base URL used in profiles and invitations.
    pub fn base_url(&self) -> &str {
        &self.core.base_url
    }

    /// The APNs topic put in profiles (stable per server).
    pub fn topic(&self) -> &str {
        &self.core.topic
    }
}
