//! Fuzz target `windows_soap`: the SOAP bodies the reference server's Windows enrollment
//! routes parse (`server/src/windows/enroll.rs`), with the `enroll-wmdm` readers it calls:
//!
//! - `Envelope::parse`: size limit, DTD/entity refusal, roxmltree with a node limit, depth
//!   limit, WS-Addressing header, the WS-Security credential (UsernameToken or
//!   BinarySecurityToken);
//! - by `wsa:Action`: MS-MDE2 `DiscoverRequest::read`, MS-XCEP `read_get_policies`, MS-WSTEP
//!   `EnrollRequest::read` (base64 PKCS #10 and `AdditionalContext`), and the CSR through
//!   `enroll_mdm::cert::parse_csr` as the server's `verify_csr` does.
//!
//! Input: the body, as the server gets it (bytes, refused unless UTF-8).
//!
//! Checks beyond "no panic": every refusal is bounded and quotes nothing of the input
//! (`common::check_refusal`); a request that reads back is written again by the same crate's
//! writer (what `enroll-wsim` sends) and reads back equal (round trip); the credential's
//! `Debug` never shows the password or token.
#![no_main]

mod common;

use common::check_refusal;
use enroll_wmdm::mde2::{self, DiscoverRequest, EnrollRequest};
use enroll_wmdm::soap::{self, Credential, Envelope};
use libfuzzer_sys::fuzz_target;

fn security_of(c: &Credential) -> String {
    match c {
        Credential::UsernameToken { username, password } => soap::username_security(username, password),
        Credential::BinaryToken { value_type, token } => soap::binary_security(value_type, token),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = match Envelope::parse(text) {
        Ok(env) => env,
        Err(e) => return check_refusal(&e.to_string()),
    };
    if let Some(c) = &env.credential {
        // Differential: the Debug form must not change with the secret.
        let other = match c.clone() {
            Credential::UsernameToken { username, .. } => Credential::UsernameToken {
                username,
                password: "x".into(),
            },
            Credential::BinaryToken { value_type, .. } => Credential::BinaryToken {
                value_type,
                token: "x".into(),
            },
        };
        assert_eq!(
            format!("{c:?}"),
            format!("{other:?}"),
            "credential Debug shows its secret"
        );
    }
    let to = env.to.clone().unwrap_or_default();
    let id = env.message_id.clone().unwrap_or_default();
    match env.action.as_str() {
        mde2::ACTION_DISCOVER => match DiscoverRequest::read(&env) {
            Ok(req) => {
                let again = req.to_xml(&id, &to);
                let env2 = Envelope::parse(&again).expect("our Discover envelope parses");
                assert_eq!(DiscoverRequest::read(&env2).expect("reads back"), req, "{again}");
            }
            Err(e) => check_refusal(&e.to_string()),
        },
        mde2::ACTION_GET_POLICIES => {
            if let Err(e) = mde2::read_get_policies(&env) {
                check_refusal(&e.to_string());
            }
        }
        mde2::ACTION_RST => match EnrollRequest::read(&env) {
            Ok(req) => {
                if let Err(e) = enroll_mdm::cert::parse_csr(&req.csr_der) {
                    check_refusal(&e.to_string());
                }
                let security = env.credential.as_ref().map(security_of).unwrap_or_default();
                let again = req.to_xml(&id, &to, &security);
                let env2 = Envelope::parse(&again).expect("our RST envelope parses");
                assert_eq!(env2.credential, env.credential, "credential round trip");
                assert_eq!(EnrollRequest::read(&env2).expect("reads back"), req, "{again}");
            }
            Err(e) => check_refusal(&e.to_string()),
        },
        _ => {}
    }
});
