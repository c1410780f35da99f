//! The plist content of a profile: its shape, then the keys of Apple's payload schemas.
//!
//! Checked in this order (the first failure is reported):
//! 1. size ([`MAX_PROFILE_BYTES`]) and shape: XML nesting ([`MAX_PLIST_DEPTH`], counted before
//!    parsing) or the binary structure ([`super::bplist`]);
//! 2. parsing (XML or binary, the `plist` crate);
//! 3. the top level (`TopLevel.yaml`): `PayloadType = Configuration`, `PayloadVersion = 1`,
//!    `PayloadIdentifier`, `PayloadUUID`, `PayloadContent`; types of the optional keys; encrypted
//!    profiles are refused (the agent has no key to decrypt them);
//! 4. every payload: the common keys (`CommonPayloadKeys.yaml`: `PayloadType`, `PayloadUUID`,
//!    `PayloadIdentifier`, `PayloadVersion = 1`), `PayloadUUID` unique in the profile (top level
//!    included) and `PayloadIdentifier` unique among payloads;
//! 5. the keys of the payload types the agent relies on: `com.apple.mdm` (exactly one),
//!    `com.apple.security.scep`, `com.apple.security.pkcs12` (required keys, types, ranges);
//! 6. the MDM payload's `IdentityCertificateUUID` names a scep or pkcs12 payload of the profile;
//! 7. `PayloadExpirationDate`, optional in the schema: the window itself is checked later, by the
//!    state machine (with the server's `enroll-profile-expires`, the earlier counting; without
//!    either there is no window), so a malformed profile is refused as malformed even when also
//!    expired.
//!
//! Keys the schemas do not list are allowed (servers add their own), and so are payload types
//! the agent does not know (only their common keys are checked). Errors name the key and the
//! defect, never a value of the profile.

use super::bplist::check_bplist;
use super::{ProfileError, VerifiedProfile, MAX_PLIST_DEPTH, MAX_PROFILE_BYTES};
use plist::{Dictionary, Value};
use std::collections::HashSet;
use std::io::Cursor;

/// Rejects XML plists nested deeper than [`MAX_PLIST_DEPTH`] before handing them to the parser,
/// and binary plists whose structure [`check_bplist`] refuses.
fn check_plist_shape(content: &[u8]) -> Result<(), ProfileError> {
    if content.len() > MAX_PROFILE_BYTES {
        return Err(ProfileError::TooLarge);
    }
    if content.starts_with(b"bplist") {
        return check_bplist(content).map_err(ProfileError::BinaryPlist);
    }
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(pos) = content[i..].iter().position(|b| *b == b'<') {
        let tag = &content[i + pos + 1..];
        let opens = tag.starts_with(b"dict>") || tag.starts_with(b"array>");
        let closes = tag.starts_with(b"/dict>") || tag.starts_with(b"/array>");
        if opens {
            depth += 1;
            if depth > MAX_PLIST_DEPTH {
                return Err(ProfileError::MalformedPlist(format!(
                    "nested deeper than {MAX_PLIST_DEPTH} levels"
                )));
            }
        } else if closes {
            depth = depth.saturating_sub(1);
        }
        i += pos + 1;
    }
    Ok(())
}

/// The parser's error without anything of the input: the `plist` crate prints its error kind
/// (which may carry an input byte in parentheses) and an offset; only the kind's name is kept.
fn parser_error(err: &plist::Error) -> ProfileError {
    let text = err.to_string();
    let kind: String = text
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    let kind = if kind.is_empty() {
        "unreadable".into()
    } else {
        kind
    };
    ProfileError::MalformedPlist(format!("parser: {kind}"))
}

/// The plist types of Apple's schemas (`type: <string>` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    Boolean,
    Real,
    Date,
    Data,
    Array,
    Dictionary,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Boolean => "a boolean",
            Kind::Real => "a number",
            Kind::Date => "a date",
            Kind::Data => "data",
            Kind::Array => "an array",
            Kind::Dictionary => "a dictionary",
        }
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            Kind::String => value.as_string().is_some(),
            Kind::Integer => value.as_signed_integer().is_some(),
            Kind::Boolean => value.as_boolean().is_some(),
            // Generators write whole numbers of seconds as integers.
            Kind::Real => value.as_real().is_some() || value.as_signed_integer().is_some(),
            Kind::Date => value.as_date().is_some(),
            Kind::Data => value.as_data().is_some(),
            Kind::Array => value.as_array().is_some(),
            Kind::Dictionary => value.as_dictionary().is_some(),
        }
    }
}

/// One key of a payload schema.
struct KeySpec {
    key: &'static str,
    kind: Kind,
    required: bool,
}

const fn req(key: &'static str, kind: Kind) -> KeySpec {
    KeySpec {
        key,
        kind,
        required: true,
    }
}

const fn opt(key: &'static str, kind: Kind) -> KeySpec {
    KeySpec {
        key,
        kind,
        required: false,
    }
}

/// `TopLevel.yaml`.
const TOP_LEVEL: &[KeySpec] = &[
    req("PayloadType", Kind::String),
    req("PayloadVersion", Kind::Integer),
    req("PayloadIdentifier", Kind::String),
    req("PayloadUUID", Kind::String),
    opt("IsEncrypted", Kind::Boolean),
    req("PayloadContent", Kind::Array),
    opt("EncryptedPayloadContent", Kind::Data),
    opt("PayloadDescription", Kind::String),
    opt("PayloadDisplayName", Kind::String),
    opt("HasRemovalPasscode", Kind::Boolean),
    opt("PayloadOrganization", Kind::String),
    opt("PayloadRemovalDisallowed", Kind::Boolean),
    opt("PayloadScope", Kind::String),
    opt("RemovalDate", Kind::Date),
    opt("DurationUntilRemoval", Kind::Real),
    opt("PayloadExpirationDate", Kind::Date),
    opt("TargetDeviceType", Kind::Integer),
    opt("ConsentText", Kind::Dictionary),
];

/// `CommonPayloadKeys.yaml`: the keys of every payload.
const COMMON: &[KeySpec] = &[
    req("PayloadType", Kind::String),
    req("PayloadUUID", Kind::String),
    req("PayloadIdentifier", Kind::String),
    req("PayloadVersion", Kind::Integer),
    opt("PayloadDescription", Kind::String),
    opt("PayloadDisplayName", Kind::String),
    opt("PayloadOrganization", Kind::String),
];

/// `com.apple.mdm.yaml`.
const MDM: &[KeySpec] = &[
    req("IdentityCertificateUUID", Kind::String),
    req("Topic", Kind::String),
    req("ServerURL", Kind::String),
    opt("CheckInURL", Kind::String),
    opt("SignMessage", Kind::Boolean),
    opt("AccessRights", Kind::Integer),
    opt("UseDevelopmentAPNS", Kind::Boolean),
    opt("ManagedAppleID", Kind::String),
    opt("AssignedManagedAppleID", Kind::String),
    opt("EnrollmentMode", Kind::String),
    opt("ServerURLPinningCertificateUUIDs", Kind::Array),
    opt("CheckInURLPinningCertificateUUIDs", Kind::Array),
    opt("PinningRevocationCheckRequired", Kind::Boolean),
    opt("ServerCapabilities", Kind::Array),
    opt("CheckOutWhenRemoved", Kind::Boolean),
    opt("RequiredAppIDForMDM", Kind::Integer),
    opt("PromptUserToAllowBootstrapTokenForAuthentication", Kind::Boolean),
];

/// `com.apple.security.scep.yaml`, the payload.
const SCEP: &[KeySpec] = &[req("PayloadContent", Kind::Dictionary)];

/// `com.apple.security.scep.yaml`, its `PayloadContent` dictionary.
const SCEP_CONTENT: &[KeySpec] = &[
    req("URL", Kind::String),
    opt("Name", Kind::String),
    opt("Subject", Kind::Array),
    opt("Challenge", Kind::String),
    opt("Keysize", Kind::Integer),
    opt("Key Type", Kind::String),
    opt("Key Usage", Kind::Integer),
    opt("CAFingerprint", Kind::Data),
    opt("Retries", Kind::Integer),
    opt("RetryDelay", Kind::Integer),
    opt("SubjectAltName", Kind::Dictionary),
    opt("KeyIsExtractable", Kind::Boolean),
    opt("AllowAllAppsAccess", Kind::Boolean),
];

/// `com.apple.security.pkcs12.yaml`.
const PKCS12: &[KeySpec] = &[
    req("PayloadContent", Kind::Data),
    opt("PayloadCertificateFileName", Kind::String),
    opt("Password", Kind::String),
    opt("AllowAllAppsAccess", Kind::Boolean),
    opt("KeyIsExtractable", Kind::Boolean),
];

/// The payload types that may hold the MDM identity.
const IDENTITY_TYPES: [&str; 2] = ["com.apple.security.scep", "com.apple.security.pkcs12"];

/// Bits of `AccessRights` (`1` … `4096`).
const ACCESS_RIGHTS_ALL: i64 = 8191;

fn invalid(key: &str, reason: impl Into<String>) -> ProfileError {
    ProfileError::InvalidValue {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// Checks presence and type of every key of `spec` in `dict`.
fn check_keys(dict: &Dictionary, spec: &[KeySpec]) -> Result<(), ProfileError> {
    for key in spec {
        match dict.get(key.key) {
            None if key.required => return Err(ProfileError::MissingKey(key.key.to_owned())),
            None => {}
            Some(value) if !key.kind.matches(value) => {
                return Err(invalid(key.key, format!("must be {}", key.kind.name())))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A string key (present and typed: [`check_keys`] ran first).
fn string<'a>(dict: &'a Dictionary, key: &str) -> Result<&'a str, ProfileError> {
    dict.get(key)
        .and_then(Value::as_string)
        .ok_or_else(|| ProfileError::MissingKey(key.to_owned()))
}

fn integer(dict: &Dictionary, key: &str) -> Option<i64> {
    dict.get(key).and_then(Value::as_signed_integer)
}

fn version_is_one(dict: &Dictionary) -> Result<(), ProfileError> {
    if integer(dict, "PayloadVersion") != Some(1) {
        return Err(invalid("PayloadVersion", "must be 1"));
    }
    Ok(())
}

/// Parses a URL of `key`: one of `schemes`, a host, no user name or password.
fn checked_url(key: &str, value: &str, schemes: &[&str]) -> Result<String, ProfileError> {
    let url = crate::qr::payload::parse_url(value).map_err(|e| invalid(key, e.to_string()))?;
    if !schemes.contains(&url.scheme()) {
        return Err(invalid(key, format!("must be an {} URL", schemes.join(" or "))));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(key, "must not carry a user name or password"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(key, "must name a host"));
    }
    Ok(url.to_string())
}

/// `^[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}$`, the format of
/// `IdentityCertificateUUID` in `com.apple.mdm.yaml`.
fn uuid_shaped(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Every element of the array `key` is a string; with `unique`, no two are equal.
fn strings(dict: &Dictionary, key: &str, unique: bool) -> Result<(), ProfileError> {
    let Some(items) = dict.get(key).and_then(Value::as_array) else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for item in items {
        let text = item
            .as_string()
            .ok_or_else(|| invalid(key, "must hold only strings"))?;
        if unique && !seen.insert(text) {
            return Err(invalid(key, "must not repeat a value"));
        }
    }
    Ok(())
}

/// The `com.apple.mdm` payload; returns `ServerURL` and `Topic`.
fn check_mdm(mdm: &Dictionary) -> Result<(String, String), ProfileError> {
    check_keys(mdm, MDM)?;
    let server_url = checked_url("ServerURL", string(mdm, "ServerURL")?, &["https"])?;
    if let Some(checkin) = mdm.get("CheckInURL").and_then(Value::as_string) {
        checked_url("CheckInURL", checkin, &["https"])?;
    }
    let topic = string(mdm, "Topic")?.to_owned();
    if !topic.starts_with("com.apple.mgmt.") || topic.len() <= "com.apple.mgmt.".len() {
        return Err(invalid("Topic", "must start with com.apple.mgmt."));
    }
    if !uuid_shaped(string(mdm, "IdentityCertificateUUID")?) {
        return Err(invalid("IdentityCertificateUUID", "must be a UUID"));
    }
    if let Some(rights) = integer(mdm, "AccessRights") {
        if !(1..=ACCESS_RIGHTS_ALL).contains(&rights) {
            return Err(invalid(
                "AccessRights",
                format!("must be in 1..={ACCESS_RIGHTS_ALL}"),
            ));
        }
        // "Specify '1' if you specify '2'. Specify '64' if you specify '128'."
        if (rights & 2 != 0 && rights & 1 == 0) || (rights & 128 != 0 && rights & 64 == 0) {
            return Err(invalid(
                "AccessRights",
                "bit 2 needs bit 1, and bit 128 needs bit 64",
            ));
        }
    }
    if let Some(mode) = mdm.get("EnrollmentMode").and_then(Value::as_string) {
        if mode != "BYOD" && mode != "ADDE" {
            return Err(invalid("EnrollmentMode", "must be BYOD or ADDE"));
        }
    }
    // Unknown capabilities are allowed: Apple adds new ones.
    strings(mdm, "ServerCapabilities", true)?;
    strings(mdm, "ServerURLPinningCertificateUUIDs", false)?;
    strings(mdm, "CheckInURLPinningCertificateUUIDs", false)?;
    Ok((server_url, topic))
}

/// The `com.apple.security.scep` payload.
fn check_scep(scep: &Dictionary) -> Result<(), ProfileError> {
    check_keys(scep, SCEP)?;
    let content = scep
        .get("PayloadContent")
        .and_then(Value::as_dictionary)
        .ok_or_else(|| ProfileError::MissingKey("PayloadContent".into()))?;
    check_keys(content, SCEP_CONTENT)?;
    // SCEP protects its own messages: plain http is common and allowed.
    checked_url("URL", string(content, "URL")?, &["https", "http"])?;
    if let Some(size) = integer(content, "Keysize") {
        if ![1024, 2048, 4096].contains(&size) {
            return Err(invalid("Keysize", "must be 1024, 2048 or 4096"));
        }
    }
    if let Some(usage) = integer(content, "Key Usage") {
        if usage & !5 != 0 {
            return Err(invalid(
                "Key Usage",
                "must combine only 1 (signing) and 4 (encryption)",
            ));
        }
    }
    Ok(())
}

/// The `PayloadContent` items, each with its common keys checked; `PayloadUUID` unique in the
/// profile (`top_uuid` included), `PayloadIdentifier` unique among payloads.
fn payloads<'a>(top: &'a Dictionary, top_uuid: &str) -> Result<Vec<&'a Dictionary>, ProfileError> {
    let items = top
        .get("PayloadContent")
        .and_then(Value::as_array)
        .ok_or_else(|| ProfileError::MissingKey("PayloadContent".into()))?;
    let mut uuids = HashSet::from([top_uuid]);
    let mut identifiers = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let payload = item
            .as_dictionary()
            .ok_or_else(|| ProfileError::MalformedPlist("PayloadContent item is not a dictionary".into()))?;
        check_keys(payload, COMMON)?;
        version_is_one(payload)?;
        if !uuids.insert(string(payload, "PayloadUUID")?) {
            return Err(invalid("PayloadUUID", "is used by more than one payload"));
        }
        if !identifiers.insert(string(payload, "PayloadIdentifier")?) {
            return Err(invalid("PayloadIdentifier", "is used by more than one payload"));
        }
        match string(payload, "PayloadType")? {
            "com.apple.security.scep" => check_scep(payload)?,
            "com.apple.security.pkcs12" => check_keys(payload, PKCS12)?,
            _ => {}
        }
        out.push(payload);
    }
    Ok(out)
}

/// `PayloadExpirationDate` in Unix seconds, if present (dates before 1970 count as 0).
fn expiration(top: &Dictionary) -> Option<i64> {
    let date = top.get("PayloadExpirationDate").and_then(Value::as_date)?;
    Some(
        match std::time::SystemTime::from(date).duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        },
    )
}

/// Checks the plist content of a profile (XML or binary) and extracts what the agent needs.
///
/// See the module overview for the order of the checks.
pub fn check_profile_content(content: &[u8]) -> Result<VerifiedProfile, ProfileError> {
    check_plist_shape(content)?;
    let value = Value::from_reader(Cursor::new(content)).map_err(|e| parser_error(&e))?;
    let top = value
        .as_dictionary()
        .ok_or_else(|| ProfileError::MalformedPlist("top level is not a dictionary".into()))?;
    check_keys(top, TOP_LEVEL)?;
    if string(top, "PayloadType")? != "Configuration" {
        return Err(invalid("PayloadType", "must be Configuration"));
    }
    version_is_one(top)?;
    if top.get("IsEncrypted").and_then(Value::as_boolean) == Some(true) {
        return Err(invalid("IsEncrypted", "encrypted profiles are not supported"));
    }
    let uuid = string(top, "PayloadUUID")?.to_owned();
    let identifier = string(top, "PayloadIdentifier")?.to_owned();
    let payloads = payloads(top, &uuid)?;

    let mdm: Vec<&Dictionary> = payloads
        .iter()
        .copied()
        .filter(|p| p.get("PayloadType").and_then(Value::as_string) == Some("com.apple.mdm"))
        .collect();
    let mdm = match mdm.as_slice() {
        [one] => *one,
        [] => return Err(ProfileError::MissingKey("com.apple.mdm payload".into())),
        _ => return Err(invalid("PayloadContent", "more than one com.apple.mdm payload")),
    };
    let (server_url, topic) = check_mdm(mdm)?;
    let identity_uuid = string(mdm, "IdentityCertificateUUID")?;
    let identity = payloads
        .iter()
        .find(|p| p.get("PayloadUUID").and_then(Value::as_string) == Some(identity_uuid))
        .ok_or_else(|| invalid("IdentityCertificateUUID", "names no payload of this profile"))?;
    let identity_type = string(identity, "PayloadType")?;
    if !IDENTITY_TYPES.contains(&identity_type) {
        return Err(invalid(
            "IdentityCertificateUUID",
            "names a payload that is not an identity (scep or pkcs12)",
        ));
    }
    Ok(VerifiedProfile {
        uuid,
        identifier,
        expires_at: expiration(top),
        server_url,
        topic,
        identity_type: identity_type.to_owned(),
        signer: String::new(),
    })
}
