//! Inputs the fuzz targets `windows_soap` and `syncml` flagged (their seeds
//! `fuzz/corpus/*/regression-*`): the refusals must stay the fixed wordings they are, naming
//! the fault and a position, quoting nothing of the input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_wmdm::mde2::EnrollRequest;
use enroll_wmdm::soap::Envelope;
use enroll_wmdm::syncml::Message;
use enroll_wmdm::WmdmError;
use std::path::Path;

fn seed(target: &str, name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
        .join(name);
    String::from_utf8(std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn an_rst_whose_csr_is_not_base64_gets_the_fixed_refusal() {
    let text = seed("windows_soap", "regression-pkcs10-not-base64.xml");
    let env = Envelope::parse(&text).unwrap();
    let e = EnrollRequest::read(&env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "RequestSecurityToken: the PKCS#10 request is not base64"
    );
}

#[test]
fn an_unclosed_processing_instruction_gets_a_position_only() {
    let text = seed("syncml", "regression-unclosed-pi.xml");
    let e = Message::parse(&text).unwrap_err();
    let WmdmError::Xml(msg) = &e else { panic!("{e:?}") };
    let rest = msg
        .strip_prefix("expected '?>' at ")
        .unwrap_or_else(|| panic!("{msg}"));
    let (row, col) = rest.split_once(':').unwrap();
    assert!(row.parse::<u32>().is_ok() && col.parse::<u32>().is_ok(), "{msg}");
}
