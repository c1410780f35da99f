//! Bulk enrollment (seed 000) and Samsung KME (seed 004), agent against the real server over
//! TLS: the QR code an administrator generates is decoded and parsed by the agent's own QR code
//! and enrolls the device; each "not enrolled" situation ends in its own typed error with a
//! message for the person holding the device.

use crate::support::*;
use enroll_cli::admin::ImportOutcome;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::client::Body;
use enroll_core::fakes::FakeDevice;
use enroll_core::qr::{parse_payload, EnrollmentIntent, PayloadOptions, QrScanner};
use enroll_core::{Credential, Error};
use enroll_proto::{self as protocol, DeviceDescriptor, ErrorCode, Platform};

fn android_device(imei: &str, serial: &str, manufacturer: &str) -> Device {
    Device::new(FakeDevice::new(DeviceDescriptor {
        platform: Platform::Android,
        os_version: "14".into(),
        model: "Galaxy XCover 7".into(),
        manufacturer: manufacturer.into(),
        serial: Some(serial.into()),
        imeis: vec![imei.into()],
        hardware_id: None,
        agent_version: "e2e".into(),
    }))
}

async fn create_profile(env: &Env, req: protocol::CreateBulkProfileRequest) -> protocol::BulkProfileDetail {
    env.admin.create_bulk_profile(&req).await.unwrap()
}

fn profile_req(name: &str) -> protocol::CreateBulkProfileRequest {
    protocol::CreateBulkProfileRequest {
        name: name.into(),
        description: String::new(),
        kind: protocol::BulkProfileKind::SelfMaintained,
        user: None,
        tokenless: false,
        token_days: None,
        never_expires: false,
        config: protocol::BulkProfileConfig::default(),
    }
}

async fn upload(env: &Env, profile: &str, csv: String) -> protocol::ImportReport {
    match env
        .admin
        .upload_bulk_csv(profile, Body::from(csv), false, "auto")
        .await
        .unwrap()
    {
        ImportOutcome::Imported(r) => r,
        ImportOutcome::Rejected(r) => panic!("rejected: {r:?}"),
    }
}

/// Decodes the PNG QR code with the agent's scanner and parses it with the agent's parser.
fn scan_png(png: &[u8]) -> EnrollmentIntent {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qr.png");
    std::fs::write(&path, png).unwrap();
    let frame = enroll_core::qr::load_luma_file(&path).unwrap();
    let found = QrScanner::new().scan(&frame.as_frame());
    assert_eq!(found.len(), 1, "one QR code");
    parse_payload(&found[0].text, &PayloadOptions::default()).unwrap()
}

fn failed_code(status: &EnrollmentStatus) -> Option<ErrorCode> {
    match status {
        EnrollmentStatus::Failed { code, .. } => *code,
        _ => None,
    }
}

#[tokio::test]
async fn admin_uploads_a_csv_generates_the_qr_code_and_the_device_enrolls_with_it() {
    let env = env().await;
    user(&env, "fleet@example.com", None).await;
    let mut req = profile_req("Warehouse scanners");
    req.user = Some("fleet@example.com".into());
    req.config.attributes.insert("site".into(), "Lyon".into());
    let profile = create_profile(&env, req).await;
    let id = profile.profile.id.clone();
    let imei = imei_for("R58QR1");
    let report = upload(
        &env,
        &id,
        format!("imei,serial_number,manufacturer,department\r\n{imei},R58QR1,Samsung,Logistics\r\n"),
    )
    .await;
    assert_eq!(report.imported, 1);

    let png = env.admin.bulk_qr(&id, "png", 6).await.unwrap();
    let intent = scan_png(&png);
    assert!(matches!(intent, EnrollmentIntent::AndroidProvisioning(_)));
    let (server, credential) = Credential::from_qr_intent(&intent).unwrap().unwrap();
    assert_eq!(server, env.server.base_url());
    assert_eq!(credential.kind(), "token");

    let device = android_device(&imei, "R58QR1", "samsung");
    let agent = device.agent(&env);
    let status = agent.enroll(&server, credential).await.unwrap();
    let device_id = active_id(&status);
    assert!(matches!(&status, EnrollmentStatus::Active { user: Some(u), .. } if u == "fleet@example.com"));
    let view = env.admin.device(&device_id).await.unwrap().device;
    assert_eq!(view.user.as_deref(), Some("fleet@example.com"));
    assert_eq!(view.attributes["department"], "Logistics");
    assert_eq!(view.attributes["site"], "Lyon");
    let detail = env.admin.bulk_profile(&id).await.unwrap();
    assert_eq!((detail.enrolled_devices, detail.pending_devices), (1, 0));
    let listed = env.admin.bulk_devices(&id, 0, 10).await.unwrap();
    assert_eq!(listed[0].enrolled_device_id.as_deref(), Some(device_id.as_str()));

    // The token in the code stops working once refreshed: the device is sent to the password
    // sign-in.
    env.admin
        .bulk_token(
            &id,
            &protocol::BulkTokenRequest {
                action: protocol::BulkTokenAction::Refresh,
                days: Some(30),
                never_expires: false,
            },
        )
        .await
        .unwrap();
    let other = android_device(&imei, "R58QR1", "samsung");
    let (_, credential) = Credential::from_qr_intent(&intent).unwrap().unwrap();
    let err = other.agent(&env).enroll(&server, credential).await.unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::InvalidToken));
    assert_eq!(err.fallback(), Some(protocol::FALLBACK_PASSWORD));
}

#[tokio::test]
async fn a_wrong_token_falls_back_to_the_password_flow() {
    let env = env().await;
    user(&env, "amy@example.com", Some("s3cret pass")).await;
    let device = Device::android("14", "SN-FALLBACK");
    let agent = device.agent(&env);
    let err = agent
        .enroll(
            &env.server.base_url(),
            Credential::token("ent_this-is-not-a-valid-token-xyz").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::InvalidToken));
    assert_eq!(err.fallback(), Some("password"));
    assert!(err.user_message().contains("password"), "{}", err.user_message());
    assert!(!err.to_string().contains("this-is-not-a-valid"), "{err}");
    assert_eq!(failed_code(&agent.status()), Some(ErrorCode::InvalidToken));
    // The normal sign-in works from there.
    let status = agent
        .enroll(
            &env.server.base_url(),
            Credential::password("amy@example.com", "s3cret pass").unwrap(),
        )
        .await
        .unwrap();
    active_id(&status);
}

#[tokio::test]
async fn an_expired_bulk_token_has_its_own_error() {
    let env = env().await;
    let profile = create_profile(&env, profile_req("Short")).await;
    let imei = imei_for("SN-EXP");
    upload(&env, &profile.profile.id, format!("imei\n{imei}\n")).await;
    let token = profile.token.clone().unwrap();
    env.server_clock.advance(8 * 86_400);
    let device = Device::android("14", "SN-EXP");
    let err = device
        .agent(&env)
        .enroll(&env.server.base_url(), Credential::token(token.expose()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::TokenExpired));
    assert!(err.user_message().contains("expired"));
    // Extending the same token lets the device in.
    env.admin
        .bulk_token(
            &profile.profile.id,
            &protocol::BulkTokenRequest {
                action: protocol::BulkTokenAction::Extend,
                days: None,
                never_expires: true,
            },
        )
        .await
        .unwrap();
    let status = device
        .agent(&env)
        .enroll(&env.server.base_url(), Credential::token(token.expose()).unwrap())
        .await
        .unwrap();
    active_id(&status);
}

#[tokio::test]
async fn tokenless_enrollment_follows_the_seed_table() {
    let env = env().await;
    let mut req = profile_req("No token");
    req.tokenless = true;
    let profile = create_profile(&env, req).await;
    let id = profile.profile.id.clone();
    assert!(profile.token.is_none());
    // (situation, CSV row, real device, enrolled?)
    let i = |s: &str| imei_for(s);
    let cases = [
        (
            1,
            (i("T1"), "WRONG-1", "WrongCo"),
            (i("T1"), "SER-1", "Samsung"),
            true,
        ),
        (
            2,
            (i("X2"), "SER-2", "SAMSUNG"),
            (i("T2"), "SER-2", "samsung"),
            true,
        ),
        (
            3,
            (i("X3"), "WRONG-3", "Samsung"),
            (i("T3"), "SER-3", "Samsung"),
            false,
        ),
        (
            4,
            (i("X4"), "SER-4", "WrongCo"),
            (i("T4"), "SER-4", "Samsung"),
            false,
        ),
    ];
    let mut csv = String::from("imei,serial_number,manufacturer,situation\n");
    for (n, row, _, _) in &cases {
        csv.push_str(&format!("{},{},{},{n}\n", row.0, row.1, row.2));
    }
    assert_eq!(upload(&env, &id, csv).await.imported, 4);
    // The QR code of a tokenless profile carries its id and no token.
    let intent = scan_png(&env.admin.bulk_qr(&id, "png", 6).await.unwrap());
    let (server, credential) = Credential::from_qr_intent(&intent).unwrap().unwrap();
    assert_eq!(
        credential,
        Credential::Tokenless {
            profile_id: Some(id.clone())
        }
    );
    for (n, _, dev, enrolled) in cases {
        let device = android_device(&dev.0, dev.1, dev.2);
        let agent = device.agent(&env);
        let result = agent.enroll(&server, credential.clone()).await;
        if enrolled {
            let device_id = active_id(&result.unwrap_or_else(|e| panic!("situation {n}: {e}")));
            let view = env.admin.device(&device_id).await.unwrap().device;
            assert_eq!(view.attributes["situation"], n.to_string());
        } else {
            let err = result.expect_err("not enrolled");
            assert_eq!(
                err.server_code(),
                Some(ErrorCode::DeviceNotMatched),
                "situation {n}"
            );
            assert!(err.user_message().contains("IMEI"), "{}", err.user_message());
            assert_eq!(failed_code(&agent.status()), Some(ErrorCode::DeviceNotMatched));
            assert_eq!(err.fallback(), None);
        }
    }
}

#[tokio::test]
async fn samsung_kme_devices_enroll_only_once_approved_and_assigned() {
    let env = env().await;
    let kme = env
        .admin
        .enable_kme(&protocol::KmeIntegrationRequest {
            name: "Knox".into(),
            description: String::new(),
        })
        .await
        .unwrap();
    let default_id = kme.default_profile_id.unwrap();
    let imei = imei_for("KME-1");
    let csv = format!("imei,serial_number,manufacturer,asset\n{imei},KME-1,Samsung,A-1\n");
    match env.admin.upload_kme_csv(Body::from(csv)).await.unwrap() {
        ImportOutcome::Imported(r) => assert_eq!(r.imported, 1),
        ImportOutcome::Rejected(r) => panic!("{r:?}"),
    }
    let mut req = profile_req("Field phones");
    req.kind = protocol::BulkProfileKind::SamsungKme;
    req.tokenless = true;
    let k = create_profile(&env, req).await;
    // What the KME profile hands to the DPC.
    let extras = env
        .admin
        .bulk_provisioning(&k.profile.id)
        .await
        .unwrap()
        .kme_dpc_extras
        .to_string();
    let intent = parse_payload(&extras, &PayloadOptions::default()).unwrap();
    assert!(matches!(intent, EnrollmentIntent::KmeExtras(_)));
    let (server, credential) = Credential::from_qr_intent(&intent).unwrap().unwrap();

    let device = android_device(&imei, "KME-1", "samsung");
    let attempt = |expected: ErrorCode| {
        let device = device.clone();
        let server = server.clone();
        let credential = credential.clone();
        let env = &env;
        async move {
            let err: Error = device
                .agent(env)
                .enroll(&server, credential)
                .await
                .expect_err("refused");
            assert_eq!(err.server_code(), Some(expected), "{err}");
            err.user_message()
        }
    };
    let not_approved = attempt(ErrorCode::DeviceNotApproved).await;
    assert!(not_approved.contains("approved"), "{not_approved}");

    env.admin
        .kme_approve(&protocol::KmeApproveRequest {
            all: true,
            device_ids: Vec::new(),
        })
        .await
        .unwrap();
    let unassigned = attempt(ErrorCode::DeviceUnassigned).await;
    assert!(unassigned.contains("assigned"), "{unassigned}");
    assert_ne!(not_approved, unassigned);

    let ids: Vec<i64> = env
        .admin
        .bulk_devices(&default_id, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    let moved = env
        .admin
        .move_bulk_devices(&default_id, ids.clone(), &k.profile.id)
        .await
        .unwrap();
    assert_eq!(moved.affected, 1);
    let status = device
        .agent(&env)
        .enroll(&server, credential.clone())
        .await
        .unwrap();
    let view = env.admin.device(&active_id(&status)).await.unwrap().device;
    assert_eq!(view.attributes["asset"], "A-1");

    // Unassigned again: back to the default profile, and refused.
    env.admin.unassign_bulk_devices(&k.profile.id, ids).await.unwrap();
    let again = android_device(&imei, "KME-1", "samsung");
    let err = again.agent(&env).enroll(&server, credential).await.unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::DeviceUnassigned));
    let list = env.admin.bulk_profiles().await.unwrap();
    assert_eq!(list[0].id, default_id, "the default KME profile is listed first");
    assert_eq!(list[0].device_count, 1);
}

#[tokio::test]
async fn a_rejected_upload_lists_every_bad_line_and_imports_nothing() {
    let env = env().await;
    let profile = create_profile(&env, profile_req("P")).await;
    let good = imei_for("GOOD");
    let csv = format!("imei,serial_number,manufacturer\n{good},,\n123,,\n,SN-ONLY,\n{good},,\n");
    let outcome = env
        .admin
        .upload_bulk_csv(&profile.profile.id, Body::from(csv), false, "auto")
        .await
        .unwrap();
    let ImportOutcome::Rejected(rej) = outcome else {
        panic!("accepted a bad file")
    };
    assert_eq!(rej.error.code, ErrorCode::BadRequest);
    let lines: Vec<u64> = rej.report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5]);
    assert_eq!(
        env.admin
            .bulk_profile(&profile.profile.id)
            .await
            .unwrap()
            .profile
            .device_count,
        0
    );
    // The invitation QR code parses as an invitation for the user.
    user(&env, "inv@example.com", None).await;
    let intent = scan_png(
        &env.admin
            .invitation_qr("inv@example.com", "png", 6)
            .await
            .unwrap(),
    );
    let EnrollmentIntent::Invitation(inv) = intent else {
        panic!("not an invitation")
    };
    assert_eq!(inv.user_hint.as_deref(), Some("inv@example.com"));
}
