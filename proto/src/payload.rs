//! Enrollment payloads carried by QR codes, parsed into a typed [`EnrollmentIntent`].
//!
//! Four formats are accepted (tried in this order):
//!
//! 1. **Invitation / self-service URL** (`https://…`): the path ends in `/go`
//!    (`https://mdm.example.com/tenant/go?token=…&user=alice%40example.com&tenant=acme-1&v=2`)
//!    or in `/enroll/<token>` (`https://devices.example.net/enroll/<token>?platform=android`).
//!    The server base URL is the URL without those trailing segments, query and fragment
//!    (`https://mdm.example.com/tenant`).
//! 2. **Android Enterprise provisioning JSON** (the AOSP ManagedProvisioning QR format): a JSON
//!    object of `android.app.extra.PROVISIONING_*` keys, with the DPC component, its download
//!    location and checksum, Wi-Fi settings, locale/time zone, and the admin extras bundle.
//! 3. **Samsung KME DPC extras**: the "Custom JSON" of a Knox Mobile Enrollment profile, i.e.
//!    an admin extras bundle as a JSON object on its own, without the `android.app.extra.*`
//!    envelope.
//! 4. **Bare enrollment token**: 16 to 256 characters of `[A-Za-z0-9_-]` (our server's tokens
//!    are `ent_` + base64url).
//!
//! ## Admin extras bundle keys
//!
//! The bundle (`android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE`, or the whole KME JSON) is
//! product specific. Keys are recognised by their last dot-separated component, so that other
//! vendors' bundles work too (`com.example.mdm.ENROLLMENT_TOKEN`, `com.example.mdm.TOKEN`):
//!
//! | key (last component) | meaning |
//! |---|---|
//! | `SERVER_URL` | enrollment server URL (https) → [`AdminExtras::server_url`] |
//! | `ENROLLMENT_TOKEN` or `TOKEN` | enrollment token (secret) → [`AdminExtras::enrollment_token`] |
//!
//! Our own server emits exactly these keys:
//!
//! - `enroll.SERVER_URL`: base URL of the enrollment server;
//! - `enroll.ENROLLMENT_TOKEN`: the enrollment token;
//! - `enroll.PROFILE_ID`: the enrollment profile → [`AdminExtras::profile_id`];
//! - `enroll.attr.<name>`: custom attributes (string values) → [`AdminExtras::attributes`].
//!
//! Every other key is kept in [`AdminExtras::product_keys`] with its JSON type.
//!
//! ## Hostile input
//!
//! Payloads come from whatever the camera sees, so every limit is explicit: text at most
//! [`PayloadOptions::max_len`] bytes (4 KiB by default), JSON nesting at most [`MAX_JSON_DEPTH`]
//! and at most [`MAX_JSON_ENTRIES`] values, duplicate keys rejected, control characters rejected
//! (JSON formatting whitespace aside), URLs https only (plain http only for loopback hosts and
//! only with [`PayloadOptions::allow_insecure_loopback_http`]), no credentials in URLs.
//! Errors name the offending key or field but never include a value, so a token or Wi-Fi
//! password cannot leak through an error message; secrets are [`SecretString`]s.

use crate::secret::SecretString;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;
use url::Url;

/// Default maximum payload size in bytes.
pub const MAX_PAYLOAD_LEN: usize = 4096;
/// Maximum nesting of JSON arrays/objects (the top-level object is depth 1).
pub const MAX_JSON_DEPTH: usize = 8;
/// Maximum number of JSON values (object entries and array items, all levels).
pub const MAX_JSON_ENTRIES: usize = 256;
/// Bare tokens: minimum length.
pub const BARE_TOKEN_MIN_LEN: usize = 16;
/// Bare tokens: maximum length.
pub const BARE_TOKEN_MAX_LEN: usize = 256;
/// Maximum length of a token inside a URL or an extras bundle.
pub const MAX_TOKEN_LEN: usize = 1024;

/// Prefix of every Android provisioning extra.
pub const ANDROID_EXTRA_PREFIX: &str = "android.app.extra.";

/// Keys of the Android provisioning extras understood by the parser (without the prefix).
mod keys {
    pub const COMPONENT_NAME: &str = "PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME";
    pub const PACKAGE_NAME: &str = "PROVISIONING_DEVICE_ADMIN_PACKAGE_NAME";
    pub const DOWNLOAD_LOCATION: &str = "PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION";
    pub const PACKAGE_CHECKSUM: &str = "PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM";
    pub const SIGNATURE_CHECKSUM: &str = "PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM";
    pub const WIFI_SSID: &str = "PROVISIONING_WIFI_SSID";
    pub const WIFI_SECURITY_TYPE: &str = "PROVISIONING_WIFI_SECURITY_TYPE";
    pub const WIFI_PASSWORD: &str = "PROVISIONING_WIFI_PASSWORD";
    pub const WIFI_HIDDEN: &str = "PROVISIONING_WIFI_HIDDEN";
    pub const LEAVE_SYSTEM_APPS: &str = "PROVISIONING_LEAVE_ALL_SYSTEM_APPS_ENABLED";
    pub const SKIP_ENCRYPTION: &str = "PROVISIONING_SKIP_ENCRYPTION";
    pub const SKIP_EDUCATION: &str = "PROVISIONING_SKIP_EDUCATION_SCREENS";
    pub const LOCALE: &str = "PROVISIONING_LOCALE";
    pub const TIME_ZONE: &str = "PROVISIONING_TIME_ZONE";
    pub const ADMIN_EXTRAS: &str = "PROVISIONING_ADMIN_EXTRAS_BUNDLE";
}

/// Parser settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadOptions {
    /// Accept `http://` URLs whose host is a loopback address (`localhost`, `127.0.0.0/8`,
    /// `[::1]`), for development against a local server. Off by default.
    pub allow_insecure_loopback_http: bool,
    /// Maximum payload size in bytes (at most [`MAX_PAYLOAD_LEN`] is recommended).
    pub max_len: usize,
}

impl Default for PayloadOptions {
    fn default() -> Self {
        Self {
            allow_insecure_loopback_http: false,
            max_len: MAX_PAYLOAD_LEN,
        }
    }
}

/// What a scanned enrollment QR code asks the device to do.
#[derive(Debug, Clone, PartialEq)]
pub enum EnrollmentIntent {
    /// An invitation or self-service URL.
    Invitation(Box<Invitation>),
    /// Android Enterprise (AOSP ManagedProvisioning) QR provisioning.
    AndroidProvisioning(Box<AndroidProvisioning>),
    /// Samsung KME DPC extras (an admin extras bundle on its own).
    KmeExtras(Box<AdminExtras>),
    /// A bare enrollment token; the server comes from configuration.
    Token(SecretString),
}

impl EnrollmentIntent {
    /// The enrollment server base URL, when the payload names one.
    pub fn server_url(&self) -> Option<&Url> {
        match self {
            Self::Invitation(i) => Some(&i.server_base),
            Self::AndroidProvisioning(a) => a.admin_extras.server_url.as_ref(),
            Self::KmeExtras(e) => e.server_url.as_ref(),
            Self::Token(_) => None,
        }
    }

    /// The enrollment token, when the payload carries one.
    pub fn token(&self) -> Option<&SecretString> {
        match self {
            Self::Invitation(i) => i.token.as_ref(),
            Self::AndroidProvisioning(a) => a.admin_extras.enrollment_token.as_ref(),
            Self::KmeExtras(e) => e.enrollment_token.as_ref(),
            Self::Token(t) => Some(t),
        }
    }
}

/// An invitation / self-service URL, split into its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    /// Server base URL: scheme, host, port and the path before `/go` or `/enroll/<token>`
    /// (no query, no fragment, no trailing slash unless the path is `/`).
    pub server_base: Url,
    /// Enrollment token (`token=` or the `/enroll/<token>` segment).
    pub token: Option<SecretString>,
    /// User hint (`user=`, percent-decoded, e.g. `alice@example.com`).
    pub user_hint: Option<String>,
    /// Tenant (`tenant=`).
    pub tenant: Option<String>,
    /// Link format version (`v=`).
    pub version: Option<String>,
    /// Target platform (`platform=`).
    pub platform: Option<String>,
    /// Other query parameters, in order.
    pub other_params: Vec<(String, String)>,
}

/// Wi-Fi security of a provisioning network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WifiSecurity {
    /// Open network.
    None,
    /// WPA/WPA2 personal.
    Wpa,
    /// WEP.
    Wep,
    /// WPA enterprise (EAP).
    Eap,
}

/// Wi-Fi settings of a provisioning payload.
#[derive(Debug, Clone, PartialEq)]
pub struct WifiConfig {
    /// SSID (1 to 32 bytes).
    pub ssid: Option<String>,
    /// Security type.
    pub security: Option<WifiSecurity>,
    /// Password (secret).
    pub password: Option<SecretString>,
    /// Hidden network.
    pub hidden: Option<bool>,
}

/// A JSON value of an extras bundle, type-checked (null is not allowed).
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraValue {
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Floating point number.
    Float(f64),
    /// String.
    Text(String),
    /// Array.
    List(Vec<ExtraValue>),
    /// Nested bundle.
    Bundle(BTreeMap<String, ExtraValue>),
}

/// The admin extras bundle handed to the DPC (or a Samsung KME "Custom JSON").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdminExtras {
    /// Enrollment server URL (`*.SERVER_URL`).
    pub server_url: Option<Url>,
    /// Enrollment token (`*.ENROLLMENT_TOKEN` or `*.TOKEN`).
    pub enrollment_token: Option<SecretString>,
    /// Enrollment profile (`enroll.PROFILE_ID`).
    pub profile_id: Option<String>,
    /// Custom attributes (`enroll.attr.<name>` → `<name>`).
    pub attributes: BTreeMap<String, String>,
    /// Every other key, with its value.
    pub product_keys: BTreeMap<String, ExtraValue>,
}

/// Android Enterprise QR provisioning.
#[derive(Debug, Clone, PartialEq)]
pub struct AndroidProvisioning {
    /// DPC admin receiver (`package/.Receiver` or `package/package.Receiver`).
    pub admin_component: Option<String>,
    /// DPC package name (legacy key, or the package part of the component).
    pub admin_package: String,
    /// Where the DPC APK is downloaded from (https).
    pub download_location: Option<Url>,
    /// SHA-256 of the APK file (32 bytes).
    pub package_checksum: Option<[u8; 32]>,
    /// SHA-256 of the APK signing certificate (32 bytes).
    pub signature_checksum: Option<[u8; 32]>,
    /// Wi-Fi settings, when any Wi-Fi key is present.
    pub wifi: Option<WifiConfig>,
    /// `PROVISIONING_LEAVE_ALL_SYSTEM_APPS_ENABLED`.
    pub leave_all_system_apps_enabled: Option<bool>,
    /// `PROVISIONING_SKIP_ENCRYPTION`.
    pub skip_encryption: Option<bool>,
    /// `PROVISIONING_SKIP_EDUCATION_SCREENS`.
    pub skip_education_screens: Option<bool>,
    /// `PROVISIONING_LOCALE` (e.g. `de_DE`).
    pub locale: Option<String>,
    /// `PROVISIONING_TIME_ZONE` (e.g. `Europe/Berlin`).
    pub time_zone: Option<String>,
    /// The admin extras bundle (empty when absent).
    pub admin_extras: AdminExtras,
    /// Other `android.app.extra.*` keys (full key → value).
    pub system_extras: BTreeMap<String, ExtraValue>,
}

/// Why a payload is not a valid enrollment payload. Never contains secret values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// The payload is empty (or only whitespace).
    #[error("payload is empty")]
    Empty,
    /// The payload is longer than allowed.
    #[error("payload is {len} bytes, more than the {max}-byte limit")]
    TooLong {
        /// Actual length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The payload bytes are not UTF-8.
    #[error("payload is not valid UTF-8 (at byte {offset})")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A control character (including NUL) where none is allowed.
    #[error("control character U+{code:04X} in {location}")]
    ControlCharacter {
        /// Code point.
        code: u32,
        /// Where: "payload" or a key name.
        location: String,
    },
    /// Not a URL, JSON object or token this parser understands.
    #[error("payload is not an enrollment URL, provisioning JSON or enrollment token")]
    UnrecognizedFormat,
    /// A URL does not parse.
    #[error("{field}: invalid URL ({reason})")]
    InvalidUrl {
        /// The field or key holding the URL.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A URL is not https (or loopback http when allowed).
    #[error("{field}: URL scheme {scheme:?} is not allowed (https required)")]
    InsecureUrl {
        /// The field or key holding the URL.
        field: String,
        /// The scheme found.
        scheme: String,
    },
    /// A URL carries a user name or password.
    #[error("{field}: URL must not contain credentials")]
    CredentialsInUrl {
        /// The field or key holding the URL.
        field: String,
    },
    /// An https URL whose path is neither `…/go` nor `…/enroll/<token>`.
    #[error("URL is not an enrollment invitation (path must end in /go or /enroll/<token>)")]
    NotAnInvitationUrl,
    /// The JSON does not parse.
    #[error("invalid JSON at line {line}, column {column}")]
    InvalidJson {
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
    },
    /// JSON nested deeper than [`MAX_JSON_DEPTH`].
    #[error("JSON nested deeper than {max} levels")]
    JsonTooDeep {
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_JSON_ENTRIES`] JSON values.
    #[error("JSON has more than {max} values")]
    JsonTooManyValues {
        /// The limit.
        max: usize,
    },
    /// A number that does not fit a 64-bit integer (or a double of magnitude below 2^63).
    #[error("number out of range in {key}")]
    NumberOutOfRange {
        /// The key.
        key: String,
    },
    /// The same key twice in one object.
    #[error("duplicate key {key}")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// The JSON is not an object at the top level.
    #[error("JSON payload must be an object")]
    NotAnObject,
    /// A top-level key that is not an `android.app.extra.*` key.
    #[error("unexpected key {key} in provisioning JSON")]
    UnexpectedKey {
        /// The key.
        key: String,
    },
    /// A value of the wrong JSON type.
    #[error("{key}: expected {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// The expected type.
        expected: &'static str,
    },
    /// A required field is missing.
    #[error("missing {field}")]
    MissingField {
        /// The field.
        field: String,
    },
    /// A value is present but invalid (the reason never quotes the value).
    #[error("{key}: {reason}")]
    InvalidValue {
        /// The key or field.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two keys that mean the same thing (e.g. `x.TOKEN` and `y.ENROLLMENT_TOKEN`).
    #[error("conflicting keys {first} and {second}")]
    ConflictingKeys {
        /// One key.
        first: String,
        /// The other key.
        second: String,
    },
}

/// A key or field name made safe for an error message: printable ASCII, at most 80 chars.
fn key_label(key: &str) -> String {
    let mut out: String = key
        .chars()
        .take(80)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if key.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// Parses raw QR bytes: checks UTF-8, then [`parse_payload`].
pub fn parse_payload_bytes(bytes: &[u8], options: &PayloadOptions) -> Result<EnrollmentIntent, PayloadError> {
    if bytes.len() > options.max_len {
        return Err(PayloadError::TooLong {
            len: bytes.len(),
            max: options.max_len,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| PayloadError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    parse_payload(text, options)
}

/// Parses a decoded QR text into an enrollment intent. Never panics.
pub fn parse_payload(text: &str, options: &PayloadOptions) -> Result<EnrollmentIntent, PayloadError> {
    if text.len() > options.max_len {
        return Err(PayloadError::TooLong {
            len: text.len(),
            max: options.max_len,
        });
    }
    // Surrounding whitespace (a trailing newline is common) is not part of the payload.
    let trimmed = text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'));
    if trimmed.is_empty() {
        return Err(PayloadError::Empty);
    }
    if trimmed.starts_with('{') {
        // JSON: formatting whitespace is allowed between tokens; raw control characters inside
        // strings are rejected by the JSON grammar and escaped ones by `check_text`.
        if let Some(c) = trimmed
            .chars()
            .find(|&c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
        {
            return Err(control_error(c, "payload"));
        }
        return parse_json_payload(trimmed, options);
    }
    if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
        return Err(control_error(c, "payload"));
    }
    let lower_prefix: String = trimmed.chars().take(8).collect::<String>().to_ascii_lowercase();
    if lower_prefix.starts_with("https://") || lower_prefix.starts_with("http://") {
        return parse_invitation_url(trimmed, options).map(|i| EnrollmentIntent::Invitation(Box::new(i)));
    }
    if is_bare_token(trimmed) {
        return Ok(EnrollmentIntent::Token(SecretString::new(trimmed)));
    }
    if trimmed.len() > BARE_TOKEN_MAX_LEN
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(PayloadError::InvalidValue {
            key: "token".to_owned(),
            reason: "token longer than 256 characters",
        });
    }
    Err(PayloadError::UnrecognizedFormat)
}

fn control_error(c: char, location: &str) -> PayloadError {
    PayloadError::ControlCharacter {
        code: u32::from(c),
        location: key_label(location),
    }
}

fn is_bare_token(s: &str) -> bool {
    (BARE_TOKEN_MIN_LEN..=BARE_TOKEN_MAX_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a string value: no control characters, at most `max` bytes, not empty.
fn check_text(key: &str, value: &str, max: usize) -> Result<(), PayloadError> {
    if value.is_empty() {
        return Err(PayloadError::InvalidValue {
            key: key_label(key),
            reason: "empty value",
        });
    }
    if value.len() > max {
        return Err(PayloadError::InvalidValue {
            key: key_label(key),
            reason: "value too long",
        });
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(control_error(c, key));
    }
    Ok(())
}

/// Checks a token found in a URL or a bundle: printable ASCII without spaces.
fn check_token(key: &str, value: &str) -> Result<SecretString, PayloadError> {
    check_text(key, value, MAX_TOKEN_LEN)?;
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PayloadError::InvalidValue {
            key: key_label(key),
            reason: "token must be printable ASCII without spaces",
        });
    }
    Ok(SecretString::new(value))
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `Url::parse`, except that a host with non-ASCII characters (literal or percent-encoded) is
/// refused with [`url::ParseError::IdnaError`] before the IDNA code sees it.
///
/// The agent is built with `idna_adapter` 1.0 (no Unicode tables, see `core/Cargo.toml`),
/// which maps every non-ASCII character of a host to U+FFFD, so such hosts end in `IdnaError`
/// anyway; but `idna` hands it the rest of the label after the first non-ASCII character
/// unlowered, and the adapter's `debug_assert!(!c.is_ascii_uppercase())` then panics in debug
/// builds (`https://ZmԜXV4/go`, found by the `qr_payload` fuzz target). Same result as
/// `Url::parse` in release builds, without the panic in debug ones.
pub fn parse_url(text: &str) -> Result<Url, url::ParseError> {
    if special_host_is_non_ascii(text) {
        return Err(url::ParseError::IdnaError);
    }
    Url::parse(text)
}

/// Whether `text` is a URL of a special scheme (the ones whose host goes through IDNA) whose
/// host, as the WHATWG URL parser finds it, has a non-ASCII character once percent-decoded.
fn special_host_is_non_ascii(text: &str) -> bool {
    // The URL parser drops leading/trailing C0 controls and spaces, and tabs and newlines
    // anywhere.
    let cleaned: String = text
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let Some((scheme, rest)) = cleaned.split_once(':') else {
        return false;
    };
    if !["http", "https", "ws", "wss", "ftp", "file"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return false;
    }
    let rest = rest.trim_start_matches(['/', '\\']);
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if !host.is_ascii() {
        return true;
    }
    let bytes = host.as_bytes();
    bytes.windows(3).any(|w| {
        w[0] == b'%' && matches!(w[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F') && w[2].is_ascii_hexdigit()
    })
}

/// Parses and checks a URL: https (or loopback http when allowed), a host, no credentials.
fn parse_secure_url(field: &str, value: &str, options: &PayloadOptions) -> Result<Url, PayloadError> {
    check_text(field, value, MAX_PAYLOAD_LEN)?;
    if value.chars().any(char::is_whitespace) {
        return Err(PayloadError::InvalidUrl {
            field: key_label(field),
            reason: "contains whitespace".to_owned(),
        });
    }
    let url = parse_url(value).map_err(|e| PayloadError::InvalidUrl {
        field: key_label(field),
        // url::ParseError messages describe the problem, never the input.
        reason: e.to_string(),
    })?;
    let secure = url.scheme() == "https"
        || (url.scheme() == "http" && options.allow_insecure_loopback_http && is_loopback_host(&url));
    if !secure {
        return Err(PayloadError::InsecureUrl {
            field: key_label(field),
            scheme: key_label(url.scheme()),
        });
    }
    if url.host().is_none() {
        return Err(PayloadError::InvalidUrl {
            field: key_label(field),
            reason: "no host".to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(PayloadError::CredentialsInUrl {
            field: key_label(field),
        });
    }
    Ok(url)
}

fn parse_invitation_url(text: &str, options: &PayloadOptions) -> Result<Invitation, PayloadError> {
    let url = parse_secure_url("invitation URL", text, options)?;
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(str::to_owned).collect())
        .unwrap_or_default();
    // Ignore one empty trailing segment ("…/go/").
    let mut segments = segments;
    if segments.last().is_some_and(|s| s.is_empty()) && segments.len() > 1 {
        segments.pop();
    }
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (base_segments, path_token) = match segments.as_slice() {
        [base @ .., last] if last.eq_ignore_ascii_case("go") => (base, None),
        [base @ .., enroll, token] if enroll.eq_ignore_ascii_case("enroll") && !token.is_empty() => {
            let decoded = percent_decode(token, "enrollment token")?;
            (base, Some(check_token("enrollment token", &decoded)?))
        }
        _ => return Err(PayloadError::NotAnInvitationUrl),
    };

    let mut invitation = Invitation {
        server_base: url.clone(),
        token: path_token,
        user_hint: None,
        tenant: None,
        version: None,
        platform: None,
        other_params: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in url.query_pairs() {
        if seen.iter().any(|s| *s == name) {
            return Err(PayloadError::DuplicateKey {
                key: key_label(&name),
            });
        }
        seen.push(name.to_string());
        match name.as_ref() {
            "token" => {
                if invitation.token.is_some() {
                    return Err(PayloadError::ConflictingKeys {
                        first: "path token".to_owned(),
                        second: "token".to_owned(),
                    });
                }
                invitation.token = Some(check_token("token", &value)?);
            }
            "user" => {
                check_text("user", &value, 320)?;
                invitation.user_hint = Some(value.into_owned());
            }
            "tenant" => {
                check_text("tenant", &value, 256)?;
                invitation.tenant = Some(value.into_owned());
            }
            "v" => {
                check_text("v", &value, 16)?;
                invitation.version = Some(value.into_owned());
            }
            "platform" => {
                check_text("platform", &value, 32)?;
                invitation.platform = Some(value.into_owned());
            }
            _ => {
                if let Some(c) = name.chars().chain(value.chars()).find(|c| c.is_control()) {
                    return Err(control_error(c, &name));
                }
                invitation
                    .other_params
                    .push((name.into_owned(), value.into_owned()));
            }
        }
    }

    let mut base = url;
    base.set_query(None);
    base.set_fragment(None);
    let path = if base_segments.is_empty() {
        "/".to_owned()
    } else {
        format!("/{}", base_segments.join("/"))
    };
    base.set_path(&path);
    invitation.server_base = base;
    Ok(invitation)
}

/// Percent-decodes a path segment into UTF-8.
fn percent_decode(segment: &str, field: &str) -> Result<String, PayloadError> {
    let decoded: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    String::from_utf8(decoded).map_err(|_| PayloadError::InvalidValue {
        key: key_label(field),
        reason: "not valid UTF-8",
    })
}

// ---------------------------------------------------------------------------------------------
// JSON with limits: depth, number of values, duplicate keys, numeric range.

/// A parsed JSON value (objects keep key order; duplicates are rejected while parsing).
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Shared parsing state: the first limit violation and the value budget.
struct Limits {
    error: RefCell<Option<PayloadError>>,
    values: Cell<usize>,
}

impl Limits {
    fn fail<E: de::Error>(&self, error: PayloadError) -> E {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(error);
        }
        E::custom("limit")
    }

    fn count<E: de::Error>(&self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > MAX_JSON_ENTRIES {
            return Err(self.fail(PayloadError::JsonTooManyValues {
                max: MAX_JSON_ENTRIES,
            }));
        }
        Ok(())
    }
}

struct JsonSeed<'l> {
    limits: &'l Limits,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonSeed<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        match i64::try_from(v) {
            Ok(v) => Ok(Json::Int(v)),
            Err(_) => Err(self.limits.fail(PayloadError::NumberOutOfRange {
                key: "(number)".to_owned(),
            })),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        // Integers too large for i64 arrive here as lossy doubles; refuse them (and anything
        // of that magnitude) rather than silently change a value.
        if v.is_finite() && v.abs() < 9.2e18 {
            Ok(Json::Float(v))
        } else {
            Err(self.limits.fail(PayloadError::NumberOutOfRange {
                key: "(number)".to_owned(),
            }))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::Text(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(self
                .limits
                .fail(PayloadError::JsonTooDeep { max: MAX_JSON_DEPTH }));
        }
        let mut items = Vec::new();
        loop {
            let seed = JsonSeed {
                limits: self.limits,
                depth: self.depth + 1,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => {
                    self.limits.count()?;
                    items.push(v);
                }
                None => break,
            }
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(self
                .limits
                .fail(PayloadError::JsonTooDeep { max: MAX_JSON_DEPTH }));
        }
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            self.limits.count()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(self
                    .limits
                    .fail(PayloadError::DuplicateKey { key: key_label(&key) }));
            }
            let value = map.next_value_seed(JsonSeed {
                limits: self.limits,
                depth: self.depth + 1,
            })?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

fn parse_json(text: &str) -> Result<Json, PayloadError> {
    let limits = Limits {
        error: RefCell::new(None),
        values: Cell::new(0),
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result = JsonSeed {
        limits: &limits,
        depth: 0,
    }
    .deserialize(&mut deserializer)
    .and_then(|v| deserializer.end().map(|()| v));
    match result {
        Ok(v) => Ok(v),
        Err(e) => Err(limits.error.into_inner().unwrap_or(PayloadError::InvalidJson {
            line: e.line(),
            column: e.column(),
        })),
    }
}

/// Converts a JSON value into an [`ExtraValue`], checking strings for control characters.
fn to_extra(key: &str, value: Json) -> Result<ExtraValue, PayloadError> {
    Ok(match value {
        Json::Null => {
            return Err(PayloadError::WrongType {
                key: key_label(key),
                expected: "a non-null value",
            })
        }
        Json::Bool(b) => ExtraValue::Bool(b),
        Json::Int(i) => ExtraValue::Int(i),
        Json::Float(f) => ExtraValue::Float(f),
        Json::Text(s) => {
            if let Some(c) = s.chars().find(|c| c.is_control()) {
                return Err(control_error(c, key));
            }
            ExtraValue::Text(s)
        }
        Json::Array(items) => ExtraValue::List(
            items
                .into_iter()
                .map(|v| to_extra(key, v))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(entries) => {
            let mut map = BTreeMap::new();
            for (k, v) in entries {
                check_key(&k)?;
                let v = to_extra(&k, v)?;
                map.insert(k, v);
            }
            ExtraValue::Bundle(map)
        }
    })
}

fn check_key(key: &str) -> Result<(), PayloadError> {
    if key.is_empty() {
        return Err(PayloadError::InvalidValue {
            key: "(empty key)".to_owned(),
            reason: "empty key",
        });
    }
    if key.len() > 256 {
        return Err(PayloadError::InvalidValue {
            key: key_label(key),
            reason: "key too long",
        });
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(control_error(c, "key"));
    }
    Ok(())
}

fn expect_string(key: &str, value: Json, max: usize) -> Result<String, PayloadError> {
    match value {
        Json::Text(s) => {
            check_text(key, &s, max)?;
            Ok(s)
        }
        other => Err(wrong_type(key, &other, "a string")),
    }
}

fn wrong_type(key: &str, _found: &Json, expected: &'static str) -> PayloadError {
    PayloadError::WrongType {
        key: key_label(key),
        expected,
    }
}

/// Booleans appear as JSON booleans or as "true"/"false" strings in real QR codes.
fn expect_bool(key: &str, value: Json) -> Result<bool, PayloadError> {
    match value {
        Json::Bool(b) => Ok(b),
        Json::Text(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Json::Text(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(wrong_type(key, &other, "a boolean")),
    }
}

/// URL-safe base64 (padding optional) of a SHA-256: exactly 32 bytes.
fn parse_checksum(key: &str, value: Json) -> Result<[u8; 32], PayloadError> {
    let text = expect_string(key, value, 64)?;
    let unpadded = text.trim_end_matches('=');
    if text.len() - unpadded.len() > 2 {
        return Err(PayloadError::InvalidValue {
            key: key_label(key),
            reason: "bad base64 padding",
        });
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(unpadded)
        .map_err(|_| PayloadError::InvalidValue {
            key: key_label(key),
            reason: "not URL-safe base64",
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| PayloadError::InvalidValue {
        key: key_label(key),
        reason: "checksum must be a SHA-256 (32 bytes)",
    })
}

fn parse_json_payload(text: &str, options: &PayloadOptions) -> Result<EnrollmentIntent, PayloadError> {
    let Json::Object(entries) = parse_json(text)? else {
        return Err(PayloadError::NotAnObject);
    };
    if entries.iter().any(|(k, _)| k.starts_with(ANDROID_EXTRA_PREFIX)) {
        parse_android(entries, options).map(|a| EnrollmentIntent::AndroidProvisioning(Box::new(a)))
    } else {
        let extras = parse_admin_extras(entries, options)?;
        if extras.server_url.is_none() && extras.enrollment_token.is_none() {
            return Err(PayloadError::MissingField {
                field: "SERVER_URL or ENROLLMENT_TOKEN in DPC extras".to_owned(),
            });
        }
        Ok(EnrollmentIntent::KmeExtras(Box::new(extras)))
    }
}

/// Last dot-separated component of a bundle key.
fn key_suffix(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

fn parse_admin_extras(
    entries: Vec<(String, Json)>,
    options: &PayloadOptions,
) -> Result<AdminExtras, PayloadError> {
    let mut extras = AdminExtras::default();
    let mut token_key: Option<String> = None;
    let mut url_key: Option<String> = None;
    for (key, value) in entries {
        check_key(&key)?;
        let suffix = key_suffix(&key);
        if suffix.eq_ignore_ascii_case("ENROLLMENT_TOKEN") || suffix.eq_ignore_ascii_case("TOKEN") {
            if let Some(first) = token_key.replace(key.clone()) {
                return Err(PayloadError::ConflictingKeys {
                    first: key_label(&first),
                    second: key_label(&key),
                });
            }
            let token = match value {
                Json::Text(s) => check_token(&key, &s)?,
                other => return Err(wrong_type(&key, &other, "a string")),
            };
            extras.enrollment_token = Some(token);
        } else if suffix.eq_ignore_ascii_case("SERVER_URL") {
            if let Some(first) = url_key.replace(key.clone()) {
                return Err(PayloadError::ConflictingKeys {
                    first: key_label(&first),
                    second: key_label(&key),
                });
            }
            let text = expect_string(&key, value, MAX_PAYLOAD_LEN)?;
            extras.server_url = Some(parse_secure_url(&key, &text, options)?);
        } else if key == "enroll.PROFILE_ID" {
            extras.profile_id = Some(expect_string(&key, value, 256)?);
        } else if let Some(name) = key.strip_prefix("enroll.attr.") {
            if name.is_empty() {
                return Err(PayloadError::InvalidValue {
                    key: key_label(&key),
                    reason: "empty attribute name",
                });
            }
            let v = match value {
                Json::Text(s) => {
                    if let Some(c) = s.chars().find(|c| c.is_control()) {
                        return Err(control_error(c, &key));
                    }
                    s
                }
                other => return Err(wrong_type(&key, &other, "a string")),
            };
            extras.attributes.insert(name.to_owned(), v);
        } else {
            let v = to_extra(&key, value)?;
            extras.product_keys.insert(key, v);
        }
    }
    Ok(extras)
}

fn parse_android(
    entries: Vec<(String, Json)>,
    options: &PayloadOptions,
) -> Result<AndroidProvisioning, PayloadError> {
    let mut component: Option<String> = None;
    let mut package: Option<String> = None;
    let mut download: Option<Url> = None;
    let mut package_checksum = None;
    let mut signature_checksum = None;
    let mut wifi = WifiConfig {
        ssid: None,
        security: None,
        password: None,
        hidden: None,
    };
    let mut any_wifi = false;
    let mut leave = None;
    let mut skip_encryption = None;
    let mut skip_education = None;
    let mut locale = None;
    let mut time_zone = None;
    let mut admin_extras = AdminExtras::default();
    let mut system_extras = BTreeMap::new();

    for (key, value) in entries {
        check_key(&key)?;
        let Some(name) = key.strip_prefix(ANDROID_EXTRA_PREFIX) else {
            return Err(PayloadError::UnexpectedKey { key: key_label(&key) });
        };
        match name {
            keys::COMPONENT_NAME => {
                let c = expect_string(&key, value, 512)?;
                check_component(&key, &c)?;
                component = Some(c);
            }
            keys::PACKAGE_NAME => {
                let p = expect_string(&key, value, 256)?;
                if !is_package_name(&p) {
                    return Err(PayloadError::InvalidValue {
                        key: key_label(&key),
                        reason: "not a valid Android package name",
                    });
                }
                package = Some(p);
            }
            keys::DOWNLOAD_LOCATION => {
                let text = expect_string(&key, value, MAX_PAYLOAD_LEN)?;
                download = Some(parse_secure_url(&key, &text, options)?);
            }
            keys::PACKAGE_CHECKSUM => package_checksum = Some(parse_checksum(&key, value)?),
            keys::SIGNATURE_CHECKSUM => signature_checksum = Some(parse_checksum(&key, value)?),
            keys::WIFI_SSID => {
                any_wifi = true;
                let ssid = expect_string(&key, value, 34)?;
                // Android accepts the SSID quoted ("\"name\""); 32 bytes without the quotes.
                let bare = ssid
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .unwrap_or(&ssid);
                if bare.is_empty() || bare.len() > 32 {
                    return Err(PayloadError::InvalidValue {
                        key: key_label(&key),
                        reason: "SSID must be 1 to 32 bytes",
                    });
                }
                wifi.ssid = Some(ssid);
            }
            keys::WIFI_SECURITY_TYPE => {
                any_wifi = true;
                let s = expect_string(&key, value, 16)?;
                wifi.security = Some(match s.as_str() {
                    "NONE" => WifiSecurity::None,
                    "WPA" => WifiSecurity::Wpa,
                    "WEP" => WifiSecurity::Wep,
                    "EAP" => WifiSecurity::Eap,
                    _ => {
                        return Err(PayloadError::InvalidValue {
                            key: key_label(&key),
                            reason: "security type must be NONE, WPA, WEP or EAP",
                        })
                    }
                });
            }
            keys::WIFI_PASSWORD => {
                any_wifi = true;
                match value {
                    Json::Text(s) => {
                        // A password may contain anything printable, but never control
                        // characters; the error names the key only.
                        check_text(&key, &s, 256)?;
                        wifi.password = Some(SecretString::new(s));
                    }
                    other => return Err(wrong_type(&key, &other, "a string")),
                }
            }
            keys::WIFI_HIDDEN => {
                any_wifi = true;
                wifi.hidden = Some(expect_bool(&key, value)?);
            }
            keys::LEAVE_SYSTEM_APPS => leave = Some(expect_bool(&key, value)?),
            keys::SKIP_ENCRYPTION => skip_encryption = Some(expect_bool(&key, value)?),
            keys::SKIP_EDUCATION => skip_education = Some(expect_bool(&key, value)?),
            keys::LOCALE => {
                let l = expect_string(&key, value, 35)?;
                if !l
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(PayloadError::InvalidValue {
                        key: key_label(&key),
                        reason: "locale must look like en_US",
                    });
                }
                locale = Some(l);
            }
            keys::TIME_ZONE => {
                let tz = expect_string(&key, value, 64)?;
                if !tz
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_/+-".contains(&b))
                {
                    return Err(PayloadError::InvalidValue {
                        key: key_label(&key),
                        reason: "time zone must be a tz database name",
                    });
                }
                time_zone = Some(tz);
            }
            keys::ADMIN_EXTRAS => match value {
                Json::Object(entries) => admin_extras = parse_admin_extras(entries, options)?,
                other => return Err(wrong_type(&key, &other, "an object")),
            },
            _ => {
                let v = to_extra(&key, value)?;
                system_extras.insert(key, v);
            }
        }
    }

    let admin_package = match (&component, package) {
        (Some(c), Some(p)) => {
            if c.split('/').next() != Some(p.as_str()) {
                return Err(PayloadError::ConflictingKeys {
                    first: format!("{ANDROID_EXTRA_PREFIX}{}", keys::COMPONENT_NAME),
                    second: format!("{ANDROID_EXTRA_PREFIX}{}", keys::PACKAGE_NAME),
                });
            }
            p
        }
        (Some(c), None) => c.split('/').next().unwrap_or_default().to_owned(),
        (None, Some(p)) => p,
        (None, None) => {
            return Err(PayloadError::MissingField {
                field: format!("{ANDROID_EXTRA_PREFIX}{}", keys::COMPONENT_NAME),
            })
        }
    };
    if download.is_some() && package_checksum.is_none() && signature_checksum.is_none() {
        return Err(PayloadError::MissingField {
            field: format!(
                "{ANDROID_EXTRA_PREFIX}{} or {}",
                keys::SIGNATURE_CHECKSUM,
                keys::PACKAGE_CHECKSUM
            ),
        });
    }

    Ok(AndroidProvisioning {
        admin_component: component,
        admin_package,
        download_location: download,
        package_checksum,
        signature_checksum,
        wifi: any_wifi.then_some(wifi),
        leave_all_system_apps_enabled: leave,
        skip_encryption,
        skip_education_screens: skip_education,
        locale,
        time_zone,
        admin_extras,
        system_extras,
    })
}

fn is_package_name(p: &str) -> bool {
    let parts: Vec<&str> = p.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `package/.Class`, `package/package.Class` or `package/Class`.
fn check_component(key: &str, c: &str) -> Result<(), PayloadError> {
    let invalid = || PayloadError::InvalidValue {
        key: key_label(key),
        reason: "component must be package/class",
    };
    let (package, class) = c.split_once('/').ok_or_else(invalid)?;
    if !is_package_name(package) || class.is_empty() || class.contains('/') {
        return Err(invalid());
    }
    let class = class.strip_prefix('.').unwrap_or(class);
    let ok = class.split('.').all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_' || ch == '$')
            && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '$')
    });
    if ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: panics are failures

    use super::*;

    /// Found by the `qr_payload` fuzz target: an upper-case ASCII letter after a non-ASCII one
    /// in a host tripped `idna_adapter` 1.0's debug assertion (a panic in debug builds).
    #[test]
    fn non_ascii_hosts_are_refused_without_a_panic() {
        let crash = "http://Zm9vYmFyYmF\u{51c}XV4MTIzNDU2\n7q00OWWvFg-sv533hBj127.0.0.1:8443/go?token=ent_local01234Rg&89";
        assert_eq!(parse_url(crash), Err(url::ParseError::IdnaError));
        for text in [
            "https://Zm9vYmFyYmF\u{51c}XV4MTIzNDU2/go?token=ent_local0123456789",
            "https://\u{e9}ABC.example/go",
            "https://%C3%A9ABC.example/go",
            "https://user@\u{e9}Z.example/go",
        ] {
            assert_eq!(parse_url(text), Err(url::ParseError::IdnaError), "{text}");
            let err = parse_payload(text, &PayloadOptions::default()).unwrap_err();
            assert!(matches!(err, PayloadError::InvalidUrl { .. }), "{text}: {err:?}");
        }
        // Non-ASCII outside the host is not affected.
        let err =
            parse_payload("https://\u{e9}Z@mdm.example.com/go", &PayloadOptions::default()).unwrap_err();
        assert!(matches!(err, PayloadError::CredentialsInUrl { .. }), "{err:?}");
        assert!(parse_payload(
            "https://mdm.example.com/\u{e9}T\u{e9}/go?token=ent_0123456789abcdef",
            &PayloadOptions::default()
        )
        .is_ok());
        assert_eq!(
            parse_url("HTTPS:\\\\\u{e9}Z.example/go"),
            Err(url::ParseError::IdnaError)
        );
        assert!(parse_url("mailto:\u{e9}Z@example.com").is_ok());
        assert_eq!(
            parse_url("https://MDM.example.com/x").unwrap().host_str(),
            Some("mdm.example.com")
        );
    }
}
