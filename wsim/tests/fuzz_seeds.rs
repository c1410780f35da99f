//! The seed corpora of the fuzz targets `windows_soap` and `syncml` (`fuzz/corpus/`).
//!
//! The seeds are the requests the Windows device mode sends, written by the same
//! `enroll-wmdm` writers with the same fields as `wsim/src/lib.rs`: the MS-MDE2 Discover
//! request, the MS-XCEP GetPolicies and the MS-WSTEP RequestSecurityToken (a real RSA-2048
//! PKCS #10 from `enroll-mdm`) under both credentials (the provisioning package's UPN and
//! secret as a UsernameToken, an Entra access token as a BinarySecurityToken), and the SyncML
//! messages of an OMA-DM session (the client-initiated alert with DevInfo, then statuses and
//! results).
//!
//! - `ENROLL_WRITE_FUZZ_SEEDS=1 cargo test -p enroll-wsim --test fuzz_seeds` regenerates them;
//! - plain `cargo test -p enroll-wsim --test fuzz_seeds` checks that the committed seeds still
//!   read back as the server reads them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_mdm::cert::{build_csr, common_name, parse_csr};
use enroll_mdm::key::{RsaBits, RsaPrivateKey};
use enroll_wmdm::mde2::{self, DiscoverRequest, EnrollRequest};
use enroll_wmdm::soap::{self, Envelope};
use enroll_wmdm::syncml::{self, Command, Item, Kind, Message, SyncHdr};
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn write(target: &str, name: &str, text: &str) {
    std::fs::create_dir_all(corpus(target)).unwrap();
    std::fs::write(corpus(target).join(name), text).unwrap();
}

const BASE: &str = "https://mdm.example.com";
const DEVICE_ID: &str = "FUZZ0000-0000-4000-8000-00000000C0DE";

fn regenerate() {
    let t = "windows_soap";
    let discovery = format!("{BASE}/EnrollmentServer/Discovery.svc");
    let req = DiscoverRequest {
        email: "windows-bulkenroll-fuzz@example.com".into(),
        request_version: "4.0".into(),
        device_type: "CIMClient_Windows".into(),
        application_version: "10.0.22631.2861".into(),
        auth_policies: vec!["OnPremise".into(), "Federated".into()],
    };
    write(
        t,
        "discover.xml",
        &req.to_xml("urn:uuid:11111111-0000-4000-8000-000000000001", &discovery),
    );
    let upn = soap::username_security("windows-bulkenroll-fuzz@example.com", "Fuzz-Package-Secret-0001");
    let jwt = soap::binary_security(
        mde2::VALUE_JWT,
        "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJmdXp6QGNvbnRvc28ub25taWNyb3NvZnQuY29tIn0.c2lnbmF0dXJl",
    );
    let policy = format!("{BASE}/EnrollmentServer/Policy.svc");
    let body = mde2::get_policies_body();
    write(
        t,
        "getpolicies-username.xml",
        &soap::request(mde2::ACTION_GET_POLICIES, "urn:uuid:2", &policy, &upn, &body),
    );
    write(
        t,
        "getpolicies-jwt.xml",
        &soap::request(mde2::ACTION_GET_POLICIES, "urn:uuid:3", &policy, &jwt, &body),
    );
    let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
    let csr = build_csr(&key, &common_name(DEVICE_ID).unwrap(), None).unwrap();
    let context = |kind: &str| -> Vec<(String, String)> {
        [
            ("UXInitiated", "false"),
            ("HWDevID", DEVICE_ID),
            ("Locale", "en-US"),
            ("TargetedUserLoggedIn", "false"),
            ("OSEdition", "48"),
            ("DeviceName", "FUZZ-PC"),
            ("MAC", "00-15-5D-00-00-01"),
            ("DeviceID", DEVICE_ID),
            ("EnrollmentType", kind),
            ("DeviceType", "CIMClient_Windows"),
            ("OSVersion", "10.0.22631.2861"),
            ("ApplicationVersion", "10.0.22631.2861"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
    };
    let enroll = format!("{BASE}/EnrollmentServer/Enrollment.svc");
    let full = EnrollRequest {
        csr_der: csr.clone(),
        context: context("Full"),
    };
    write(t, "rst-username.xml", &full.to_xml("urn:uuid:4", &enroll, &upn));
    let device = EnrollRequest {
        csr_der: csr,
        context: context("Device"),
    };
    write(t, "rst-jwt.xml", &device.to_xml("urn:uuid:5", &enroll, &jwt));

    let t = "syncml";
    let hdr = |msg_id: u32| SyncHdr {
        session_id: "1".into(),
        msg_id,
        target: format!("{BASE}/ManagementServer/MDM.svc"),
        source: DEVICE_ID.into(),
    };
    let devinfo = [
        ("./DevInfo/DevId", DEVICE_ID),
        ("./DevInfo/Man", "Microsoft Corporation"),
        ("./DevInfo/Mod", "Virtual Machine"),
        ("./DevInfo/DmV", "1.3"),
        ("./DevInfo/Lang", "en-US"),
    ]
    .iter()
    .map(|(u, v)| Item::source(u, v))
    .collect();
    let first = Message {
        hdr: hdr(1),
        commands: vec![
            Command::alert(1, syncml::ALERT_CLIENT_INITIATED),
            Command::new(Kind::Replace, 2, devinfo),
        ],
        is_final: true,
    };
    write(t, "session-alert-devinfo.xml", &first.to_xml());
    let mut item = Item::source("./DevDetail/SwV", "10.0.22631.2861");
    item.format = Some("chr".into());
    item.meta_type = Some("text/plain".into());
    let second = Message {
        hdr: hdr(2),
        commands: vec![
            Command::status(1, 1, 0, "SyncHdr", 200),
            Command::status(2, 1, 3, "Get", 200),
            Command {
                msg_ref: Some(1),
                cmd_ref: Some(3),
                ..Command::new(Kind::Results, 3, vec![item])
            },
            Command::status(4, 1, 4, "Replace", 200),
            Command::status(5, 1, 5, "Exec", 404),
        ],
        is_final: true,
    };
    write(t, "session-status-results.xml", &second.to_xml());
}

#[test]
fn committed_seeds_read_back() {
    if std::env::var_os("ENROLL_WRITE_FUZZ_SEEDS").is_some() {
        regenerate();
    }
    let mut seen = (0, 0, 0, 0);
    for e in std::fs::read_dir(corpus("windows_soap")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        if name.starts_with("discover") {
            let env = Envelope::parse(&text).unwrap();
            assert_eq!(env.action, mde2::ACTION_DISCOVER);
            DiscoverRequest::read(&env).unwrap();
            seen.0 += 1;
        } else if name.starts_with("getpolicies") {
            let env = Envelope::parse(&text).unwrap();
            assert!(env.credential.is_some(), "{name}");
            mde2::read_get_policies(&env).unwrap();
            seen.1 += 1;
        } else if name.starts_with("rst") {
            let env = Envelope::parse(&text).unwrap();
            assert!(env.credential.is_some(), "{name}");
            let req = EnrollRequest::read(&env).unwrap();
            parse_csr(&req.csr_der).unwrap();
            assert_eq!(req.item("HWDevID"), Some(DEVICE_ID));
            seen.2 += 1;
        }
    }
    for e in std::fs::read_dir(corpus("syncml")).unwrap() {
        let path = e.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("session") {
            let msg = Message::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(Message::parse(&msg.to_xml()).unwrap(), msg);
            seen.3 += 1;
        }
    }
    assert!(seen.0 > 0 && seen.1 > 1 && seen.2 > 1 && seen.3 > 1, "{seen:?}");
}
