//! Fuzz target `request_json`: the JSON request bodies of the reference server, decoded as its
//! extractor does (`server/src/http/extract.rs` calls `enroll_proto::body::decode_json_body`)
//! into the `enroll-proto` request types of its routes: the agent's (`EnrollRequest`,
//! `ConfirmRequest`, `CancelRequest`, `CheckinRequest`, `AckRequest`, `ReenrollRequest`) and
//! the administrator's (users, invitations, tokens, bulk profiles and devices, Samsung KME,
//! MDM commands).
//!
//! Input layout: byte 0 picks the type, the rest is the body (the server bounds it to
//! `MAX_BODY_BYTES` before decoding).
//!
//! Seeds: each type's JSON as the CLI and the agent send it, made by
//! `cargo test -p enroll-proto --features admin --test fuzz_seeds` (see that file).
//!
//! Checks beyond "no panic": a refusal is one of the fixed phrases (`BODY_ERROR_PHRASES`),
//! with only field names the type declares and a position, bounded and quoting nothing
//! (`common::check_refusal`); a body that decodes is encoded again and decodes to the same
//! value (round trip through the encoding the clients use).
#![no_main]

mod common;

use common::check_refusal;
use enroll_proto::body::{decode_json_body, is_field_name, BodyError, BODY_ERROR_PHRASES};
use enroll_proto::*;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The names in a detail after its phrase: backquoted field names separated by `, ` or ` or `.
fn check_detail(detail: &str) {
    let phrase = BODY_ERROR_PHRASES
        .iter()
        .find(|p| detail.starts_with(**p))
        .unwrap_or_else(|| panic!("unexpected wording: {detail:?}"));
    let rest = &detail[phrase.len()..];
    let names = rest
        .strip_prefix(", expected one of ")
        .or_else(|| rest.strip_prefix(", expected "))
        .or_else(|| rest.strip_prefix(' '))
        .unwrap_or(rest);
    if names.is_empty() || names == "there are no fields" {
        return;
    }
    for part in names.split(", ").flat_map(|p| p.split(" or ")) {
        let name = part
            .strip_prefix('`')
            .and_then(|p| p.strip_suffix('`'))
            .unwrap_or_else(|| panic!("not a field name in {detail:?}"));
        assert!(is_field_name(name), "not a field name in {detail:?}");
    }
}

fn one<T: DeserializeOwned + Serialize>(body: &[u8]) {
    match decode_json_body::<T>(body) {
        Ok(v) => {
            let json = serde_json::to_vec(&v).expect("a decoded body encodes");
            let again: T = decode_json_body(&json).expect("our encoding decodes");
            assert_eq!(
                serde_json::to_value(&again).expect("encodes"),
                serde_json::to_value(&v).expect("encodes"),
                "round trip"
            );
        }
        Err(e) => {
            check_refusal(&e.to_string());
            if let BodyError::Invalid { detail, .. } = &e {
                check_detail(detail);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    if body.len() > MAX_BODY_BYTES {
        return;
    }
    match selector % 20 {
        0 => one::<EnrollRequest>(body),
        1 => one::<ConfirmRequest>(body),
        2 => one::<CancelRequest>(body),
        3 => one::<CheckinRequest>(body),
        4 => one::<AckRequest>(body),
        5 => one::<ReenrollRequest>(body),
        6 => one::<CreateUserRequest>(body),
        7 => one::<InviteRequest>(body),
        8 => one::<CreateTokenRequest>(body),
        9 => one::<QueueCommandRequest>(body),
        10 => one::<CreateBulkProfileRequest>(body),
        11 => one::<UpdateBulkProfileRequest>(body),
        12 => one::<AddBulkDevicesRequest>(body),
        13 => one::<EditBulkDevicesRequest>(body),
        14 => one::<DeviceIdsRequest>(body),
        15 => one::<MoveDevicesRequest>(body),
        16 => one::<BulkTokenRequest>(body),
        17 => one::<KmeIntegrationRequest>(body),
        18 => one::<KmeApproveRequest>(body),
        _ => one::<EnrollRequest>(body),
    }
});
