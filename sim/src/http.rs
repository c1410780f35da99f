//! HTTP for the simulator through core's protocol client (reqwest + rustls, core's TLS trust,
//! reply size limits, no redirects). One client per base URL (SCEP URL, ServerURL, CheckInURL),
//! shared by all devices of a fleet, so connections are pooled.
//!
//! Plain `http://` only to a loopback host and only with
//! [`HttpConfig::allow_insecure_loopback_http`] (NanoMDM and scepserver in tests).

use crate::error::{transport, Result, SimError, Step};
use enroll_core::client::{ClientConfig, Method, ProtocolClient, RawReply};
use enroll_core::platform::SystemClock;
use enroll_core::tls::TrustConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// HTTP settings of the simulator.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Trusted roots (with none configured, the public Web PKI roots).
    pub trust: TrustConfig,
    /// Allow `http://` to loopback hosts.
    pub allow_insecure_loopback_http: bool,
    /// Whole-request timeout.
    pub request_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            trust: TrustConfig::default(),
            allow_insecure_loopback_http: false,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The shared HTTP clients.
pub struct Transport {
    config: HttpConfig,
    clients: Mutex<HashMap<String, ProtocolClient>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Transport {
    /// Transport with these settings.
    pub fn new(config: HttpConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            clients: Mutex::new(HashMap::new()),
        })
    }

    fn client(&self, base: &str) -> Result<ProtocolClient> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| SimError::Config("transport lock poisoned".into()))?;
        if let Some(c) = clients.get(base) {
            return Ok(c.clone());
        }
        let mut trust = self.config.trust.clone();
        if trust.ca_certificates.is_empty() {
            trust.public_roots = true;
        }
        let config = ClientConfig {
            trust,
            allow_insecure_loopback_http: self.config.allow_insecure_loopback_http,
            request_timeout: self.config.request_timeout,
            ..ClientConfig::default()
        };
        let client = ProtocolClient::new(base, config, Arc::new(SystemClock))
            .map_err(|e| SimError::Config(format!("{base}: {e}")))?;
        clients.insert(base.to_owned(), client.clone());
        Ok(client)
    }

    /// One request to `url` (`query` is appended, already encoded). Replies of every status
    /// are returned; the body is limited to `max_reply`.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        step: Step,
        method: Method,
        url: &str,
        query: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        max_reply: usize,
    ) -> Result<RawReply> {
        let client = self.client(url)?;
        let path = match query {
            Some(q) => format!("?{q}"),
            None => String::new(),
        };
        client
            .raw_with_headers(method, &path, None, headers, body.map(Into::into), max_reply)
            .await
            .map_err(transport(step))
    }
}
