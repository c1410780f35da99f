//! Android Enterprise provisioning JSON, its admin extras bundle and the Samsung KME DPC extras.

use super::*;

pub(super) fn parse_json_payload(
    text: &str,
    options: &PayloadOptions,
) -> Result<EnrollmentIntent, PayloadError> {
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
pub(super) fn key_suffix(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

pub(super) fn parse_admin_extras(
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

pub(super) fn parse_android(
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

pub(super) fn is_package_name(p: &str) -> bool {
    let parts: Vec<&str> = p.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `package/.Class`, `package/package.Class` or `package/Class`.
pub(super) fn check_component(key: &str, c: &str) -> Result<(), PayloadError> {
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
