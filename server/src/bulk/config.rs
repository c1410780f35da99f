//! Checks of a bulk profile configuration, against the rules and the agent's QR parser.

use super::text_field;
use crate::bulk::{self};
use crate::error::ApiError;
use crate::qr::{self, PayloadParams};
use enroll_proto::BulkProfileConfig;

/// Most product keys, custom system keys or profile attributes.
pub const MAX_CONFIG_ENTRIES: usize = 32;

fn is_upper_key(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks a profile configuration against the rules and against the QR parser of the agent.
pub fn validate_config(config: &BulkProfileConfig) -> Result<(), ApiError> {
    if config.product_keys.len() > MAX_CONFIG_ENTRIES
        || config.custom_system_keys.len() > MAX_CONFIG_ENTRIES
        || config.attributes.len() > MAX_CONFIG_ENTRIES
    {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_CONFIG_ENTRIES} product keys, custom system keys and attributes"
        )));
    }
    for (k, v) in &config.product_keys {
        let name = k.strip_prefix("enroll.").unwrap_or("");
        let reserved = ["SERVER_URL", "ENROLLMENT_TOKEN", "TOKEN", "PROFILE_ID"]
            .iter()
            .any(|r| name.eq_ignore_ascii_case(r));
        if !is_upper_key(name) || reserved {
            return Err(ApiError::bad_request(
                "product keys are enroll.<KEY> with KEY of letters, digits and '_' (not SERVER_URL, ENROLLMENT_TOKEN, TOKEN or PROFILE_ID)",
            ));
        }
        text_field("a product key value", v, 256, true)?;
    }
    for (k, v) in &config.custom_system_keys {
        let name = k
            .strip_prefix(qr::ANDROID_EXTRA)
            .filter(|n| n.starts_with("PROVISIONING_"))
            .unwrap_or("");
        let managed = qr::MANAGED_SYSTEM_KEYS.contains(&name)
            || name == "PROVISIONING_LOCALE"
            || name == "PROVISIONING_TIME_ZONE";
        if !is_upper_key(name) || managed {
            return Err(ApiError::bad_request(
                "custom system keys are android.app.extra.PROVISIONING_<KEY>, other than the keys the server sets and the predefined extras",
            ));
        }
        match v {
            serde_json::Value::Bool(_) => {}
            serde_json::Value::Number(n) if n.is_i64() => {}
            serde_json::Value::String(s) => text_field("a custom system key value", s, 256, true)?,
            _ => {
                return Err(ApiError::bad_request(
                    "custom system key values are strings, booleans or integers",
                ))
            }
        }
    }
    for (k, v) in &config.attributes {
        bulk::check_attribute_name(k).map_err(ApiError::bad_request)?;
        bulk::check_attribute_value(v).map_err(ApiError::bad_request)?;
    }
    let sys = &config.system_extras;
    if let Some(l) = &sys.locale {
        let ok = (2..=35).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(ApiError::bad_request("locale must look like fr_FR"));
        }
    }
    if let Some(tz) = &sys.time_zone {
        let ok = (1..=64).contains(&tz.len())
            && tz
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_/+-".contains(&b));
        if !ok {
            return Err(ApiError::bad_request(
                "time_zone must be a tz database name like Europe/Paris",
            ));
        }
    }
    // What the device will parse: the longest token, a long server URL.
    let dpc = qr::DpcSettings::default();
    let probe_token = format!("ent_{}", "A".repeat(43));
    let params = PayloadParams {
        server_url: "https://mdm.example.com",
        profile_id: "00000000-0000-0000-0000-000000000000",
        token: Some(&probe_token),
        config,
        dpc: &dpc,
    };
    let text = qr::android_provisioning(&params).to_string();
    if text.len() + 200 > qr::MAX_PAYLOAD_BYTES {
        return Err(ApiError::bad_request(
            "the configuration is too large to fit in a QR code",
        ));
    }
    enroll_proto::payload::parse_payload(&text, &enroll_proto::payload::PayloadOptions::default()).map_err(
        |e| {
            ApiError::bad_request(format!(
                "the provisioning payload would be refused by devices: {e}"
            ))
        },
    )?;
    Ok(())
}
