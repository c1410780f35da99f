//! Enrollment payload parsing: every accepted format, and hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

use enroll_core::qr::{
    parse_payload, parse_payload_bytes, EnrollmentIntent, ExtraValue, PayloadError, PayloadOptions,
    WifiSecurity,
};
use std::path::PathBuf;

fn parse(text: &str) -> Result<EnrollmentIntent, PayloadError> {
    parse_payload(text, &PayloadOptions::default())
}

fn err(text: &str) -> PayloadError {
    match parse(text) {
        Ok(intent) => panic!("expected an error, got {intent:?}"),
        Err(e) => e,
    }
}

const CHECKSUM: &str = "xacWPXztgVwgj-05lbC2J4SSqYzTW5rlYYNWYxBjbRw";

fn android_json(extra: &str) -> String {
    format!(
        r#"{{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME":"com.example.mdm/.Admin",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM":"{CHECKSUM}",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION":"https://mdm.example.com/a.apk"{extra}}}"#
    )
}

// ---------------------------------------------------------------------------------------------
// Invitation URLs

#[test]
fn invitation_go_url_with_token_tenant_and_version() {
    let intent = parse("https://mdm.example.com/go?token=XYZ0123456789abc&tenant=acme-1&v=2").unwrap();
    let EnrollmentIntent::Invitation(inv) = &intent else {
        panic!("not an invitation: {intent:?}")
    };
    assert_eq!(inv.server_base.as_str(), "https://mdm.example.com/");
    assert_eq!(inv.token.as_ref().unwrap().expose(), "XYZ0123456789abc");
    assert_eq!(inv.tenant.as_deref(), Some("acme-1"));
    assert_eq!(inv.version.as_deref(), Some("2"));
    assert_eq!(intent.server_url().unwrap().as_str(), "https://mdm.example.com/");
    assert!(intent.token().is_some());
}

#[test]
fn invitation_keeps_path_prefix_as_server_base() {
    let EnrollmentIntent::Invitation(inv) =
        parse("https://mdm.example.com/tenant/go?token=abc&x=1#frag").unwrap()
    else {
        panic!()
    };
    assert_eq!(inv.server_base.as_str(), "https://mdm.example.com/tenant");
    assert_eq!(inv.other_params, vec![("x".to_owned(), "1".to_owned())]);
}

#[test]
fn invitation_from_reference_server_with_user_hint_and_port() {
    let EnrollmentIntent::Invitation(inv) =
        parse("https://enroll.test:8443/go?user=alice%40example.com").unwrap()
    else {
        panic!()
    };
    assert_eq!(inv.server_base.as_str(), "https://enroll.test:8443/");
    assert_eq!(inv.user_hint.as_deref(), Some("alice@example.com"));
    assert!(inv.token.is_none());
}

#[test]
fn invitation_with_token_in_path() {
    let EnrollmentIntent::Invitation(inv) =
        parse("https://devices.example.net/enroll/t9wdu7dp2CWF5wUEr4dSLntNXnKQ?platform=android").unwrap()
    else {
        panic!()
    };
    assert_eq!(inv.server_base.as_str(), "https://devices.example.net/");
    assert_eq!(
        inv.token.as_ref().unwrap().expose(),
        "t9wdu7dp2CWF5wUEr4dSLntNXnKQ"
    );
    assert_eq!(inv.platform.as_deref(), Some("android"));
}

#[test]
fn invitation_trailing_slash_and_plain_enroll_org() {
    let EnrollmentIntent::Invitation(inv) = parse("https://enroll.example.org/go/?token=XYZ").unwrap() else {
        panic!()
    };
    assert_eq!(inv.server_base.as_str(), "https://enroll.example.org/");
}

#[test]
fn http_urls_are_rejected_unless_loopback_allowed() {
    assert!(matches!(
        err("http://mdm.example.com/go?token=abc"),
        PayloadError::InsecureUrl { .. }
    ));
    assert!(matches!(
        err("http://127.0.0.1:8080/go?token=abc"),
        PayloadError::InsecureUrl { .. }
    ));
    let dev = PayloadOptions {
        allow_insecure_loopback_http: true,
        ..PayloadOptions::default()
    };
    for ok in [
        "http://127.0.0.1:8080/go?token=abc",
        "http://localhost:8080/go",
        "http://[::1]:8080/go",
    ] {
        assert!(parse_payload(ok, &dev).is_ok(), "{ok}");
    }
    // Loopback exception does not extend to other hosts.
    assert!(matches!(
        parse_payload("http://10.0.0.1/go", &dev),
        Err(PayloadError::InsecureUrl { .. })
    ));
    assert!(matches!(
        err("ftp://mdm.example.com/go"),
        PayloadError::UnrecognizedFormat
    ));
}

#[test]
fn url_problems_are_typed() {
    assert!(matches!(
        err("https://mdm.example.com/other?token=abc"),
        PayloadError::NotAnInvitationUrl
    ));
    assert!(matches!(
        err("https://user:pw@mdm.example.com/go"),
        PayloadError::CredentialsInUrl { .. }
    ));
    assert!(matches!(
        err("https:///go"),
        PayloadError::InvalidUrl { .. } | PayloadError::NotAnInvitationUrl
    ));
    assert!(matches!(
        err("https://mdm.example.com/go?token=a&token=b"),
        PayloadError::DuplicateKey { .. }
    ));
    assert!(matches!(
        err("https://mdm.example.com/enroll/abc?token=def"),
        PayloadError::ConflictingKeys { .. }
    ));
    assert!(matches!(
        err("https://mdm.example.com/go?token="),
        PayloadError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("https://mdm.example.com/go?token=a%00b"),
        PayloadError::ControlCharacter { .. }
    ));
    assert!(matches!(
        err("https://mdm.example.com/go?user=%0A"),
        PayloadError::ControlCharacter { .. }
    ));
}

#[test]
fn url_errors_do_not_leak_the_token() {
    let secret = "SuperSecretToken0123456789";
    for bad in [
        format!("https://mdm.example.com/go?token={secret}&token={secret}"),
        format!("http://mdm.example.com/go?token={secret}"),
        format!("https://mdm.example.com/go?token={secret}%07"),
        format!("https://mdm.example.com/elsewhere?token={secret}"),
    ] {
        let e = err(&bad);
        assert!(!e.to_string().contains(secret), "{e}");
        assert!(!format!("{e:?}").contains(secret), "{e:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Android Enterprise provisioning JSON

#[test]
fn android_full_payload() {
    let text = android_json(
        r#","android.app.extra.PROVISIONING_WIFI_SSID":"Globex-Corp-59",
"android.app.extra.PROVISIONING_WIFI_SECURITY_TYPE":"WPA",
"android.app.extra.PROVISIONING_WIFI_PASSWORD":"hunter2-wifi",
"android.app.extra.PROVISIONING_WIFI_HIDDEN":"true",
"android.app.extra.PROVISIONING_LEAVE_ALL_SYSTEM_APPS_ENABLED":true,
"android.app.extra.PROVISIONING_SKIP_ENCRYPTION":"false",
"android.app.extra.PROVISIONING_LOCALE":"ja_JP",
"android.app.extra.PROVISIONING_TIME_ZONE":"Europe/Berlin",
"android.app.extra.PROVISIONING_USE_MOBILE_DATA":true,
"android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":{
  "com.example.mdm.TOKEN":"WU50b9HaUjSDsj-sYiuKZzARTVTsEA",
  "com.example.mdm.SERVER_URL":"https://mdm.globex.example.com/api/v1/enroll",
  "com.example.mdm.TENANT_ID":"globex-79162",
  "com.example.mdm.RETRIES":3,
  "com.example.mdm.NESTED":{"a":[1,2.5,"x"]}}"#,
    );
    let intent = parse(&text).unwrap();
    let EnrollmentIntent::AndroidProvisioning(a) = &intent else {
        panic!()
    };
    assert_eq!(a.admin_component.as_deref(), Some("com.example.mdm/.Admin"));
    assert_eq!(a.admin_package, "com.example.mdm");
    assert_eq!(
        a.download_location.as_ref().unwrap().as_str(),
        "https://mdm.example.com/a.apk"
    );
    assert_eq!(a.signature_checksum.unwrap().len(), 32);
    let wifi = a.wifi.as_ref().unwrap();
    assert_eq!(wifi.ssid.as_deref(), Some("Globex-Corp-59"));
    assert_eq!(wifi.security, Some(WifiSecurity::Wpa));
    assert_eq!(wifi.password.as_ref().unwrap().expose(), "hunter2-wifi");
    assert_eq!(wifi.hidden, Some(true));
    assert_eq!(a.leave_all_system_apps_enabled, Some(true));
    assert_eq!(a.skip_encryption, Some(false));
    assert_eq!(a.locale.as_deref(), Some("ja_JP"));
    assert_eq!(a.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        a.system_extras
            .get("android.app.extra.PROVISIONING_USE_MOBILE_DATA"),
        Some(&ExtraValue::Bool(true))
    );
    let ex = &a.admin_extras;
    assert_eq!(
        ex.enrollment_token.as_ref().unwrap().expose(),
        "WU50b9HaUjSDsj-sYiuKZzARTVTsEA"
    );
    assert_eq!(
        ex.server_url.as_ref().unwrap().as_str(),
        "https://mdm.globex.example.com/api/v1/enroll"
    );
    assert_eq!(
        ex.product_keys.get("com.example.mdm.TENANT_ID"),
        Some(&ExtraValue::Text("globex-79162".into()))
    );
    assert_eq!(
        ex.product_keys.get("com.example.mdm.RETRIES"),
        Some(&ExtraValue::Int(3))
    );
    assert!(matches!(
        ex.product_keys.get("com.example.mdm.NESTED"),
        Some(ExtraValue::Bundle(_))
    ));
    // Secrets never appear in Debug.
    let debug = format!("{intent:?}");
    assert!(!debug.contains("hunter2-wifi"), "{debug}");
    assert!(!debug.contains("WU50b9HaUjSDsj"), "{debug}");
}

#[test]
fn android_our_server_keys() {
    let text = android_json(
        r#","android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":{
  "enroll.SERVER_URL":"https://enroll.example.com",
  "enroll.ENROLLMENT_TOKEN":"ent_AAAAAAAAAAAAAAAAAAAAAA",
  "enroll.PROFILE_ID":"default",
  "enroll.attr.department":"sales",
  "enroll.attr.site":"berlin"}"#,
    );
    let EnrollmentIntent::AndroidProvisioning(a) = parse(&text).unwrap() else {
        panic!()
    };
    let ex = &a.admin_extras;
    assert_eq!(
        ex.server_url.as_ref().unwrap().as_str(),
        "https://enroll.example.com/"
    );
    assert_eq!(
        ex.enrollment_token.as_ref().unwrap().expose(),
        "ent_AAAAAAAAAAAAAAAAAAAAAA"
    );
    assert_eq!(ex.profile_id.as_deref(), Some("default"));
    assert_eq!(ex.attributes.get("department").map(String::as_str), Some("sales"));
    assert_eq!(ex.attributes.len(), 2);
    assert!(ex.product_keys.is_empty());
}

#[test]
fn android_checksums_with_and_without_padding() {
    for sum in [CHECKSUM, &format!("{CHECKSUM}=")] {
        let text = format!(
            r#"{{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME":"com.example.mdm/.Admin",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM":"{sum}",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION":"https://x.example/a.apk"}}"#
        );
        let EnrollmentIntent::AndroidProvisioning(a) = parse(&text).unwrap() else {
            panic!()
        };
        assert!(a.package_checksum.is_some());
    }
}

#[test]
fn android_bad_checksums() {
    for bad in [
        "xacWPXztgVwgj-05lbC2J4SSqYzTW5rlYYNWYxBjbR",    // 31.x bytes
        "xacWPXztgVwgj-05lbC2J4SSqYzTW5rlYYNWYxBjbRwAA", // 33 bytes
        "xacWPXztgVwgj+05lbC2J4SSqYzTW5rlYYNWYxBjbRw",   // standard alphabet
        "not base64 at all!!",
        "",
        "xacWPXztgVwgj-05lbC2J4SSqYzTW5rlYYNWYxBjbRw===",
    ] {
        let text = format!(
            r#"{{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME":"com.example.mdm/.Admin",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM":"{bad}"}}"#
        );
        assert!(matches!(err(&text), PayloadError::InvalidValue { .. }), "{bad}");
    }
    let text = r#"{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME":"com.example.mdm/.Admin",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM":12}"#;
    assert!(matches!(err(text), PayloadError::WrongType { .. }));
}

#[test]
fn android_download_requires_https_and_checksum() {
    let text = r#"{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME":"com.example.mdm/.Admin",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM":"xacWPXztgVwgj-05lbC2J4SSqYzTW5rlYYNWYxBjbRw",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION":"http://mdm.example.com/a.apk"}"#;
    assert!(matches!(err(text), PayloadError::InsecureUrl { .. }));
    let text = r#"{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME":"com.example.mdm/.Admin",
"android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION":"https://mdm.example.com/a.apk"}"#;
    assert!(matches!(err(text), PayloadError::MissingField { .. }));
    let text = android_json(
        r#","android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":{"x.SERVER_URL":"http://evil.example"}"#,
    );
    assert!(matches!(err(&text), PayloadError::InsecureUrl { .. }));
}

#[test]
fn android_wrong_types_and_values() {
    let cases = [
        (
            r#","android.app.extra.PROVISIONING_SKIP_ENCRYPTION":"yes""#,
            "bool string",
        ),
        (
            r#","android.app.extra.PROVISIONING_SKIP_ENCRYPTION":1"#,
            "bool number",
        ),
        (r#","android.app.extra.PROVISIONING_WIFI_SSID":42"#, "ssid number"),
        (
            r#","android.app.extra.PROVISIONING_WIFI_SECURITY_TYPE":"WPA9""#,
            "security",
        ),
        (r#","android.app.extra.PROVISIONING_WIFI_SSID":"""#, "empty ssid"),
        (
            r#","android.app.extra.PROVISIONING_WIFI_SSID":"0123456789012345678901234567890123""#,
            "long ssid",
        ),
        (
            r#","android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":"x""#,
            "bundle string",
        ),
        (
            r#","android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":{"a.TOKEN":5}"#,
            "token number",
        ),
        (
            r#","android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":{"a.TOKEN":"x","b.ENROLLMENT_TOKEN":"y"}"#,
            "two tokens",
        ),
        (
            r#","android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":{"a.TOKEN":""}"#,
            "empty token",
        ),
        (
            r#","android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":{"a.X":null}"#,
            "null",
        ),
        (r#","android.app.extra.PROVISIONING_LOCALE":"en US""#, "locale"),
        (
            r#","android.app.extra.PROVISIONING_TIME_ZONE":"Europe/Berlin;rm""#,
            "tz",
        ),
        (
            r#","android.app.extra.PROVISIONING_WIFI_PASSWORD":["x"]"#,
            "password array",
        ),
        (r#","com.example.OTHER":1"#, "non-android top-level key"),
        (r#","":1"#, "empty key"),
    ];
    for (extra, what) in cases {
        let e = err(&android_json(extra));
        assert!(
            matches!(
                e,
                PayloadError::WrongType { .. }
                    | PayloadError::InvalidValue { .. }
                    | PayloadError::ConflictingKeys { .. }
                    | PayloadError::UnexpectedKey { .. }
            ),
            "{what}: {e:?}"
        );
    }
    let bad_component = r#"{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME":"no slash"}"#;
    assert!(matches!(err(bad_component), PayloadError::InvalidValue { .. }));
    let missing = r#"{"android.app.extra.PROVISIONING_WIFI_SSID":"x"}"#;
    assert!(matches!(err(missing), PayloadError::MissingField { .. }));
}

#[test]
fn wifi_password_never_in_errors() {
    let secret = "wifi-secret-\u{7}-pw";
    let text = android_json(&format!(
        r#","android.app.extra.PROVISIONING_WIFI_PASSWORD":"{}""#,
        secret.replace('\u{7}', "\\u0007")
    ));
    let e = err(&text);
    assert!(matches!(e, PayloadError::ControlCharacter { .. }), "{e:?}");
    assert!(!e.to_string().contains("wifi-secret"));
    assert!(!format!("{e:?}").contains("wifi-secret"));
}

// ---------------------------------------------------------------------------------------------
// Samsung KME DPC extras

#[test]
fn kme_custom_json() {
    let text = r#"{"enroll.SERVER_URL":"https://enroll.example.com/","enroll.ENROLLMENT_TOKEN":"ent_abcdefghijklmnopqrstuv","enroll.attr.team":"blue"}"#;
    let intent = parse(text).unwrap();
    let EnrollmentIntent::KmeExtras(ex) = &intent else {
        panic!("{intent:?}")
    };
    assert_eq!(
        ex.server_url.as_ref().unwrap().as_str(),
        "https://enroll.example.com/"
    );
    assert_eq!(ex.attributes.get("team").map(String::as_str), Some("blue"));
    assert!(!format!("{intent:?}").contains("ent_abcdefghijklmnopqrstuv"));
    // Other vendors' keys work by suffix.
    let text = r#"{"com.vendor.TOKEN":"abcdefghijklmnop"}"#;
    assert!(matches!(parse(text).unwrap(), EnrollmentIntent::KmeExtras(_)));
    // An object with neither server nor token is not an enrollment payload.
    assert!(matches!(err(r#"{"a":1}"#), PayloadError::MissingField { .. }));
    assert!(matches!(err("{}"), PayloadError::MissingField { .. }));
}

// ---------------------------------------------------------------------------------------------
// Bare tokens

#[test]
fn bare_tokens() {
    let intent = parse("ent_Zm9vYmFyYmF6cXV4MTIzNDU2").unwrap();
    assert!(matches!(&intent, EnrollmentIntent::Token(t) if t.expose() == "ent_Zm9vYmFyYmF6cXV4MTIzNDU2"));
    assert!(!format!("{intent:?}").contains("Zm9vYmFy"));
    assert!(parse(&"a".repeat(16)).is_ok());
    assert!(parse(&"a".repeat(256)).is_ok());
    assert!(matches!(err(&"a".repeat(15)), PayloadError::UnrecognizedFormat));
    assert!(matches!(err(&"a".repeat(257)), PayloadError::InvalidValue { .. }));
    assert!(matches!(
        err("abcdefghijklmnop!"),
        PayloadError::UnrecognizedFormat
    ));
    assert!(matches!(
        err("hello world, a plain QR code"),
        PayloadError::UnrecognizedFormat
    ));
    // Surrounding newline is tolerated.
    assert!(parse("ent_Zm9vYmFyYmF6cXV4MTIzNDU2\n").is_ok());
}

// ---------------------------------------------------------------------------------------------
// Hostile input

#[test]
fn empty_and_oversize() {
    assert_eq!(err(""), PayloadError::Empty);
    assert_eq!(err(" \n\t"), PayloadError::Empty);
    let big = format!("https://mdm.example.com/go?token={}", "a".repeat(5000));
    assert!(matches!(err(&big), PayloadError::TooLong { max: 4096, .. }));
    let big_json = format!(r#"{{"a.TOKEN":"{}"}}"#, "a".repeat(4100));
    assert!(matches!(err(&big_json), PayloadError::TooLong { .. }));
    assert!(matches!(
        parse_payload_bytes(&vec![b'a'; 10_000], &PayloadOptions::default()),
        Err(PayloadError::TooLong { .. })
    ));
}

#[test]
fn control_characters_and_nul() {
    assert!(matches!(
        err("ent_abcdefghij\0klmnop"),
        PayloadError::ControlCharacter { code: 0, .. }
    ));
    assert!(matches!(
        err("https://mdm.example.com/go?token=abc\u{1b}[31m"),
        PayloadError::ControlCharacter { .. }
    ));
    assert!(matches!(
        err("{\"a.TOKEN\":\"abc\u{0}\"}"),
        PayloadError::ControlCharacter { .. }
    ));
    assert!(matches!(
        err(r#"{"a.TOKEN":"abc\u0000def"}"#),
        PayloadError::ControlCharacter { .. }
    ));
    assert!(matches!(
        err("{\"a.TOKEN\u{1}\":\"abcdefghijklmnop\"}"),
        PayloadError::ControlCharacter { .. }
    ));
    assert!(matches!(
        err("{\"a.TOKEN\":\"abc\u{85}\"}"),
        PayloadError::ControlCharacter { .. }
    ));
    // Formatting whitespace in JSON is fine.
    assert!(parse("{\n\t\"a.TOKEN\" : \"abcdefghijklmnop\"\r\n}").is_ok());
}

#[test]
fn broken_json() {
    for bad in [
        "{",
        "{\"a.TOKEN\":}",
        "{\"a.TOKEN\":\"abcdefghijklmnop\"",
        "{\"a.TOKEN\":\"abcdefghijklmnop\"} trailing",
        "{'a':1}",
        "{\"a\":tru}",
        "{\"a\":1,}",
    ] {
        assert!(matches!(err(bad), PayloadError::InvalidJson { .. }), "{bad}");
    }
    assert!(matches!(err("[1,2]"), PayloadError::UnrecognizedFormat));
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = format!("{}{}", "{\"a\":".repeat(5000), "}".repeat(5000));
    assert!(matches!(
        err(&deep[..4000.min(deep.len())]),
        PayloadError::JsonTooDeep { .. } | PayloadError::InvalidJson { .. }
    ));
    let deep = format!(
        r#"{{"a.TOKEN":"abcdefghijklmnop","x":{}1{}}}"#,
        "[".repeat(20),
        "]".repeat(20)
    );
    assert!(matches!(err(&deep), PayloadError::JsonTooDeep { max: 8 }));
    let ok = format!(
        r#"{{"a.TOKEN":"abcdefghijklmnop","x":{}1{}}}"#,
        "[".repeat(6),
        "]".repeat(6)
    );
    assert!(parse(&ok).is_ok());
}

#[test]
fn too_many_values_is_bounded() {
    let many: Vec<String> = (0..300).map(|i| format!("\"k{i}\":1")).collect();
    let text = format!(r#"{{"a.TOKEN":"abcdefghijklmnop",{}}}"#, many.join(","));
    assert!(matches!(err(&text), PayloadError::JsonTooManyValues { max: 256 }));
    let arr = format!(
        r#"{{"a.TOKEN":"abcdefghijklmnop","x":[{}]}}"#,
        vec!["0"; 1000].join(",")
    );
    assert!(matches!(err(&arr), PayloadError::JsonTooManyValues { .. }));
}

#[test]
fn huge_numbers() {
    for n in [
        "1e400",
        "-1e400",
        "18446744073709551616",
        "99999999999999999999999",
        "1.5e300",
    ] {
        let text = format!(r#"{{"a.TOKEN":"abcdefghijklmnop","n":{n}}}"#);
        let e = err(&text);
        assert!(
            matches!(
                e,
                PayloadError::NumberOutOfRange { .. } | PayloadError::InvalidJson { .. }
            ),
            "{n}: {e:?}"
        );
    }
    // Big but representable numbers are kept.
    let text = r#"{"a.TOKEN":"abcdefghijklmnop","n":9223372036854775807,"f":1.5e10,"g":-0.25}"#;
    assert!(parse(text).is_ok());
}

#[test]
fn duplicate_keys() {
    let text = r#"{"a.TOKEN":"abcdefghijklmnop","a.TOKEN":"qrstuvwxyzabcdef"}"#;
    assert!(matches!(err(text), PayloadError::DuplicateKey { .. }));
    let text = android_json(
        r#","android.app.extra.PROVISIONING_SKIP_ENCRYPTION":true,"android.app.extra.PROVISIONING_SKIP_ENCRYPTION":false"#,
    );
    assert!(matches!(err(&text), PayloadError::DuplicateKey { .. }));
    let nested = r#"{"a.TOKEN":"abcdefghijklmnop","b":{"x":1,"x":2}}"#;
    assert!(matches!(err(nested), PayloadError::DuplicateKey { .. }));
}

#[test]
fn empty_strings() {
    assert!(matches!(
        err(r#"{"a.SERVER_URL":""}"#),
        PayloadError::InvalidValue { .. }
    ));
    assert!(matches!(
        err(&android_json(r#","android.app.extra.PROVISIONING_LOCALE":"""#)),
        PayloadError::InvalidValue { .. }
    ));
    assert!(matches!(
        err(r#"{"enroll.attr.":"x","a.TOKEN":"abcdefghijklmnop"}"#),
        PayloadError::InvalidValue { .. }
    ));
}

#[test]
fn very_long_tokens() {
    let long = "a".repeat(2000);
    let text = format!(r#"{{"a.TOKEN":"{long}"}}"#);
    assert!(matches!(err(&text), PayloadError::InvalidValue { .. }));
    let text = format!("https://mdm.example.com/go?token={long}");
    assert!(matches!(err(&text), PayloadError::InvalidValue { .. }));
}

#[test]
fn invalid_utf8_and_shift_jis() {
    // "テスト" in Shift_JIS.
    let sjis = [0x83u8, 0x65, 0x83, 0x58, 0x83, 0x67];
    assert!(matches!(
        parse_payload_bytes(&sjis, &PayloadOptions::default()),
        Err(PayloadError::InvalidUtf8 { offset: 0 })
    ));
    // Decoded Japanese text is valid UTF-8 but not an enrollment payload.
    assert!(matches!(err("テスト"), PayloadError::UnrecognizedFormat));
    // A valid payload given as bytes.
    assert!(parse_payload_bytes(b"ent_Zm9vYmFyYmF6cXV4MTIzNDU2", &PayloadOptions::default()).is_ok());
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Cheap deterministic fuzz: mutations of valid payloads and random bytes.
    let seeds = [
        android_json(
            r#","android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":{"a.TOKEN":"abcdefghijklmnop"}"#,
        ),
        "https://mdm.example.com/tenant/go?token=abc&user=a%40b".to_owned(),
        r#"{"enroll.SERVER_URL":"https://e.example","enroll.ENROLLMENT_TOKEN":"ent_aaaaaaaaaaaaaaaa"}"#
            .to_owned(),
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    for seed in &seeds {
        let bytes = seed.as_bytes();
        for _ in 0..2000 {
            let mut b = bytes.to_vec();
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..b.len());
                match rng.u8(..3) {
                    0 => b[i] = rng.u8(..),
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, rng.u8(..)),
                }
            }
            let _ = parse_payload_bytes(&b, &PayloadOptions::default());
        }
    }
    for _ in 0..2000 {
        let len = rng.usize(..200);
        let b: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let _ = parse_payload_bytes(&b, &PayloadOptions::default());
    }
}

// ---------------------------------------------------------------------------------------------
// Corpus payloads

fn corpus_root() -> PathBuf {
    std::env::var_os("ENROLL_QR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/qr-corpus"))
}

#[test]
fn every_synthetic_enroll_payload_parses() {
    let dir = corpus_root().join("dev/synthetic-enroll");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "QR corpus missing at {} ({e}); set ENROLL_QR_CORPUS or check out shared/qr-corpus",
            dir.display()
        )
    });
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("txt") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let intent = parse_payload_bytes(&bytes, &PayloadOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            intent.token().is_some() || intent.server_url().is_some(),
            "{}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 50, "only {n} payloads found in {}", dir.display());
}
