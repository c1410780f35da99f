//! Input checks of the agent's requests: device descriptions, credentials, idempotency keys, and
//! the canonical JSON of request fingerprints.

use super::{MAX_PIN_BYTES, MAX_TOKEN_BYTES};
use crate::common::{field, id_ok, MAX_EMAIL_CHARS, MAX_PASSWORD_BYTES};
use crate::error::ApiError;
use enroll_proto::{CredentialWire, DeviceDescriptor, MAX_IDEMPOTENCY_KEY_LEN, MIN_IDEMPOTENCY_KEY_LEN};

/// Checks a device description sent by an agent.
pub fn validate_descriptor(d: &DeviceDescriptor) -> Result<(), ApiError> {
    if d.platform == enroll_proto::Platform::Windows {
        return Err(ApiError::bad_request(
            "Windows PCs enroll with Windows' own MDM client (MS-MDE2 discovery at /EnrollmentServer/Discovery.svc), not through the agent API",
        ));
    }
    field("device.os_version", &d.os_version)?;
    field("device.model", &d.model)?;
    field("device.manufacturer", &d.manufacturer)?;
    field("device.agent_version", &d.agent_version)?;
    if let Some(s) = &d.serial {
        field("device.serial", s)?;
    }
    if let Some(s) = &d.hardware_id {
        field("device.hardware_id", s)?;
    }
    if d.imeis.len() > 2 {
        return Err(ApiError::bad_request("device.imeis has more than two entries"));
    }
    if d.imeis
        .iter()
        .any(|i| i.len() != 15 || !i.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::bad_request("device.imeis entries must be 15 digits"));
    }
    Ok(())
}

pub(super) fn validate_credential(c: &CredentialWire) -> Result<(), ApiError> {
    match c {
        CredentialWire::Token { token } => {
            if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
                return Err(ApiError::bad_request("credential.token has an invalid length"));
            }
        }
        CredentialWire::Pin { user, pin } => {
            if user.chars().count() > MAX_EMAIL_CHARS {
                return Err(ApiError::bad_request("credential.user is too long"));
            }
            if pin.is_empty() || pin.len() > MAX_PIN_BYTES {
                return Err(ApiError::bad_request("credential.pin has an invalid length"));
            }
        }
        CredentialWire::Password { user, password } => {
            if user.chars().count() > MAX_EMAIL_CHARS {
                return Err(ApiError::bad_request("credential.user is too long"));
            }
            if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
                return Err(ApiError::bad_request("credential.password has an invalid length"));
            }
        }
        CredentialWire::Tokenless { profile_id } => {
            if profile_id.as_ref().is_some_and(|p| !id_ok(p)) {
                return Err(ApiError::bad_request(
                    "credential.profile_id has an invalid length",
                ));
            }
        }
    }
    Ok(())
}

/// Checks an `idempotency-key` header value: 16 to 64 characters of `[A-Za-z0-9_-]`.
pub fn validate_idempotency_key(key: &str) -> Result<(), ApiError> {
    let ok = (MIN_IDEMPOTENCY_KEY_LEN..=MAX_IDEMPOTENCY_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "idempotency-key must be {MIN_IDEMPOTENCY_KEY_LEN} to {MAX_IDEMPOTENCY_KEY_LEN} characters of [A-Za-z0-9_-]"
        )))
    }
}

/// Canonical JSON: object keys sorted, no insignificant whitespace.
pub fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(value) = map.get(*k) {
                    canonical_json(value, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_key_rules() {
        assert!(validate_idempotency_key("abcdefghijklmnop").is_ok());
        assert!(validate_idempotency_key(&"a".repeat(64)).is_ok());
        assert!(validate_idempotency_key("A-b_0123456789xyz").is_ok());
        assert!(validate_idempotency_key("short").is_err());
        assert!(validate_idempotency_key(&"a".repeat(65)).is_err());
        assert!(validate_idempotency_key("abcdefghijklmnop!").is_err());
        assert!(validate_idempotency_key("abcdefghijklmnop é").is_err());
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":0,"y":"é"}],"c":null}}"#).unwrap();
        let mut out = String::new();
        canonical_json(&v, &mut out);
        assert_eq!(out, r#"{"a":{"c":null,"d":[1,{"y":"é","z":0}]},"b":1}"#);
    }
}
