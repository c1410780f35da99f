//! `Debug` of every type of this crate that holds a secret (issue 13): the package's UPN secret
//! and the Entra token, planted, must not appear in it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_wmdm::customizations::{Customizations, WorkplaceEnrollment};
use enroll_wmdm::soap::{self, Credential, Envelope};

const SECRET: &str = "Planted-Upn-Secret-93c1";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.Planted-Entra-Token.c2ln";

#[test]
fn secret_holding_types_redact_their_debug() {
    let enrollment = WorkplaceEnrollment {
        upn: "windows-bulkenroll@example.com".into(),
        auth_policy: "OnPremise".into(),
        discovery_url: "https://mdm.example.com/EnrollmentServer/Discovery.svc".into(),
        secret: SECRET.into(),
    };
    let package = Customizations {
        package_id: "{00000000-0000-4000-8000-000000000001}".into(),
        name: "enroll".into(),
        enrollment: enrollment.clone(),
    };
    // Through the file, as `enroll server windows package` writes it and the device reads it.
    let read = Customizations::parse(&package.to_xml()).unwrap();
    assert_eq!(read.enrollment.secret, SECRET);
    for shown in [
        format!("{enrollment:?}"),
        format!("{package:?}"),
        format!("{read:?}"),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
    }

    // The credentials as the server reads them from a request's WS-Security header.
    for (security, secret) in [
        (
            soap::username_security("windows-bulkenroll@example.com", SECRET),
            SECRET,
        ),
        (soap::binary_security(enroll_wmdm::mde2::VALUE_JWT, TOKEN), TOKEN),
    ] {
        let text = soap::request(
            "urn:action",
            "urn:uuid:1",
            "https://mdm.example.com/x",
            &security,
            "<b/>",
        );
        let env = Envelope::parse(&text).unwrap();
        let cred = env.credential.clone().unwrap();
        match &cred {
            Credential::UsernameToken { password, .. } => assert_eq!(password, secret),
            Credential::BinaryToken { token, .. } => assert_eq!(token, secret),
        }
        let shown = format!("{cred:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
}
