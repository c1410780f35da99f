//! `Debug` of every type of this crate that holds a secret (issue 13): the SCEP challenge of a
//! profile (as written for the peers, and as read back by a device).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_sim::{build_profile, EnrollmentProfile, ProfileSpec};

#[test]
fn secret_holding_types_redact_their_debug() {
    let challenge = "Planted-Scep-Challenge-5e1f";
    let spec = ProfileSpec {
        scep_url: "http://127.0.0.1:1/scep".into(),
        challenge: challenge.into(),
        server_url: "http://127.0.0.1:2/mdm".into(),
        checkin_url: None,
        topic: "com.apple.mgmt.External.x".into(),
        common_name: "sim".into(),
        organization: "Org".into(),
    };
    let shown = format!("{spec:?}");
    assert!(!shown.contains(challenge), "{shown}");
    let profile = EnrollmentProfile::parse(&build_profile(&spec), &[]).unwrap();
    assert_eq!(
        profile.scep.challenge.as_deref().map(String::as_str),
        Some(challenge)
    );
    for shown in [format!("{profile:?}"), format!("{:?}", profile.scep)] {
        assert!(!shown.contains(challenge), "{shown}");
    }
}
