//! Fuzz target `profile_cms`: `enroll_core::profile::verify_cms`, the agent's reader and
//! verifier of CMS SignedData (RFC 5652) around a `.mobileconfig`, with one fixed trusted CA
//! (`fuzz/fixtures/ca.der`) and a fixed clock inside the validity of the seed certificates.
//!
//! Covers the ContentInfo / SignedData / SignerInfo walk of the DER reader, certificate parsing
//! of every certificate carried, signer lookup, validity dates, chain building to the anchor,
//! signed attributes (`messageDigest`, `contentType`) and the signature check (through `ring`).
//! When a message verifies, its content goes on to `check_profile_content`, as in
//! `verify_profile`.
//!
//! Checks beyond "no panic": a message that verifies still verifies against the same anchor
//! given twice, and never against an empty anchor list.
#![no_main]

use enroll_core::profile::{check_profile_content, verify_cms};
use libfuzzer_sys::fuzz_target;

/// The trusted CA the seeds in `fuzz/corpus/profile_cms/` are signed under.
const CA_DER: &[u8] = include_bytes!("../fixtures/ca.der");
/// 2027-01-01T00:00:00Z: inside the validity of the seed CA and signers.
const NOW: i64 = 1_798_761_600;

fuzz_target!(|data: &[u8]| {
    let anchors = [CA_DER.to_vec()];
    match verify_cms(data, &anchors, NOW) {
        Ok((content, signer)) => {
            assert!(!signer.is_empty());
            let twice = [CA_DER.to_vec(), CA_DER.to_vec()];
            assert_eq!(verify_cms(data, &twice, NOW).map(|(c, _)| c), Ok(content.clone()));
            assert!(verify_cms(data, &[], NOW).is_err(), "verified without an anchor");
            let _ = check_profile_content(&content);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
