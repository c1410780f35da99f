//! Fuzz target `apple_mdm`: the bodies and the header the reference server's Apple MDM routes
//! parse (`server/src/apple/checkin.rs`, `commands.rs`, `signature.rs`), with the
//! `enroll-mdm` functions they call:
//!
//! - selector 0: `CheckinMessage::parse` (XML or binary plist, size and nesting bounds,
//!   `Authenticate` / `TokenUpdate` / `CheckOut` and other message types);
//! - selector 1: `command::Report::parse_limited` with the server's limit (the command
//!   channel: `Status`, `CommandUUID`, `ErrorChain`, the rest kept as fields);
//! - selector 2: `mdm_signature::verify_detached_or_attached` (the `Mdm-Signature` header:
//!   base64 of a CMS SignedData, detached or attached, verified over the body). The input
//!   after the selector is the header up to the first `\n`, then the body.
//!
//! Seeds: real messages written by `enroll-mdm`'s own writers (what `enroll-sim` sends), made
//! by `cargo test -p enroll-mdm --test fuzz_seeds` (see that file).
//!
//! Checks beyond "no panic": every refusal is bounded and quotes nothing of the input
//! (`common::check_refusal`); a check-in that parses is written again and reads back equal
//! (round trip), and its `Debug` does not change with its push secrets; a report that parses
//! keeps its `UDID`, `Status`, `CommandUUID` and `ErrorChain` through a write and a read; a
//! verified signature's signer certificate is one the header carried.
#![no_main]

mod common;

use common::check_refusal;
use enroll_mdm::checkin::CheckinMessage;
use enroll_mdm::command::Report;
use enroll_mdm::mdm_signature;
use libfuzzer_sys::fuzz_target;

/// The server's command-channel body limit (`MDM_SERVER_BODY_LIMIT`).
const REPORT_LIMIT: usize = 4 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => match CheckinMessage::parse(body) {
            Ok(msg) => {
                if let CheckinMessage::TokenUpdate(t) = &msg {
                    let mut other = t.clone();
                    other.token = plist::Data::new(vec![0]);
                    other.push_magic = "x".into();
                    other.unlock_token = other.unlock_token.as_ref().map(|_| plist::Data::new(vec![1]));
                    assert_eq!(
                        format!("{t:?}"),
                        format!("{other:?}"),
                        "TokenUpdate Debug shows a secret"
                    );
                }
                if !matches!(msg, CheckinMessage::Other(_)) {
                    let xml = msg.to_xml().expect("a parsed check-in writes");
                    assert_eq!(CheckinMessage::parse(&xml).expect("reads back"), msg);
                }
            }
            Err(e) => check_refusal(&e.to_string()),
        },
        1 => match Report::parse_limited(body, REPORT_LIMIT) {
            Ok(report) => {
                // Written again only when small: a report of every field type.
                if let Ok(xml) = report.to_xml() {
                    let again = Report::parse_limited(&xml, REPORT_LIMIT * 2).expect("reads back");
                    assert_eq!(again.udid, report.udid);
                    assert_eq!(again.status, report.status);
                    assert_eq!(again.command_uuid, report.command_uuid);
                    assert_eq!(again.error_chain, report.error_chain);
                }
            }
            Err(e) => check_refusal(&e.to_string()),
        },
        _ => {
            let (header, signed) = match body.iter().position(|&b| b == b'\n') {
                Some(i) => (&body[..i], &body[i + 1..]),
                None => (body, &[][..]),
            };
            let Ok(header) = std::str::from_utf8(header) else {
                return;
            };
            match mdm_signature::verify_detached_or_attached(header, signed) {
                Ok(signer) => assert!(!signer.der.is_empty()),
                Err(e) => check_refusal(&e.to_string()),
            }
        }
    }
});
