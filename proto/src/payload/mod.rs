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

mod android;
mod json;
mod link;

use android::*;
use json::*;
pub use link::parse_url;
use link::*;

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
