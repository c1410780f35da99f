//! The agent's CMS reader (enroll-core's `asn1` + `profile`) on profiles signed by the
//! reference server's signer: chains through intermediates, and every corruption of a signed
//! profile is refused without a panic.

use enroll_core::profile::{verify_cms, verify_profile, ProfileError};
use enroll_server::pki::{Pki, ProfileSigner};
use enroll_server::profile::{build_enrollment_profile, new_uuid, ProfileParams};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn plist() -> Vec<u8> {
    build_enrollment_profile(&ProfileParams {
        device_id: "d1".into(),
        payload_uuid: new_uuid(),
        identity_uuid: new_uuid(),
        mdm_uuid: new_uuid(),
        base_url: "https://mdm.example.com".into(),
        challenge: "one-time".into(),
        topic: "com.apple.mgmt.External.test".into(),
        organization: "CMS".into(),
        issued_at: now(),
        expires_at: now() + 300,
    })
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
