//! Protocol client: HTTPS to the enrollment server with limits, retries and skew detection.
//!
//! - reqwest + rustls (ring), no OpenSSL; redirects are never followed;
//! - https only; plain http only to a loopback host with
//!   [`ClientConfig::allow_insecure_loopback_http`] (development);
//! - connect and request timeouts, and a size limit on every reply (checked on
//!   `Content-Length` and again while streaming);
//! - bounded retries with exponential backoff and full jitter, on transient failures only
//!   (network errors, timeouts, 429/502/503/504). Every request the agent sends is idempotent
//!   (enrollments carry an idempotency key; confirm, cancel and ack are idempotent), so retrying
//!   after a lost reply is safe;
//! - clock skew measured from each reply's `Date` header against the device clock.

use crate::error::{Error, Result};
use crate::platform::Clock;
use crate::protocol::{self, ErrorBody, ErrorCode, ErrorInfo};
use crate::secret::SecretString;
use crate::tls::{self, TrustConfig};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
pub use reqwest::Body;
pub use reqwest::Method;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Retry policy for transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (at least 1).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
    /// Upper bound of one delay (also caps a server's `retry_after_secs`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (1-based): full jitter over an exponential ceiling.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=millis))
    }
}

/// Settings of the protocol client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Which servers are trusted.
    pub trust: TrustConfig,
    /// Allow `http://` to a loopback host (127.0.0.0/8, ::1, localhost). Development only.
    pub allow_insecure_loopback_http: bool,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Largest JSON reply accepted.
    pub max_json_bytes: usize,
    /// Largest profile accepted.
    pub max_profile_bytes: usize,
    /// Retry policy.
    pub retry: RetryPolicy,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            trust: TrustConfig::default(),
            allow_insecure_loopback_http: false,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_json_bytes: 256 * 1024,
            max_profile_bytes: 256 * 1024,
            retry: RetryPolicy::default(),
        }
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses and checks a server base URL (`https://host[:port][/prefix]`).
///
/// Query and fragment are dropped and a trailing `/` is removed, so API routes can be appended.
pub fn validate_base_url(text: &str, allow_insecure_loopback_http: bool) -> Result<Url> {
    if text.len() > 2048 {
        return Err(Error::InvalidUrl("longer than 2048 bytes".into()));
    }
    let mut url = crate::qr::payload::parse_url(text.trim()).map_err(|e| match e {
        // The library is built without Unicode IDNA tables (see core/Cargo.toml).
        url::ParseError::IdnaError => {
            Error::InvalidUrl("international host names must be given in their ASCII (xn--) form".into())
        }
        other => Error::InvalidUrl(other.to_string()),
    })?;
    if url.host().is_none() {
        return Err(Error::InvalidUrl("no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidUrl("credentials in the URL are not allowed".into()));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_loopback_http && is_loopback_host(&url) => {}
        "http" => return Err(Error::InsecureUrl(url.host_str().unwrap_or_default().to_owned())),
        other => return Err(Error::InvalidUrl(format!("unsupported scheme {other:?}"))),
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// What kind of body a call expects back.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Json,
    Profile,
}

/// A raw reply.
struct Reply {
    body: Vec<u8>,
    /// `enroll-profile-expires` of a profile reply (the earliest, if repeated).
    profile_expires: Option<i64>,
}

/// A profile as fetched: the signed bytes and the server's install window, if it sent one.
#[derive(Clone)]
pub struct FetchedProfile {
    /// The signed profile (CMS DER), not yet verified. Holds a one-time challenge: do not log.
    pub signed: Vec<u8>,
    /// The `enroll-profile-expires` header, Unix seconds in server time; `None` when absent
    /// (servers other than the reference server do not send it).
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for FetchedProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedProfile")
            .field("signed_len", &self.signed.len())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The `enroll-profile-expires` header: absent, or Unix seconds (the earliest if repeated).
/// A value that is not a number is a malformed reply (and is not echoed).
fn profile_expires(headers: &HeaderMap) -> Result<Option<i64>> {
    let mut earliest: Option<i64> = None;
    for value in headers.get_all(protocol::PROFILE_EXPIRES_HEADER) {
        let secs = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                Error::MalformedResponse(format!(
                    "the {} header is not a Unix time",
                    protocol::PROFILE_EXPIRES_HEADER
                ))
            })?;
        earliest = Some(earliest.map_or(secs, |e| e.min(secs)));
    }
    Ok(earliest)
}

/// A reply of [`ProtocolClient::raw`], whatever its status.
#[derive(Clone)]
pub struct RawReply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` (at most 100 characters).
    pub content_type: String,
    /// The body (at most the call's limit).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RawReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawReply")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl RawReply {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The reply as the typed error of a failed call (a protocol error body when there is one).
    pub fn to_error(&self) -> Error {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        server_error(status, &self.content_type, &self.body)
    }

    /// Decodes a JSON body (any status), without echoing it in errors.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        decode_json(&self.body)
    }
}

/// HTTPS client for the enrollment protocol. Cheap to clone.
#[derive(Clone)]
pub struct ProtocolClient {
    http: reqwest::Client,
    base: Url,
    config: Arc<ClientConfig>,
    clock: Arc<dyn Clock>,
    skew_ms: Arc<Mutex<Option<i64>>>,
}

impl std::fmt::Debug for ProtocolClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl ProtocolClient {
    /// Builds a client for the server at `base_url`.
    pub fn new(base_url: &str, config: ClientConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let base = validate_base_url(base_url, config.allow_insecure_loopback_http)?;
        let tls = tls::client_config(&config.trust)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(!config.allow_insecure_loopback_http)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("enroll-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Tls(tls::TlsError::Config(e.without_url().to_string())))?;
        Ok(Self {
            http,
            base,
            config: Arc::new(config),
            clock,
            skew_ms: Arc::new(Mutex::new(None)),
        })
    }

    /// The validated server base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Last measured clock skew: server time minus device time, milliseconds.
    pub fn skew_ms(&self) -> Option<i64> {
        self.skew_ms.lock().map(|g| *g).unwrap_or(None)
    }

    /// Device time corrected by the measured skew, Unix milliseconds.
    pub fn server_now_ms(&self) -> i64 {
        self.clock.now_ms().saturating_add(self.skew_ms().unwrap_or(0))
    }

    fn url(&self, path: &str) -> Url {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = self.base.clone();
        let joined = format!("{}{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url.set_query(query);
        url
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&SecretString>,
        idempotency_key: Option<&str>,
        body: Option<Vec<u8>>,
        expect: Expect,
    ) -> Result<Reply> {
        let attempts = self.config.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = self
                .call_once(
                    method.clone(),
                    path,
                    bearer,
                    idempotency_key,
                    body.clone(),
                    expect,
                )
                .await;
            match result {
                Err(err) if err.is_transient() && attempt < attempts => {
                    let mut delay = self.config.retry.delay(attempt);
                    if let Error::Server {
                        info:
                            ErrorInfo {
                                retry_after_secs: Some(secs),
                                ..
                            },
                        ..
                    } = &err
                    {
                        delay = Duration::from_secs(*secs).min(self.config.retry.max_delay);
                    }
                    tracing::debug!(%path, attempt, ?delay, error = %err, "transient failure, retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&SecretString>,
        idempotency_key: Option<&str>,
        body: Option<Vec<u8>>,
        expect: Expect,
    ) -> Result<Reply> {
        let headers = request_headers(bearer, idempotency_key.map(|k| (protocol::IDEMPOTENCY_HEADER, k)))?;
        let mut request = self.http.request(method, self.url(path)).headers(headers);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, protocol::JSON_CONTENT_TYPE)
                .body(body);
        }
        let sent_at = self.clock.now_ms();
        let response = request.send().await.map_err(classify_reqwest)?;
        let received_at = self.clock.now_ms();
        self.note_date(response.headers(), sent_at, received_at);

        check_protocol(response.headers())?;
        let profile_expires = match expect {
            Expect::Profile => profile_expires(response.headers()),
            Expect::Json => Ok(None),
        };
        let status = response.status();
        let content_type = content_type_of(response.headers());
        let limit = match expect {
            Expect::Json => self.config.max_json_bytes,
            Expect::Profile if status.is_success() => self.config.max_profile_bytes,
            Expect::Profile => self.config.max_json_bytes,
        };
        let body = read_limited(response, limit).await?;

        if status.is_redirection() {
            return Err(Error::MalformedResponse(format!(
                "unexpected redirect (HTTP {})",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(server_error(status, &content_type, &body));
        }
        let expected = match expect {
            Expect::Json => protocol::JSON_CONTENT_TYPE,
            Expect::Profile => protocol::PROFILE_CONTENT_TYPE,
        };
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case(expected) {
            return Err(Error::ContentType {
                expected,
                got: content_type,
            });
        }
        Ok(Reply {
            body,
            profile_expires: profile_expires?,
        })
    }

    fn note_date(&self, headers: &HeaderMap, sent_at: i64, received_at: i64) {
        let Some(date) = headers.get(reqwest::header::DATE).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let Ok(server) = httpdate::parse_http_date(date) else {
            return;
        };
        let Ok(server_ms) = server.duration_since(std::time::UNIX_EPOCH) else {
            return;
        };
        let server_ms = i64::try_from(server_ms.as_millis()).unwrap_or(i64::MAX);
        // `Date` has one-second resolution and is truncated: its midpoint is +500 ms.
        let midpoint = sent_at + (received_at - sent_at) / 2;
        let skew = server_ms + 500 - midpoint;
        // Skews under two seconds are within the header's resolution: treat them as zero.
        let skew = if skew.abs() < 2_000 { 0 } else { skew };
        if let Ok(mut guard) = self.skew_ms.lock() {
            *guard = Some(skew);
        }
    }

    /// A JSON call on any route (`path` is appended to the base URL as given; percent-encode
    /// parameters). Used by admin tooling; device calls have typed methods below.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&SecretString>,
        idempotency_key: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| Error::InvalidState(e.to_string()))?),
            None => None,
        };
        let reply = self
            .call(method, path, bearer, idempotency_key, body, Expect::Json)
            .await?;
        decode_json(&reply.body)
    }

    /// One request with any body (CSV uploads, streamed bodies) and any reply (CSV, images), for
    /// admin tooling. No retries (a streamed body cannot be replayed); the reply body is limited
    /// to `max_reply_bytes` (checked on `Content-Length` and while streaming). Replies of every
    /// status are returned: check [`RawReply::is_success`] and use [`RawReply::to_error`].
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&SecretString>,
        content_type: Option<&str>,
        body: Option<Body>,
        max_reply_bytes: usize,
    ) -> Result<RawReply> {
        let headers: Vec<(&str, &str)> = content_type.map(|ct| ("content-type", ct)).into_iter().collect();
        self.raw_with_headers(method, path, bearer, &headers, body, max_reply_bytes)
            .await
    }

    /// [`Self::raw`] with any request headers (e.g. the `Mdm-Signature` of the Apple device
    /// simulator). Header values must not be secrets (they are not marked sensitive).
    pub async fn raw_with_headers(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&SecretString>,
        extra_headers: &[(&str, &str)],
        body: Option<Body>,
        max_reply_bytes: usize,
    ) -> Result<RawReply> {
        let mut headers = request_headers(bearer, None)?;
        for (name, value) in extra_headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::InvalidState(format!("{name} is not a valid header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::InvalidState(format!("{name} is not a valid header value")))?;
            headers.insert(name, value);
        }
        let mut request = self.http.request(method, self.url(path)).headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let sent_at = self.clock.now_ms();
        let response = request.send().await.map_err(classify_reqwest)?;
        self.note_date(response.headers(), sent_at, self.clock.now_ms());
        check_protocol(response.headers())?;
        let status = response.status();
        if status.is_redirection() {
            return Err(Error::MalformedResponse(format!(
                "unexpected redirect (HTTP {})",
                status.as_u16()
            )));
        }
        let content_type = content_type_of(response.headers());
        let body = read_limited(response, max_reply_bytes).await?;
        Ok(RawReply {
            status: status.as_u16(),
            content_type,
            body,
        })
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<protocol::ServerInfo> {
        self.json(Method::GET, protocol::routes::INFO, None, None, None::<&()>)
            .await
    }

    /// `POST /enrollments` with an idempotency key.
    pub async fn enroll(
        &self,
        key: &str,
        request: &protocol::EnrollRequest,
    ) -> Result<protocol::EnrollResponse> {
        self.json(
            Method::POST,
            protocol::routes::ENROLLMENTS,
            None,
            Some(key),
            Some(request),
        )
        .await
    }

    /// `POST /devices/{id}/reenroll` with the device secret and an idempotency key.
    pub async fn reenroll(
        &self,
        device_id: &str,
        device_secret: &SecretString,
        key: &str,
        request: &protocol::ReenrollRequest,
    ) -> Result<protocol::EnrollResponse> {
        let path = fill(protocol::routes::DEVICE_REENROLL, device_id)?;
        self.json(Method::POST, &path, Some(device_secret), Some(key), Some(request))
            .await
    }

    /// `GET /enrollments/{id}/profile`.
    ///
    /// Returns the signed bytes (not yet verified) and the `enroll-profile-expires` window.
    pub async fn fetch_profile(&self, enrollment_id: &str, secret: &SecretString) -> Result<FetchedProfile> {
        let path = fill(protocol::routes::ENROLLMENT_PROFILE, enrollment_id)?;
        let reply = self
            .call(Method::GET, &path, Some(secret), None, None, Expect::Profile)
            .await?;
        Ok(FetchedProfile {
            signed: reply.body,
            expires_at: reply.profile_expires,
        })
    }

    /// `POST /enrollments/{id}/confirm`.
    pub async fn confirm(
        &self,
        enrollment_id: &str,
        secret: &SecretString,
        request: &protocol::ConfirmRequest,
    ) -> Result<protocol::ConfirmResponse> {
        let path = fill(protocol::routes::ENROLLMENT_CONFIRM, enrollment_id)?;
        self.json(Method::POST, &path, Some(secret), None, Some(request))
            .await
    }

    /// `POST /enrollments/{id}/password`: the user's first password (offered by the enrollment
    /// reply). Sent once, never retried: after a reply lost on the way a second request would
    /// find the password set (`password_already_set`).
    pub async fn set_password(
        &self,
        enrollment_id: &str,
        secret: &SecretString,
        request: &protocol::SetPasswordRequest,
    ) -> Result<protocol::SetPasswordResponse> {
        let path = fill(protocol::routes::ENROLLMENT_PASSWORD, enrollment_id)?;
        let body = serde_json::to_vec(request)
            .map_err(|_| Error::InvalidState("password request encoding".into()))?;
        let reply = self
            .call_once(Method::POST, &path, Some(secret), None, Some(body), Expect::Json)
            .await?;
        decode_json(&reply.body)
    }

    /// `POST /enrollments/{id}/cancel`.
    pub async fn cancel(
        &self,
        enrollment_id: &str,
        secret: &SecretString,
        request: &protocol::CancelRequest,
    ) -> Result<protocol::CancelResponse> {
        let path = fill(protocol::routes::ENROLLMENT_CANCEL, enrollment_id)?;
        self.json(Method::POST, &path, Some(secret), None, Some(request))
            .await
    }

    /// `POST /devices/{id}/checkin`.
    pub async fn checkin(
        &self,
        device_id: &str,
        secret: &SecretString,
        request: &protocol::CheckinRequest,
    ) -> Result<protocol::CheckinResponse> {
        let path = fill(protocol::routes::DEVICE_CHECKIN, device_id)?;
        self.json(Method::POST, &path, Some(secret), None, Some(request))
            .await
    }

    /// `POST /devices/{id}/ack`.
    pub async fn ack(
        &self,
        device_id: &str,
        secret: &SecretString,
        request: &protocol::AckRequest,
    ) -> Result<protocol::CheckinResponse> {
        let path = fill(protocol::routes::DEVICE_ACK, device_id)?;
        self.json(Method::POST, &path, Some(secret), None, Some(request))
            .await
    }
}

/// `Authorization: Bearer …` (marked sensitive, so it never shows in `Debug`) and an optional
/// extra header.
fn request_headers(bearer: Option<&SecretString>, extra: Option<(&'static str, &str)>) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    if let Some(secret) = bearer {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", secret.expose()))
            .map_err(|_| Error::InvalidState("the bearer secret is not a valid header value".into()))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    if let Some((name, value)) = extra {
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::InvalidState(format!("{name} is not a valid header value")))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Refuses a reply that names another protocol version (a missing header is tolerated).
fn check_protocol(headers: &HeaderMap) -> Result<()> {
    if let Some(version) = headers.get(protocol::PROTOCOL_HEADER) {
        let version = version.to_str().unwrap_or("?");
        if version.trim() != protocol::PROTOCOL_VERSION.to_string() {
            return Err(Error::UnsupportedProtocol(version.chars().take(16).collect()));
        }
    }
    Ok(())
}

/// The reply's `Content-Type`, at most 100 characters.
fn content_type_of(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(100)
        .collect()
}

/// Substitutes the single `{…}` parameter of a route template. Identifiers come from the server,
/// so they are checked to be plain tokens before going into a path.
fn fill(template: &str, id: &str) -> Result<String> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::MalformedResponse(
            "server-supplied identifier has unexpected characters".into(),
        ));
    }
    let start = template
        .find('{')
        .ok_or_else(|| Error::InvalidState("route has no parameter".into()))?;
    let end = template[start..]
        .find('}')
        .map(|e| start + e + 1)
        .unwrap_or(template.len());
    Ok(format!("{}{}{}", &template[..start], id, &template[end..]))
}

async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
    if let Some(len) = response.content_length() {
        if len > limit as u64 {
            return Err(Error::ResponseTooLarge { limit });
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify_reqwest)? {
        if body.len() + chunk.len() > limit {
            return Err(Error::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Decodes JSON without echoing any part of the body into the error (it may hold secrets).
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax => "invalid JSON syntax",
            serde_json::error::Category::Eof => "truncated JSON",
            serde_json::error::Category::Data => "JSON of an unexpected shape",
            serde_json::error::Category::Io => "unreadable JSON",
        };
        Error::MalformedResponse(format!("{what} at line {} column {}", e.line(), e.column()))
    })
}

fn server_error(status: StatusCode, content_type: &str, body: &[u8]) -> Error {
    let is_json = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case(protocol::JSON_CONTENT_TYPE);
    let parsed = if is_json {
        serde_json::from_slice::<ErrorBody>(body).ok()
    } else {
        None
    };
    let info = match parsed {
        Some(mut b) => {
            b.error.message = b
                .error
                .message
                .chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect();
            b.error
        }
        None => ErrorInfo {
            code: match status.as_u16() {
                429 => ErrorCode::RateLimited,
                502..=504 => ErrorCode::Unavailable,
                413 => ErrorCode::PayloadTooLarge,
                404 => ErrorCode::NotFound,
                401 => ErrorCode::Unauthorized,
                _ => ErrorCode::Unknown,
            },
            message: format!("HTTP {} without a protocol error body", status.as_u16()),
            attempts_left: None,
            retry_after_secs: None,
            fallback: None,
        },
    };
    Error::Server {
        status: status.as_u16(),
        info,
    }
}

fn classify_rustls(err: &rustls::Error) -> Error {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(C::Other(other))
            if other.0.downcast_ref::<tls::PinMismatchError>().is_some() =>
        {
            Error::PinMismatch
        }
        rustls::Error::InvalidCertificate(C::Other(other))
            if other.0.downcast_ref::<tls::SelfSignedError>().is_some() =>
        {
            Error::CertificateSelfSigned
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => Error::CertificateExpired,
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            Error::CertificateNotYetValid
        }
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            Error::CertificateWrongHost
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => Error::CertificateUnknownIssuer,
        rustls::Error::InvalidCertificate(c) => Error::UntrustedCertificate(format!("{c:?}")),
        rustls::Error::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13)
        | rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion) => Error::TlsVersionRefused,
        other => Error::Network(format!("TLS: {other}")),
    }
}

fn classify_reqwest(err: reqwest::Error) -> Error {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    let mut chain = Vec::new();
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return classify_rustls(r);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(r) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return classify_rustls(r);
            }
        }
        chain.push(e.to_string());
        current = e.source();
    }
    // Some layers flatten the TLS error into text; recognise rustls' own wording.
    let joined = chain.join(": ");
    if joined.contains(&tls::PinMismatchError.to_string()) || joined.contains("PinMismatchError") {
        return Error::PinMismatch;
    }
    if let Some(pos) = joined.find("invalid peer certificate: ") {
        let detail = &joined[pos + "invalid peer certificate: ".len()..];
        // rustls' `CertificateError` as text: its Display for the variants with context, its
        // Debug name for the others (and for our marker errors inside `Other`).
        let starts = |p: &str| detail.starts_with(p);
        if detail.contains("SelfSignedError") || detail.contains(&tls::SelfSignedError.to_string()) {
            return Error::CertificateSelfSigned;
        }
        if starts("certificate expired") || starts("Expired") {
            return Error::CertificateExpired;
        }
        if starts("certificate not valid yet") || starts("NotValidYet") {
            return Error::CertificateNotYetValid;
        }
        if starts("certificate not valid for name") || starts("NotValidForName") {
            return Error::CertificateWrongHost;
        }
        if starts("UnknownIssuer") {
            return Error::CertificateUnknownIssuer;
        }
        return Error::UntrustedCertificate(detail.chars().take(120).collect());
    }
    if joined.contains("peer is incompatible: ServerDoesNotSupportTls12Or13")
        || joined.contains("received fatal alert: ProtocolVersion")
    {
        return Error::TlsVersionRefused;
    }
    if err.is_timeout() {
        return Error::Timeout;
    }
    let err = err.without_url();
    let mut text = err.to_string();
    for cause in chain.iter().skip(1) {
        if !text.contains(cause.as_str()) {
            text.push_str(": ");
            text.push_str(cause);
        }
    }
    Error::Network(text.chars().take(400).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert!(validate_base_url("https://mdm.example.com/tenant/", false).is_ok());
        assert_eq!(
            validate_base_url("https://mdm.example.com/t/?x=1#f", false)
                .unwrap()
                .as_str(),
            "https://mdm.example.com/t"
        );
        assert!(matches!(
            validate_base_url("http://mdm.example.com", false),
            Err(Error::InsecureUrl(_))
        ));
        assert!(matches!(
            validate_base_url("http://mdm.example.com", true),
            Err(Error::InsecureUrl(_))
        ));
        assert!(matches!(
            validate_base_url("http://127.0.0.1:8080", false),
            Err(Error::InsecureUrl(_))
        ));
        assert!(validate_base_url("http://127.0.0.1:8080", true).is_ok());
        assert!(validate_base_url("http://[::1]:8080", true).is_ok());
        assert!(validate_base_url("http://localhost:8080", true).is_ok());
        assert!(matches!(
            validate_base_url("ftp://x", false),
            Err(Error::InvalidUrl(_))
        ));
        assert!(matches!(
            validate_base_url("https://u:p@x", false),
            Err(Error::InvalidUrl(_))
        ));
        assert!(matches!(
            validate_base_url("not a url", false),
            Err(Error::InvalidUrl(_))
        ));
        assert!(matches!(
            validate_base_url(&format!("https://x/{}", "a".repeat(3000)), false),
            Err(Error::InvalidUrl(_))
        ));
        // Host names are ASCII: an internationalised name is accepted in its xn-- form only.
        assert!(matches!(
            validate_base_url("https://bücher.example/t", false),
            Err(Error::InvalidUrl(m)) if m.contains("xn--")
        ));
        assert_eq!(
            validate_base_url("https://xn--bcher-kva.example/t", false)
                .unwrap()
                .host_str(),
            Some("xn--bcher-kva.example")
        );
    }

    #[test]
    fn route_filling_rejects_odd_ids() {
        assert_eq!(
            fill(protocol::routes::DEVICE_ACK, "dev_1").unwrap(),
            "/api/v1/devices/dev_1/ack"
        );
        assert!(fill(protocol::routes::DEVICE_ACK, "../admin").is_err());
        assert!(fill(protocol::routes::DEVICE_ACK, "").is_err());
    }

    #[test]
    fn retry_delays_are_bounded() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for retry in 1..40 {
            assert!(p.delay(retry) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn json_errors_never_echo_the_body() {
        let err = decode_json::<protocol::EnrollResponse>(
            br#"{"enrollment_id":"e","enrollment_secret":12345678901}"#,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("12345678901"), "{err}");
        let err = decode_json::<protocol::ServerInfo>(br#"{"protocol":"SECRET-VALUE"}"#).unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }
}
