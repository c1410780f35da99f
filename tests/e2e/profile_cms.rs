//! The agent's CMS reader (enroll-core's `asn1` + `profile`) on profiles signed by the
//! reference server's signer: chains through intermediates, and every corruption of a signed
//! profile is refused without a panic.

use crate::support::{enrollment_plist, unix_now as now};
use enroll_core::profile::{verify_cms, verify_profile, ProfileError};
use enroll_server::pki::{Pki, ProfileSigner};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};

fn plist() -> Vec<u8> {
    enrollment_plist("https://mdm.example.com")
}

/// A root CA, an intermediate (a CA or not) and a signer issued by the intermediate; returns
/// the root's DER and a signer whose messages carry [signer, intermediate].
fn chain(intermediate_is_ca: bool) -> (Vec<u8>, ProfileSigner) {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut root = CertificateParams::default();
    root.distinguished_name.push(DnType::CommonName, "root");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let root_cert = root.self_signed(&root_key).unwrap();

    let mid_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut mid = CertificateParams::default();
    mid.distinguished_name.push(DnType::CommonName, "intermediate");
    mid.is_ca = if intermediate_is_ca {
        IsCa::Ca(BasicConstraints::Constrained(0))
    } else {
        IsCa::ExplicitNoCa
    };
    let mid_cert = mid
        .signed_by(&mid_key, &Issuer::from_params(&root, &root_key))
        .unwrap();

    let signer_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut signer = CertificateParams::default();
    signer
        .distinguished_name
        .push(DnType::CommonName, "profile signer");
    signer
        .distinguished_name
        .push(DnType::OrganizationName, "Example, Inc.");
    let signer_cert = signer
        .signed_by(&signer_key, &Issuer::from_params(&mid, &mid_key))
        .unwrap();
    let signer = ProfileSigner::new(&signer_key.serialize_der(), signer_cert.der(), mid_cert.der()).unwrap();
    (root_cert.der().to_vec(), signer)
}

#[test]
fn signers_chain_through_ca_intermediates_only() {
    let content = plist();
    let (root, signer) = chain(true);
    let (got, subject) = verify_cms(&signer.sign(&content).unwrap(), &[root], now()).unwrap();
    assert_eq!(got, content);
    assert_eq!(subject, "O=Example\\, Inc.,CN=profile signer");

    // A certificate that is not a CA cannot issue the signer's certificate.
    let (root, signer) = chain(false);
    let err = verify_cms(&signer.sign(&content).unwrap(), &[root], now()).unwrap_err();
    assert_eq!(
        err,
        ProfileError::UntrustedSigner("an intermediate certificate is not a CA".into())
    );

    // Without the right root, no chain.
    let (_, signer) = chain(true);
    let (other_root, _) = chain(true);
    let err = verify_cms(&signer.sign(&content).unwrap(), &[other_root], now()).unwrap_err();
    assert!(matches!(err, ProfileError::UntrustedSigner(_)), "{err}");
}

#[test]
fn the_signer_must_be_valid_now() {
    let pki = Pki::ephemeral(&[]).unwrap();
    let signed = pki.signer().sign(&plist()).unwrap();
    let anchors = [pki.ca_der().to_vec()];
    assert!(verify_cms(&signed, &anchors, now()).is_ok());
    // Issued a day ago (minus five minutes of tolerance), valid for five years.
    assert_eq!(
        verify_cms(&signed, &anchors, now() - 2 * 86_400),
        Err(ProfileError::SignerExpired)
    );
    assert_eq!(
        verify_cms(&signed, &anchors, now() + 6 * 366 * 86_400),
        Err(ProfileError::SignerExpired)
    );
}

#[test]
fn every_corruption_of_a_signed_profile_is_refused() {
    let pki = Pki::ephemeral(&[]).unwrap();
    let content = plist();
    let signed = pki.signer().sign(&content).unwrap();
    let anchors = [pki.ca_der().to_vec()];
    let now = now();
    let good = verify_profile(&signed, &anchors, now).unwrap();

    let mut accepted = 0;
    let mut variants: Vec<Vec<u8>> = (0..signed.len()).map(|n| signed[..n].to_vec()).collect();
    for i in 0..signed.len() {
        let mut v = signed.clone();
        v[i] ^= 0x01;
        variants.push(v);
    }
    for v in &variants {
        // No panic, and nothing but the signed content is ever accepted. (A flipped byte in
        // the CA copy the message carries, unused since anchors come from the configuration,
        // or in the signature's encoding may still verify.)
        if let Ok(p) = verify_profile(v, &anchors, now) {
            accepted += 1;
            assert_eq!(p, good);
            assert_eq!(verify_cms(v, &anchors, now).unwrap().0, content);
        }
    }
    assert!(accepted < signed.len() / 2, "{accepted} corruptions accepted");
}

/// Runs `openssl` with `args` in `dir`; panics with its stderr on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed by scripts/setup.sh");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn openssl_verifies_what_the_server_signs() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::ephemeral(&[]).unwrap();
    let content = plist();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
    std::fs::write(
        dir.path().join("signed.der"),
        pki.signer().sign(&content).unwrap(),
    )
    .unwrap();
    openssl(
        dir.path(),
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "signed.der",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "any",
            "-out",
            "content",
        ],
    );
    assert_eq!(std::fs::read(dir.path().join("content")).unwrap(), content);
}

#[test]
fn the_agent_verifies_what_openssl_signs() {
    let content = plist();
    // EC P-256 and P-384 and RSA signers, each issued by its own CA; with and without signed
    // attributes (without, the signature covers the content itself).
    for (key_args, hash) in [
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
            "sha256",
        ),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"][..],
            "sha384",
        ),
        (&["-newkey", "rsa:2048"][..], "sha256"),
        (&["-newkey", "rsa:2048"][..], "sha512"),
    ] {
        for with_attributes in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            std::fs::write(d.join("content"), &content).unwrap();
            let mut ca = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=OpenSSL CA"];
            ca.extend_from_slice(key_args);
            ca.extend_from_slice(&["-keyout", "ca.key", "-out", "ca.pem"]);
            openssl(d, &ca);
            let mut req = vec!["req", "-new", "-nodes", "-subj", "/O=Example/CN=OpenSSL signer"];
            req.extend_from_slice(key_args);
            req.extend_from_slice(&["-keyout", "signer.key", "-out", "signer.csr"]);
            openssl(d, &req);
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    "signer.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-days",
                    "1",
                    "-set_serial",
                    "4242",
                    "-out",
                    "signer.pem",
                ],
            );
            let mut sign = vec![
                "cms",
                "-sign",
                "-binary",
                "-nodetach",
                "-outform",
                "DER",
                "-md",
                hash,
                "-in",
                "content",
                "-signer",
                "signer.pem",
                "-inkey",
                "signer.key",
                "-certfile",
                "ca.pem",
                "-out",
                "signed.der",
            ];
            if !with_attributes {
                sign.push("-noattr");
            }
            openssl(d, &sign);

            let signed = std::fs::read(d.join("signed.der")).unwrap();
            let ca_pem = std::fs::read(d.join("ca.pem")).unwrap();
            let anchors = enroll_core::tls::parse_certificates(&ca_pem).unwrap();
            let case = format!("{key_args:?} {hash} attributes={with_attributes}");
            let (got, signer) =
                verify_cms(&signed, &anchors, now()).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(got, content, "{case}");
            assert_eq!(signer, "CN=OpenSSL signer,O=Example", "{case}");

            // The same message with another CA as the anchor, and with the content altered.
            let (other, _) = chain(true);
            assert!(matches!(
                verify_cms(&signed, &[other], now()),
                Err(ProfileError::UntrustedSigner(_))
            ));
            let mut tampered = signed.clone();
            let at = tampered.windows(13).position(|w| w == b"Configuration").unwrap();
            tampered[at] = b'K';
            let err = verify_cms(&tampered, &anchors, now()).unwrap_err();
            let expected = if with_attributes {
                ProfileError::DigestMismatch
            } else {
                ProfileError::BadSignature
            };
            assert_eq!(err, expected, "{case}");
        }
    }
}
