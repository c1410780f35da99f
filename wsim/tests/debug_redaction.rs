//! `Debug` of every type of this crate that holds a secret (issue 13): the device key, the
//! Entra access token and bulk token, and the provisioning package's UPN secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_wmdm::customizations::{Customizations, WorkplaceEnrollment};
use enroll_wsim::{Credential, State};

#[test]
fn secret_holding_types_redact_their_debug() {
    let key = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQPlantedKey";
    let access = "eyJhbGciOiJSUzI1NiJ9.Planted-Access-Token.c2ln";
    let state = State {
        key_pkcs8: Some(key.into()),
        access_token: Some(access.into()),
        ..State::default()
    };
    let shown = format!("{state:?}");
    assert!(!shown.contains(key) && !shown.contains(access), "{shown}");

    let secret = "Planted-Upn-Secret-93c1";
    let package = Credential::Package(Customizations {
        package_id: "{00000000-0000-4000-8000-000000000001}".into(),
        name: "enroll".into(),
        enrollment: WorkplaceEnrollment {
            upn: "windows-bulkenroll@example.com".into(),
            auth_policy: "OnPremise".into(),
            discovery_url: "https://mdm.example.com/EnrollmentServer/Discovery.svc".into(),
            secret: secret.into(),
        },
    });
    let shown = format!("{package:?}");
    assert!(!shown.contains(secret), "{shown}");

    let bulk = "Planted-Entra-Bulk-Token-4411";
    let entra = Credential::EntraBulkToken {
        token: bulk.into(),
        package_upn: "package_0000@contoso.onmicrosoft.com".into(),
        discovery_url: "https://mdm.example.com".into(),
    };
    let shown = format!("{entra:?}");
    assert!(!shown.contains(bulk), "{shown}");
}
