//! Fuzz target `profile_content`: `enroll_core::profile::check_profile_content`, the check of a
//! profile's plist content after its signature verified: the XML nesting pre-check, the
//! `plist` crate's XML reader, and the required keys of an MDM enrollment profile
//! (`PayloadType`, `PayloadUUID`, `PayloadIdentifier`, `PayloadVersion`,
//! `PayloadExpirationDate`, one `com.apple.mdm` payload with an https `ServerURL`, its `Topic`
//! and `IdentityCertificateUUID` naming a SCEP or PKCS#12 payload).
//!
//! Checks beyond "no panic": what is accepted has an https server URL and a push topic.
#![no_main]

use enroll_core::profile::check_profile_content;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match check_profile_content(data) {
        Ok(profile) => {
            assert!(
                profile.server_url.starts_with("https://"),
                "non-https ServerURL accepted"
            );
            assert!(profile.topic.starts_with("com.apple.mgmt."), "bad Topic accepted");
            assert!(matches!(
                profile.identity_type.as_str(),
                "com.apple.security.scep" | "com.apple.security.pkcs12"
            ));
            let _ = format!("{profile:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
