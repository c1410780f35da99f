//! Profiles from another MDM server: binary plist, other identifiers, a pkcs12 identity, no
//! `PayloadExpirationDate`. Served (signed by the test's CA) by the scripted hostile server, with
//! and without the `enroll-profile-expires` header; the agent installs them inside whichever
//! window exists, the earlier when there are two.

use crate::support::*;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::profile::ProfileError;
use enroll_core::tls::TrustConfig;
use enroll_core::{Credential, Error};
use plist::{Dictionary, Value};
use std::time::{Duration, UNIX_EPOCH};

const IDENTITY_UUID: &str = "7c1f9a52-0d3e-4b8a-9c61-2f5e8d7a4b10";

fn s(text: &str) -> Value {
    Value::String(text.into())
}

/// A profile shaped as another vendor writes it: lower-case UUIDs, a pkcs12 identity, extra
/// vendor keys, no `PayloadExpirationDate` unless `expires_at` is given.
fn foreign_profile(expires_at: Option<i64>) -> Dictionary {
    let mut identity = Dictionary::new();
    identity.insert("PayloadType".into(), s("com.apple.security.pkcs12"));
    identity.insert("PayloadUUID".into(), s(IDENTITY_UUID));
    identity.insert("PayloadIdentifier".into(), s("com.othervendor.enroll.identity"));
    identity.insert("PayloadVersion".into(), Value::Integer(1.into()));
    identity.insert(
        "PayloadContent".into(),
        Value::Data(vec![0x30, 0x03, 0x02, 0x01, 0x03]),
    );
    identity.insert("Password".into(), s("not-a-real-password"));

    let mut mdm = Dictionary::new();
    mdm.insert("PayloadType".into(), s("com.apple.mdm"));
    mdm.insert("PayloadUUID".into(), s("0b6f4c2e-91aa-4f0e-8d7c-5e2b1a9c3d44"));
    mdm.insert("PayloadIdentifier".into(), s("com.othervendor.enroll.mdm"));
    mdm.insert("PayloadVersion".into(), Value::Integer(1.into()));
    mdm.insert("ServerURL".into(), s("https://mdm.othervendor.example/connect"));
    mdm.insert("CheckInURL".into(), s("https://mdm.othervendor.example/checkin"));
    mdm.insert("Topic".into(), s("com.apple.mgmt.External.othervendor"));
    mdm.insert("IdentityCertificateUUID".into(), s(IDENTITY_UUID));
    mdm.insert("AccessRights".into(), Value::Integer(8191.into()));
    mdm.insert(
        "ServerCapabilities".into(),
        Value::Array(vec![
            s("com.apple.mdm.per-user-connections"),
            s("com.apple.mdm.bootstraptoken"),
        ]),
    );
    mdm.insert("OtherVendorTenant".into(), s("acme"));

    let mut top = Dictionary::new();
    top.insert("PayloadType".into(), s("Configuration"));
    top.insert("PayloadVersion".into(), Value::Integer(1.into()));
    top.insert("PayloadIdentifier".into(), s("com.othervendor.enroll"));
    top.insert("PayloadUUID".into(), s("e3a1d7c9-6b2f-4e80-a5d1-9f0c7b3e2a65"));
    top.insert("PayloadDisplayName".into(), s("Other Vendor MDM"));
    if let Some(at) = expires_at {
        let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap());
        top.insert("PayloadExpirationDate".into(), Value::Date(at.into()));
    }
    top.insert(
        "PayloadContent".into(),
        Value::Array(vec![Value::Dictionary(identity), Value::Dictionary(mdm)]),
    );
    top
}

fn binary(dict: &Dictionary) -> Vec<u8> {
    let mut out = Vec::new();
    Value::Dictionary(dict.clone())
        .to_writer_binary(&mut out)
        .unwrap();
    out
}

/// Serves an enrollment whose profile route answers `profile` (signed by the hostile server's CA)
/// with the `enroll-profile-expires` header `header`; returns the agent's settled status (or
/// error) and the device.
async fn enroll_with(profile: Vec<u8>, header: Option<i64>) -> (Result<EnrollmentStatus, Error>, Device) {
    let signed_slot: std::sync::Arc<std::sync::OnceLock<Vec<u8>>> = Default::default();
    let slot = signed_slot.clone();
    let h = hostile(move |path| {
        if path.ends_with("/profile") {
            let mut reply = Canned::raw(
                200,
                "application/x-apple-aspen-config",
                slot.get().cloned().unwrap_or_default(),
            );
            if let Some(at) = header {
                reply
                    .headers
                    .push(("enroll-profile-expires".into(), at.to_string()));
            }
            reply
        } else if path.ends_with("/confirm") {
            Canned::json(serde_json::json!({
                "device_id": "d-foreign", "device_secret": "dev-s3cr3t", "device_state": "active"
            }))
        } else {
            Canned::json(serde_json::json!({
                "enrollment_id": "e1", "enrollment_secret": "s3cr3t", "device_id": "d-foreign",
                "kind": "new", "profile_validity_secs": 300
            }))
        }
    })
    .await;
    let _ = signed_slot.set(h.pki.signer().sign(&profile).unwrap());
    let device = Device::ios("UDID-FOREIGN");
    let agent = device.agent_with(TrustConfig::with_ca(h.ca_pem.as_bytes()).unwrap(), |c| {
        c.client.retry.max_attempts = 1
    });
    let result = agent
        .enroll(&h.url, Credential::token("ent_foreign-test-token").unwrap())
        .await;
    (result, device)
}

#[tokio::test]
async fn a_binary_profile_without_expiry_installs_without_a_window() {
    let (status, device) = enroll_with(binary(&foreign_profile(None)), None).await;
    assert_eq!(active_id(&status.unwrap()), "d-foreign");
    let installs = device.installer.records();
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(installs[0].identifier, "com.othervendor.enroll");
    assert_eq!(installs[0].expires_at, None, "no window at all");
}

#[tokio::test]
async fn without_payload_expiration_the_header_is_the_window() {
    let at = unix_now() + 300;
    let (status, device) = enroll_with(binary(&foreign_profile(None)), Some(at)).await;
    active_id(&status.unwrap());
    assert_eq!(device.installer.records()[0].expires_at, Some(at));

    // A header window already over: refetched up to the limit, never installed.
    let (status, device) = enroll_with(binary(&foreign_profile(None)), Some(unix_now() - 10)).await;
    assert!(
        matches!(status, Ok(EnrollmentStatus::Expired { .. })),
        "{status:?}"
    );
    assert!(device.installer.records().is_empty());
}

#[tokio::test]
async fn with_two_windows_the_earlier_counts() {
    let soon = unix_now() + 120;
    let later = unix_now() + 3600;
    for (profile_at, header_at) in [(soon, later), (later, soon)] {
        let (status, device) = enroll_with(binary(&foreign_profile(Some(profile_at))), Some(header_at)).await;
        active_id(&status.unwrap());
        assert_eq!(device.installer.records()[0].expires_at, Some(soon));
    }
}

#[tokio::test]
async fn a_malformed_foreign_profile_is_refused_as_malformed_even_when_expired() {
    let mut profile = foreign_profile(Some(unix_now() - 3600));
    profile.remove("PayloadIdentifier");
    let (result, device) = enroll_with(binary(&profile), Some(unix_now() - 3600)).await;
    assert!(
        matches!(result, Err(Error::Profile(ProfileError::MissingKey(ref k))) if k == "PayloadIdentifier"),
        "{result:?}"
    );
    assert!(device.installer.records().is_empty());

    // A cyclic binary plist, signed: refused by the structure check, nothing installed.
    let (result, device) = enroll_with(cyclic_bplist(), None).await;
    assert!(
        matches!(
            result,
            Err(Error::Profile(ProfileError::BinaryPlist(
                enroll_core::profile::BplistDefect::ReferenceCycle
            )))
        ),
        "{result:?}"
    );
    assert!(device.installer.records().is_empty());
}

/// `bplist00`, one array containing itself, offset table, trailer.
fn cyclic_bplist() -> Vec<u8> {
    let mut out = b"bplist00".to_vec();
    out.extend_from_slice(&[0xa1, 0x00]); // object 0: array [object 0]
    let table = out.len() as u64;
    out.push(8); // offset of object 0
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&[1, 1]);
    out.extend_from_slice(&1u64.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
    out
}
