//! `Debug` of every type of this crate that holds a secret (issue 13): a planted secret must
//! not appear in it, in any encoding `Debug` could use (text, hex, base64, a byte list).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use enroll_mdm::cert::{build_csr, common_name, parse_csr};
use enroll_mdm::checkin::{CheckinMessage, TokenUpdate};
use enroll_mdm::command::{Command, CommandRequest};
use enroll_mdm::key::{RsaBits, RsaPrivateKey};

/// Panics if `shown` holds `secret` as text or any 12-byte piece of it as hex, base64 or a
/// `Debug` byte list.
fn assert_hidden(what: &str, shown: &str, secret: &[u8]) {
    if let Ok(text) = std::str::from_utf8(secret) {
        assert!(!shown.contains(text), "{what} shows the secret: {shown}");
    }
    for piece in secret.chunks(12).filter(|c| c.len() == 12) {
        let list = format!("{piece:?}");
        for form in [
            hex::encode(piece),
            hex::encode_upper(piece),
            base64::engine::general_purpose::STANDARD.encode(piece),
            list[1..list.len() - 1].to_owned(),
        ] {
            assert!(
                !shown.contains(&form),
                "{what} shows part of the secret ({form}): {shown}"
            );
        }
    }
}

#[test]
fn secret_holding_types_redact_their_debug() {
    let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
    let pkcs8 = key.to_pkcs8_der().unwrap();
    assert_hidden("RsaPrivateKey", &format!("{key:?}"), &pkcs8);

    let challenge = "Planted-Scep-Challenge-5e1f";
    let csr = build_csr(&key, &common_name("dev").unwrap(), Some(challenge)).unwrap();
    let parsed = parse_csr(&csr).unwrap();
    assert_eq!(parsed.challenge.as_deref().map(String::as_str), Some(challenge));
    assert_hidden("ParsedCsr", &format!("{parsed:?}"), challenge.as_bytes());

    let token = vec![0x5a; 32];
    let unlock = vec![0xa5; 40];
    let magic = "Planted-PushMagic-77aa";
    let update = CheckinMessage::TokenUpdate(TokenUpdate {
        topic: "com.apple.mgmt.x".into(),
        udid: "U".into(),
        token: plist::Data::new(token.clone()),
        push_magic: magic.into(),
        unlock_token: Some(plist::Data::new(unlock.clone())),
        awaiting_configuration: None,
    });
    for secret in [&token[..], &unlock[..], magic.as_bytes()] {
        assert_hidden("CheckinMessage::TokenUpdate", &format!("{update:?}"), secret);
    }

    let pin = "918273";
    for request_type in ["DeviceLock", "EraseDevice"] {
        let mut fields = plist::Dictionary::new();
        fields.insert("PIN".into(), plist::Value::String(pin.into()));
        let body = CommandRequest::build("C-1", request_type, fields).unwrap();
        let cmd = CommandRequest::parse(&body).unwrap();
        assert!(matches!(
            cmd.decoded,
            Command::DeviceLock { pin: Some(_), .. } | Command::EraseDevice { pin: Some(_) }
        ));
        assert_hidden("CommandRequest", &format!("{cmd:?}"), pin.as_bytes());
        assert_hidden("Command", &format!("{:?}", cmd.decoded), pin.as_bytes());
    }
}
