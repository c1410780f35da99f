//! The state every domain service works on, built once by [`crate::App::open`]: the store
//! (one writer behind a mutex, readers on a pool), the PKI, the directory, the clock, the server
//! secret and the settings.
//!
//! Domain services (`EnrollmentService`, `DeviceService`, `UserService`, `BulkService`,
//! `KmeService`) are small borrowing wrappers over one [`Shared`] made by [`domain_service!`]:
//! each holds `&Shared` and dereferences to it, so a rule reads `self.now()`, `self.lock()?` or
//! `self.base_url` whichever domain it belongs to. Nothing here knows a domain.

use crate::clock::ServerClock;
use crate::crypto;
use crate::directory::Directory;
use crate::error::ApiError;
use crate::pki::Pki;
use crate::store::{Pool, ReadConn, Store};
use enroll_proto::secret::SecretString;
use std::sync::{Arc, MutexGuard};

/// The server's state shared by all requests.
pub(crate) struct Shared {
    /// The database: one writer, readers on a pool.
    pub store: Pool,
    /// The directory checking "network credentials".
    pub directory: Arc<dyn Directory>,
    /// CA, TLS identity, profile signer.
    pub pki: Pki,
    /// The server secret (32 bytes) the derived secrets and bulk tokens come from.
    pub secret: Vec<u8>,
    /// The admin bearer token.
    pub admin_token: SecretString,
    /// Time source.
    pub clock: Arc<dyn ServerClock>,
    /// Public base URL (no trailing slash).
    pub base_url: String,
    /// Server name (`/info`, profile organization).
    pub name: String,
    /// Profile validity, seconds.
    pub profile_validity: i64,
    /// Wrong PINs before a PIN locks.
    pub pin_max_attempts: u32,
    /// Default PIN lifetime, seconds.
    pub pin_ttl: i64,
    /// APNs topic put in profiles.
    pub topic: String,
    /// The DPC named in provisioning payloads.
    pub dpc: crate::qr::DpcSettings,
    /// The DPC package served at `crate::qr::DPC_PACKAGE_PATH`, if one was given.
    pub dpc_package: Option<Arc<[u8]>>,
    /// Where CSV uploads are spooled before import.
    pub upload_dir: std::path::PathBuf,
    /// Failure counters of the credential routes (per source address and account).
    pub rate_limits: crate::ratelimit::RateLimiter,
    /// Wakes Apple devices after a command is queued ([`crate::push::NoPush`] by default).
    pub pusher: Arc<dyn crate::push::Pusher>,
    /// Sessions of the portal and the console.
    pub web: crate::web::Sessions,
    /// The phone apps' links offered by `/go`.
    pub app_links: crate::web::AppLinks,
    /// Turns for blocking work ([`crate::ServerConfig::blocking_limit`]); `None`: unbounded.
    pub blocking: Option<Arc<tokio::sync::Semaphore>>,
}

impl Shared {
    /// The current time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The store, locked (one writer at a time).
    pub fn lock(&self) -> Result<MutexGuard<'_, Store>, ApiError> {
        self.store
            .writer()
            .ok_or_else(|| ApiError::internal(&"store lock poisoned"))
    }

    /// A connection for reads only (a pooled reader; the writer when the pool has none). A
    /// rule that then writes checks again inside its write transaction.
    pub fn read(&self) -> Result<ReadConn<'_>, ApiError> {
        self.store
            .reader()
            .ok_or_else(|| ApiError::internal(&"store lock poisoned"))
    }

    /// Checks the admin bearer token in constant time.
    pub fn admin_ok(&self, bearer: Option<&str>) -> bool {
        bearer.is_some_and(|b| crypto::ct_eq_str(b, self.admin_token.expose()))
    }
}

/// Declares a domain service: a `Copy` wrapper over `&Shared` that dereferences to it.
macro_rules! domain_service {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy)]
        pub(crate) struct $name<'a>(pub(crate) &'a crate::state::Shared);

        impl std::ops::Deref for $name<'_> {
            type Target = crate::state::Shared;

            fn deref(&self) -> &Self::Target {
                self.0
            }
        }
    };
}
pub(crate) use domain_service;
