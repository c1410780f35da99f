//! Fuzz target `scep_message`: the SCEP `PKIOperation` body as the reference server's SCEP CA
//! reads it (`server/src/apple/scep.rs`), with the `enroll-mdm` functions it calls:
//!
//! - selector 0: `scep::parse_pki_message` (CMS SignedData: set order, signed attributes,
//!   the signature over them with the carried certificate, `messageType`, `transactionID`,
//!   nonces), then, as the CA, `decrypt_content` with the fixture CA key (EnvelopedData:
//!   recipient matching, RSA key unwrap, AES/3DES/DES-CBC, padding) and `parse_csr` of what it
//!   holds;
//! - selector 1: `envelope::parse_envelope` then `decrypt_with` the fixture key (the
//!   EnvelopedData alone, since mutations rarely keep a SignedData's signature valid);
//! - selector 2: `cert::parse_csr` (PKCS #10 with `challengePassword`, its self-signature).
//!
//! The CA key and certificate are `fuzz/fixtures/scep-ca.{key,der}`, made with the seeds by
//! `cargo test -p enroll-mdm --test fuzz_seeds` (see that file).
//!
//! Checks beyond "no panic": every refusal is bounded and quotes nothing of the input
//! (`common::check_refusal`); a message that parses has a `transactionID` of at most 128
//! bytes and content no larger than the input; a decrypted body is smaller than the envelope;
//! a CSR's challenge is bounded; `Debug` of a parsed CSR never shows its challenge.
#![no_main]

mod common;

use common::check_refusal;
use enroll_mdm::cert::{parse_csr, ParsedCertificate};
use enroll_mdm::envelope::parse_envelope;
use enroll_mdm::key::RsaPrivateKey;
use enroll_mdm::scep::parse_pki_message;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Ca {
    key: RsaPrivateKey,
    cert: Vec<u8>,
}

fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| {
        let key =
            RsaPrivateKey::from_pkcs8_der(include_bytes!("../fixtures/scep-ca.key")).expect("fixture key");
        let cert = include_bytes!("../fixtures/scep-ca.der").to_vec();
        ParsedCertificate::from_der(&cert).expect("fixture certificate");
        Ca { key, cert }
    })
}

fn csr(der: &[u8]) {
    match parse_csr(der) {
        Ok(csr) => {
            if let Some(challenge) = &csr.challenge {
                assert!(challenge.len() <= der.len());
                let shown = format!("{csr:?}");
                // Differential: the Debug form must not change with the challenge.
                let mut other = csr.clone();
                other.challenge = Some(String::from("x").into());
                assert_eq!(shown, format!("{other:?}"), "Debug of a CSR shows its challenge");
            }
        }
        Err(e) => check_refusal(&e.to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ca = ca();
    match selector % 3 {
        0 => match parse_pki_message(body) {
            Ok(msg) => {
                assert!(msg.transaction_id.len() <= 128);
                assert!(msg.content.len() <= body.len());
                match msg.decrypt_content(&ca.key, &ca.cert) {
                    Ok(plain) => {
                        assert!(plain.len() < msg.content.len());
                        csr(&plain);
                    }
                    Err(e) => check_refusal(&e.to_string()),
                }
            }
            Err(e) => check_refusal(&e.to_string()),
        },
        1 => match parse_envelope(body) {
            Ok(env) => {
                if let Some((_, enc_key)) = env.recipients.first() {
                    match env.decrypt_with(&ca.key, enc_key) {
                        Ok(plain) => assert!(plain.len() < body.len()),
                        Err(e) => check_refusal(&e.to_string()),
                    }
                }
            }
            Err(e) => check_refusal(&e.to_string()),
        },
        _ => csr(body),
    }
});
