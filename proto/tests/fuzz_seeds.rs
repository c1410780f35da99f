//! The seed corpus of the fuzz target `request_json` (`fuzz/corpus/request_json/`): the JSON
//! request bodies of the agent and administrator routes, encoded from the `enroll-proto`
//! types by serde as the agent and the CLI send them. Each seed is one selector byte (the
//! type, as `fuzz/fuzz_targets/request_json.rs` numbers them) and the body.
//!
//! - `ENROLL_WRITE_FUZZ_SEEDS=1 cargo test -p enroll-proto --features admin --test fuzz_seeds`
//!   regenerates them;
//! - plain `cargo test -p enroll-proto --features admin --test fuzz_seeds` checks that the
//!   committed seeds still decode as their type (`body::decode_json_body`, the server's).
#![cfg(feature = "admin")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_proto::body::decode_json_body;
use enroll_proto::secret::SecretString;
use enroll_proto::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/request_json")
}

fn device() -> DeviceDescriptor {
    DeviceDescriptor {
        platform: Platform::Android,
        os_version: "14".into(),
        model: "Pixel 8".into(),
        manufacturer: "Google".into(),
        serial: Some("FUZZSERIAL01".into()),
        imeis: vec!["490154203237518".into()],
        hardware_id: Some("hw-fuzz-0001".into()),
        agent_version: "0.1.0".into(),
    }
}

/// (selector, file name, body).
fn seeds() -> Vec<(u8, &'static str, Vec<u8>)> {
    let j = |v: &dyn erased::Ser| v.json();
    let mut details = BTreeMap::new();
    details.insert("battery".to_owned(), "87".to_owned());
    vec![
        (
            0,
            "enroll-token.json",
            j(&EnrollRequest {
                credential: CredentialWire::Token {
                    token: SecretString::new("enr_fuzz0123456789abcdef0123456789abcdef"),
                },
                device: device(),
            }),
        ),
        (
            0,
            "enroll-pin.json",
            j(&EnrollRequest {
                credential: CredentialWire::Pin {
                    user: "pin@example.com".into(),
                    pin: SecretString::new("12345678"),
                },
                device: device(),
            }),
        ),
        (
            0,
            "enroll-password.json",
            j(&EnrollRequest {
                credential: CredentialWire::Password {
                    user: "pw@example.com".into(),
                    password: SecretString::new("Fuzz-Passw0rd"),
                },
                device: device(),
            }),
        ),
        (
            1,
            "confirm.json",
            j(&ConfirmRequest {
                profile_uuid: "7C1D5F0A-0000-4000-8000-000000000001".into(),
            }),
        ),
        (
            2,
            "cancel.json",
            j(&CancelRequest {
                reason: "the user cancelled".into(),
            }),
        ),
        (
            3,
            "checkin.json",
            j(&CheckinRequest {
                device: device(),
                details,
            }),
        ),
        (
            4,
            "ack.json",
            j(&AckRequest {
                action: DeviceAction::Retire,
            }),
        ),
        (5, "reenroll.json", j(&ReenrollRequest { device: device() })),
        (
            6,
            "user.json",
            j(&CreateUserRequest {
                email: "new@example.com".into(),
                display_name: "New User".into(),
                password: Some(SecretString::new("Fuzz-Passw0rd")),
                directory: false,
            }),
        ),
        (
            7,
            "invite.json",
            j(&InviteRequest {
                with_pin: true,
                pin_ttl_secs: Some(3600),
            }),
        ),
        (
            8,
            "token.json",
            j(&CreateTokenRequest {
                user: "tok@example.com".into(),
                days: Some(30),
                never_expires: false,
            }),
        ),
    ]
}

/// Serialising through a trait object, so that one list holds every type.
mod erased {
    pub trait Ser {
        fn json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}

#[test]
fn committed_seeds_decode() {
    if std::env::var_os("ENROLL_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(corpus()).unwrap();
        for (sel, name, body) in seeds() {
            let mut data = vec![sel];
            data.extend_from_slice(&body);
            std::fs::write(corpus().join(name), data).unwrap();
        }
        // The administrator types not built above start from an empty object.
        for sel in 9..20u8 {
            std::fs::write(
                corpus().join(format!("empty-{sel:02}.json")),
                [&[sel][..], b"{}"].concat(),
            )
            .unwrap();
        }
    }
    for (sel, name, _) in seeds() {
        let data = std::fs::read(corpus().join(name)).unwrap();
        assert_eq!(data[0], sel, "{name}");
        let body = &data[1..];
        let ok = match sel {
            0 => decode_json_body::<EnrollRequest>(body).is_ok(),
            1 => decode_json_body::<ConfirmRequest>(body).is_ok(),
            2 => decode_json_body::<CancelRequest>(body).is_ok(),
            3 => decode_json_body::<CheckinRequest>(body).is_ok(),
            4 => decode_json_body::<AckRequest>(body).is_ok(),
            5 => decode_json_body::<ReenrollRequest>(body).is_ok(),
            6 => decode_json_body::<CreateUserRequest>(body).is_ok(),
            7 => decode_json_body::<InviteRequest>(body).is_ok(),
            8 => decode_json_body::<CreateTokenRequest>(body).is_ok(),
            _ => unreachable!(),
        };
        assert!(ok, "{name} does not decode");
    }
}
