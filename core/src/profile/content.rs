//! The plist content of a profile: its shape, then the required keys. Step 4 of the overview
//! in [`super`].

use super::{ProfileError, VerifiedProfile, MAX_PLIST_DEPTH};
use std::io::Cursor;

/// Rejects XML plists nested deeper than [`MAX_PLIST_DEPTH`] before handing them to the parser,
/// and binary plists altogether (profiles are XML; the binary form allows reference cycles).
fn check_plist_shape(content: &[u8]) -> Result<(), ProfileError> {
    if content.starts_with(b"bplist") {
        return Err(ProfileError::MalformedPlist(
            "binary plists are not accepted; profiles are XML".into(),
        ));
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

fn get_string<'a>(dict: &'a plist::Dictionary, key: &str) -> Result<&'a str, ProfileError> {
    dict.get(key)
        .and_then(plist::Value::as_string)
        .ok_or_else(|| ProfileError::MissingKey(key.to_owned()))
}

fn https_url(key: &str, value: &str) -> Result<String, ProfileError> {
    let url = url::Url::parse(value).map_err(|e| ProfileError::InvalidValue {
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    if url.scheme() != "https" {
        return Err(ProfileError::InvalidValue {
            key: key.to_owned(),
            reason: "must be an https URL".into(),
        });
    }
    Ok(url.to_string())
}

/// Checks the plist content of a profile and extracts what the agent needs.
pub fn check_profile_content(content: &[u8]) -> Result<VerifiedProfile, ProfileError> {
    check_plist_shape(content)?;
    let value = plist::Value::from_reader(Cursor::new(content))
        .map_err(|e| ProfileError::MalformedPlist(e.to_string()))?;
    let top = value
        .as_dictionary()
        .ok_or_else(|| ProfileError::MalformedPlist("top level is not a dictionary".into()))?;
    let payload_type = get_string(top, "PayloadType")?;
    if payload_type != "Configuration" {
        return Err(ProfileError::InvalidValue {
            key: "PayloadType".into(),
            reason: "must be Configuration".into(),
        });
    }
    let uuid = get_string(top, "PayloadUUID")?.to_owned();
    let identifier = get_string(top, "PayloadIdentifier")?.to_owned();
    if top
        .get("PayloadVersion")
        .and_then(plist::Value::as_signed_integer)
        .is_none()
    {
        return Err(ProfileError::MissingKey("PayloadVersion".into()));
    }
    let expires = top
        .get("PayloadExpirationDate")
        .and_then(plist::Value::as_date)
        .ok_or_else(|| ProfileError::MissingKey("PayloadExpirationDate".into()))?;
    let expires_at = match std::time::SystemTime::from(expires).duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    let content_items = top
        .get("PayloadContent")
        .and_then(plist::Value::as_array)
        .ok_or_else(|| ProfileError::MissingKey("PayloadContent".into()))?;
    let payloads: Vec<&plist::Dictionary> = content_items
        .iter()
        .map(|v| {
            v.as_dictionary()
                .ok_or_else(|| ProfileError::MalformedPlist("PayloadContent item is not a dictionary".into()))
        })
        .collect::<Result<_, _>>()?;
    let mdm: Vec<&&plist::Dictionary> = payloads
        .iter()
        .filter(|p| p.get("PayloadType").and_then(plist::Value::as_string) == Some("com.apple.mdm"))
        .collect();
    let mdm = match mdm.as_slice() {
        [one] => **one,
        [] => return Err(ProfileError::MissingKey("com.apple.mdm payload".into())),
        _ => {
            return Err(ProfileError::InvalidValue {
                key: "PayloadContent".into(),
                reason: "more than one com.apple.mdm payload".into(),
            })
        }
    };
    let server_url = https_url("ServerURL", get_string(mdm, "ServerURL")?)?;
    if let Some(checkin) = mdm.get("CheckInURL") {
        let text = checkin
            .as_string()
            .ok_or_else(|| ProfileError::MissingKey("CheckInURL".into()))?;
        https_url("CheckInURL", text)?;
    }
    let topic = get_string(mdm, "Topic")?.to_owned();
    if !topic.starts_with("com.apple.mgmt.") || topic.len() <= "com.apple.mgmt.".len() {
        return Err(ProfileError::InvalidValue {
            key: "Topic".into(),
            reason: "must start with com.apple.mgmt.".into(),
        });
    }
    let identity_uuid = get_string(mdm, "IdentityCertificateUUID")?;
    let identity = payloads
        .iter()
        .find(|p| p.get("PayloadUUID").and_then(plist::Value::as_string) == Some(identity_uuid))
        .ok_or_else(|| ProfileError::InvalidValue {
            key: "IdentityCertificateUUID".into(),
            reason: "names no payload of this profile".into(),
        })?;
    let identity_type = get_string(identity, "PayloadType")?;
    if identity_type != "com.apple.security.scep" && identity_type != "com.apple.security.pkcs12" {
        return Err(ProfileError::InvalidValue {
            key: "IdentityCertificateUUID".into(),
            reason: format!("names a {identity_type} payload, not an identity (scep or pkcs12)"),
        });
    }
    Ok(VerifiedProfile {
        uuid,
        identifier,
        expires_at,
        server_url,
        topic,
        identity_type: identity_type.to_owned(),
        signer: String::new(),
    })
}
