//! Fuzz target `qr_payload`: the enrollment payload parser (`enroll_proto::payload`) on the
//! text a QR code or a link delivers.
//!
//! Covers every format the parser tries (invitation URLs, Android Enterprise provisioning JSON
//! with its limits on depth, value count and duplicate keys, Samsung KME extras, bare tokens),
//! with and without loopback http, plus `enroll_core::client::validate_base_url` on the same
//! text (what the agent does with a server URL before its first request).
//!
//! Checks beyond "no panic": the byte and text entry points agree, a parsed server URL is
//! https (or loopback http when allowed), and error messages never quote a parsed token.
#![no_main]

use enroll_core::client::validate_base_url;
use enroll_proto::payload::{parse_payload, parse_payload_bytes, EnrollmentIntent, PayloadOptions};
use libfuzzer_sys::fuzz_target;

/// Another byte of the same class (digit, lower, upper), others unchanged.
fn swap_byte(b: u8) -> u8 {
    match b {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => b + 1,
        b'9' => b'0',
        b'z' => b'a',
        b'Z' => b'A',
        other => other,
    }
}

fn check(data: &[u8], options: &PayloadOptions) {
    let from_bytes = parse_payload_bytes(data, options);
    if let Ok(text) = std::str::from_utf8(data) {
        let from_text = parse_payload(text, options);
        assert_eq!(from_bytes, from_text, "bytes and text entry points disagree");
    }
    match &from_bytes {
        Ok(intent) => {
            // Debug output must not panic (secrets are redacted there).
            let shown = format!("{intent:?}");
            if let Some(token) = intent.token() {
                let token = token.expose().as_bytes();
                // Only where no other field can hold the same text: the token occurs once in
                // the input, and nothing was decoded (every value is then a slice of it). The
                // token is then swapped in the input for another of the same length and
                // character classes: the Debug form must not change. (Checking "Debug does not
                // contain the token" is fooled by a token that is a piece of a type name.)
                let occurrences = data.windows(token.len().max(1)).filter(|w| *w == token).count();
                if !token.is_empty() && occurrences == 1 && !data.contains(&b'%') && !data.contains(&b'\\') {
                    let swapped_token: Vec<u8> = token.iter().map(|&b| swap_byte(b)).collect();
                    let at = data.windows(token.len()).position(|w| w == token).unwrap_or(0);
                    let mut swapped = data.to_vec();
                    swapped[at..at + token.len()].copy_from_slice(&swapped_token);
                    if let Ok(other) = parse_payload_bytes(&swapped, options) {
                        if other.token().map(|t| t.expose().as_bytes()) == Some(swapped_token.as_slice()) {
                            assert_eq!(shown, format!("{other:?}"), "Debug shows the token");
                        }
                    }
                }
            }
            if let Some(url) = intent.server_url() {
                let scheme = url.scheme();
                assert!(
                    scheme == "https" || (scheme == "http" && options.allow_insecure_loopback_http),
                    "insecure server URL accepted"
                );
                assert!(url.host().is_some(), "server URL without a host");
            }
            if let EnrollmentIntent::Invitation(inv) = intent {
                assert!(inv.server_base.query().is_none() && inv.server_base.fragment().is_none());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, &PayloadOptions::default());
    check(
        data,
        &PayloadOptions {
            allow_insecure_loopback_http: true,
            max_len: 1024,
        },
    );
    if let Ok(text) = std::str::from_utf8(data) {
        for allow in [false, true] {
            if let Ok(url) = validate_base_url(text, allow) {
                assert!(url.query().is_none() && url.fragment().is_none());
                assert!(url.scheme() == "https" || (allow && url.scheme() == "http"));
            }
        }
    }
});
