//! Pushes that wake an Apple device so it checks in (`Idle`) at once, behind [`Pusher`].
//!
//! - [`NoPush`] (the default): nothing is sent; devices find their commands when they poll.
//!   APNs cannot be reached from the test machines of this project.
//! - [`ApnsPusher`]: Apple's provider API over HTTP/2 (`POST /3/device/<token hex>`, body
//!   `{"mdm":"<PushMagic>"}`, headers `apns-topic`, `apns-push-type: mdm`,
//!   `apns-priority: 10`), authenticated by the MDM push certificate (TLS client
//!   certificate, its topic `com.apple.mgmt.External.<uuid>`). Rejections come back as
//!   [`PushError::Rejected`] with APNs' `reason` parsed ([`ApnsReason`]).
//!
//! Shared layer: knows no domain. The Apple domain calls it after an administrator queues a
//! command.

use enroll_proto::secret::SecretString;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Apple's production endpoint.
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
/// Apple's development endpoint.
pub const APNS_DEVELOPMENT: &str = "https://api.sandbox.push.apple.com";
/// Largest APNs error body read.
const MAX_REPLY: usize = 4096;

/// Where a push goes.
#[derive(Clone)]
pub struct PushTarget {
    /// The device token from `TokenUpdate`.
    pub token: Vec<u8>,
    /// The `PushMagic` from `TokenUpdate` (secret).
    pub push_magic: SecretString,
    /// The MDM topic.
    pub topic: String,
}

impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTarget")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// APNs' `reason` of a refused push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApnsReason {
    /// The token is not valid (400 `BadDeviceToken`).
    BadDeviceToken,
    /// The token is no longer active for the topic (410 `Unregistered`, with its timestamp).
    Unregistered {
        /// APNs' `timestamp`, milliseconds since the epoch.
        timestamp: Option<u64>,
    },
    /// The topic and token do not match (400 `DeviceTokenNotForTopic`).
    DeviceTokenNotForTopic,
    /// The topic is refused (400 `BadTopic` / `TopicDisallowed`).
    BadTopic,
    /// The client certificate is refused (403 `BadCertificate`, `BadCertificateEnvironment`,
    /// `Forbidden`).
    BadCertificate,
    /// Too many pushes for this token (429 `TooManyRequests`).
    TooManyRequests,
    /// APNs is failing (500 `InternalServerError`, 503 `ServiceUnavailable` / `Shutdown`).
    ServiceUnavailable,
    /// Another reason, as APNs wrote it.
    Other(String),
}

impl ApnsReason {
    fn parse(reason: &str, timestamp: Option<u64>) -> Self {
        match reason {
            "BadDeviceToken" => Self::BadDeviceToken,
            "Unregistered" | "ExpiredToken" => Self::Unregistered { timestamp },
            "DeviceTokenNotForTopic" => Self::DeviceTokenNotForTopic,
            "BadTopic" | "TopicDisallowed" | "MissingTopic" => Self::BadTopic,
            "BadCertificate" | "BadCertificateEnvironment" | "Forbidden" => Self::BadCertificate,
            "TooManyRequests" => Self::TooManyRequests,
            "InternalServerError" | "ServiceUnavailable" | "Shutdown" => Self::ServiceUnavailable,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// Whether sending again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::TooManyRequests | Self::ServiceUnavailable)
    }
}

/// A push that was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// APNs refused it.
    #[error("APNs refused the push ({status}): {reason:?}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Why.
        reason: ApnsReason,
    },
    /// APNs could not be reached, or answered something that is not APNs.
    #[error("APNs unreachable: {0}")]
    Transport(String),
    /// The provider's configuration is refused.
    #[error("APNs configuration: {0}")]
    Config(String),
}

/// The future a push returns.
pub type PushFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PushError>> + Send + 'a>>;

/// Something that wakes devices.
pub trait Pusher: Send + Sync {
    /// Sends one push.
    fn push<'a>(&'a self, target: &'a PushTarget) -> PushFuture<'a>;
    /// A short name for logs (`none`, `apns`).
    fn name(&self) -> &'static str;
}

/// The default: no pushes (devices poll).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPush;

impl Pusher for NoPush {
    fn push<'a>(&'a self, _target: &'a PushTarget) -> PushFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    fn name(&self) -> &'static str {
        "none"
    }
}

/// Settings of [`ApnsPusher`].
#[derive(Clone)]
pub struct ApnsConfig {
    /// [`APNS_PRODUCTION`], [`APNS_DEVELOPMENT`], or a test server.
    pub base_url: String,
    /// The MDM push certificate (PEM, with its chain).
    pub cert_pem: Vec<u8>,
    /// Its private key (PEM, PKCS#8 or PKCS#1).
    pub key_pem: SecretString,
    /// Roots trusted for the APNs server besides the public Web PKI ones (tests).
    pub extra_roots: Vec<Vec<u8>>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for ApnsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsConfig")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Apple's push provider API over HTTP/2 with a client certificate.
#[derive(Debug, Clone)]
pub struct ApnsPusher {
    client: reqwest::Client,
    base_url: String,
}

impl ApnsPusher {
    /// A provider with these settings (HTTP/2 only, TLS 1.2+, no redirects).
    pub fn new(config: &ApnsConfig) -> Result<Self, PushError> {
        let bad = |what: &str| PushError::Config(what.to_owned());
        let url = url::Url::parse(&config.base_url).map_err(|_| bad("base_url is not a URL"))?;
        if url.scheme() != "https" {
            return Err(bad("base_url must be https"));
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&config.cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|_| bad("the push certificate is not PEM"))?;
        if chain.is_empty() {
            return Err(bad("no certificate in the push certificate PEM"));
        }
        let key = PrivateKeyDer::from_pem_slice(config.key_pem.expose().as_bytes())
            .map_err(|_| bad("the push key is not a PEM private key"))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in &config.extra_roots {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|_| bad("an extra root is not a certificate"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PushError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|_| bad("the push certificate and key do not match"))?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .http2_prior_knowledge()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .build()
            .map_err(|e| PushError::Config(e.to_string()))?;
        Ok(Self {
            client,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
        })
    }

    async fn send(&self, target: &PushTarget) -> Result<(), PushError> {
        let url = format!("{}/3/device/{}", self.base_url, hex::encode(&target.token));
        let body = serde_json::json!({ "mdm": target.push_magic.expose() }).to_string();
        let reply = self
            .client
            .post(url)
            .header("apns-topic", &target.topic)
            .header("apns-push-type", "mdm")
            .header("apns-priority", "10")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| PushError::Transport(e.without_url().to_string()))?;
        let status = reply.status().as_u16();
        if status == 200 {
            return Ok(());
        }
        let mut bytes = Vec::new();
        let mut reply = reply;
        while let Some(chunk) = reply
            .chunk()
            .await
            .map_err(|e| PushError::Transport(e.without_url().to_string()))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_REPLY {
                return Err(PushError::Transport("APNs error body too large".into()));
            }
        }
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let reason = parsed.get("reason").and_then(|r| r.as_str()).unwrap_or("");
        let timestamp = parsed.get("timestamp").and_then(serde_json::Value::as_u64);
        Err(PushError::Rejected {
            status,
            reason: ApnsReason::parse(reason, timestamp),
        })
    }
}

impl Pusher for ApnsPusher {
    fn push<'a>(&'a self, target: &'a PushTarget) -> PushFuture<'a> {
        Box::pin(self.send(target))
    }

    fn name(&self) -> &'static str {
        "apns"
    }
}
