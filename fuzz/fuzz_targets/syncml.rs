//! Fuzz target `syncml`: the OMA-DM SyncML 1.2 bodies the reference server's Windows
//! management route parses (`server/src/windows/omadm.rs`), with `enroll_wmdm::syncml::
//! Message::parse` (size limit, DTD refusal, node and depth limits, `SyncHdr`, the commands,
//! their items and metadata, `Final`).
//!
//! Input: the body, as the server gets it (bytes, refused unless UTF-8).
//!
//! Seeds: messages of a real session written by `enroll-wmdm`'s writer (what `enroll-wsim`
//! sends), made by `cargo test -p enroll-wsim --test fuzz_seeds` (see that file).
//!
//! Checks beyond "no panic": every refusal is bounded and quotes nothing of the input
//! (`common::check_refusal`); a message that parses is written again and reads back equal
//! (round trip), and holds at most the crate's command limit.
#![no_main]

mod common;

use common::check_refusal;
use enroll_wmdm::syncml::{Message, MAX_COMMANDS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Message::parse(text) {
        Ok(msg) => {
            assert!(msg.commands.len() <= MAX_COMMANDS);
            let again = msg.to_xml();
            assert_eq!(
                Message::parse(&again).expect("our message parses"),
                msg,
                "{again}"
            );
        }
        Err(e) => check_refusal(&e.to_string()),
    }
});
