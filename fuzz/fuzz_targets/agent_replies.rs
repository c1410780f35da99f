//! Fuzz target `agent_replies`: what the agent parses out of an enrollment server's replies.
//!
//! - the JSON bodies the protocol client decodes (`RawReply::json`, the client's own decoder
//!   with its body-free error messages) into every reply type of `enroll_proto`:
//!   `ServerInfo`, `EnrollResponse`, `ConfirmResponse`, `CancelResponse`, `CheckinResponse`,
//!   `ErrorBody`;
//! - the error path of a failed call (`RawReply::to_error`): `Content-Type` sniffing, the
//!   `ErrorBody` decode, message sanitising (control characters dropped, 300 characters);
//! - the `Date` header as the client reads it for clock skew (`HeaderValue::to_str`, then
//!   `httpdate::parse_http_date`);
//! - the agent's persisted state (`PersistedState`), read back from the secure store at start.
//!
//! Input layout: byte 0 picks the `Content-Type`, bytes 1-2 the HTTP status, the rest is the
//! body (also used as the `Date` header value).
//!
//! Checks beyond "no panic": error messages never echo the body, and a sanitised server
//! message has no control characters and at most 300 characters.
#![no_main]

use enroll_core::agent::state::PersistedState;
use enroll_core::client::RawReply;
use enroll_core::Error;
use enroll_proto::{CancelResponse, CheckinResponse, ConfirmResponse, EnrollResponse, ErrorBody, ServerInfo};
use libfuzzer_sys::fuzz_target;
use reqwest::header::HeaderValue;

const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "Application/JSON; charset=utf-8",
    "application/x-apple-aspen-config",
    "text/html",
];

/// The phrases a decoding error may use; everything else in it is a position.
const DECODE_PHRASES: [&str; 4] = [
    "invalid JSON syntax",
    "truncated JSON",
    "JSON of an unexpected shape",
    "unreadable JSON",
];

/// Decoding errors name the position, never the body: the detail must be one of the fixed
/// phrases followed by ` at line N column M`. (Checking "the message does not contain the
/// body" is not enough: a body that is itself a piece of the fixed wording, which libFuzzer
/// finds from the comparison, would be contained without being echoed.)
fn check_no_echo<T>(result: Result<T, Error>) {
    let Err(e) = result else { return };
    let Error::MalformedResponse(detail) = &e else {
        panic!("decoding gave {e:?}, not MalformedResponse");
    };
    let rest = DECODE_PHRASES
        .iter()
        .find_map(|p| detail.strip_prefix(p))
        .unwrap_or_else(|| panic!("unexpected decode wording: {detail:?}"));
    let position = rest
        .strip_prefix(" at line ")
        .and_then(|r| r.split_once(" column "));
    let Some((line, column)) = position else {
        panic!("decode error without a position: {detail:?}");
    };
    assert!(
        line.parse::<usize>().is_ok() && column.parse::<usize>().is_ok(),
        "decode error carries more than a position: {detail:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (status, body) = match rest {
        [hi, lo, body @ ..] => (100 + u16::from_be_bytes([*hi, *lo]) % 500, body),
        _ => (200, rest),
    };
    let reply = RawReply {
        status,
        content_type: CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()].to_owned(),
        body: body.to_vec(),
    };

    check_no_echo(reply.json::<ServerInfo>());
    check_no_echo(reply.json::<EnrollResponse>());
    check_no_echo(reply.json::<ConfirmResponse>());
    check_no_echo(reply.json::<CancelResponse>());
    check_no_echo(reply.json::<CheckinResponse>());
    check_no_echo(reply.json::<ErrorBody>());
    let _ = reply.is_success();
    match reply.to_error() {
        Error::Server { status: s, info } => {
            assert_eq!(s, status);
            assert!(
                info.message.chars().count() <= 300,
                "server message not truncated"
            );
            assert!(
                !info.message.chars().any(char::is_control),
                "control character kept"
            );
        }
        other => panic!("to_error gave {other:?}"),
    }

    if let Ok(value) = HeaderValue::from_bytes(body) {
        if let Ok(date) = value.to_str() {
            if let Ok(t) = httpdate::parse_http_date(date) {
                let _ = t.duration_since(std::time::UNIX_EPOCH);
            }
        }
    }

    if let Ok(state) = serde_json::from_slice::<PersistedState>(body) {
        let _ = serde_json::to_vec(&state);
    }
});
