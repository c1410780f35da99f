//! Independent checks of the Windows endpoints with code that is not ours: zeep (a Python SOAP
//! client) sends Discover and GetPolicies with a UsernameToken and parses both replies; an
//! OpenSSL CSR carrying Windows' extension 1.3.6.1.4.1.311.66.1.0 is accepted and `openssl
//! verify` checks the issued certificate against the CA; `curl` with the client certificate
//! posts a SyncML package and reads the SyncHdr status; `xmllint` checks customizations.xml.
//! Each check is skipped when its tool is missing, unless `ENROLL_PEERS_REQUIRED` is set.

use super::main_helpers::*;
use super::{BULK, PW};
use base64::Engine as _;
use enroll_wmdm::mde2::EnrollRequest;
use enroll_wmdm::provdoc::ParsedProvisioningDoc;
use enroll_wmdm::soap::{self, Envelope};
use std::process::Command;

fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("ENROLL_PEERS_REQUIRED").is_none(),
            "{tool} is required but missing"
        );
        eprintln!("{tool} missing: check skipped");
    }
    ok
}

fn pem(der: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

const ZEEP: &str = r#"
import sys, requests
from zeep.wsse.username import UsernameToken
from lxml import etree
from zeep.transports import Transport
base, ca, upn, pw = sys.argv[1:5]
s = requests.Session(); s.trust_env = False; s.verify = ca
t = Transport(session=s)
NS_D = "http://schemas.microsoft.com/windows/management/2012/01/enrollment"
NS_X = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"
SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
def call(url, action, body, secure):
    env = etree.Element("{%s}Envelope" % SOAP, nsmap={"zs": SOAP, "zw": WSA})
    hdr = etree.SubElement(env, "{%s}Header" % SOAP)
    b = etree.SubElement(env, "{%s}Body" % SOAP); b.append(body)
    a = etree.SubElement(hdr, "{%s}Action" % WSA); a.text = action
    m = etree.SubElement(hdr, "{%s}MessageID" % WSA); m.text = "urn:uuid:zeep-1"
    to = etree.SubElement(hdr, "{%s}To" % WSA); to.text = url
    if secure:
        UsernameToken(upn, pw).apply(env, {})
    data = etree.tostring(env)
    r = t.post(url, data, {"Content-Type": "application/soap+xml; charset=utf-8"})
    assert r.status_code == 200, (r.status_code, r.content)
    return etree.fromstring(r.content)
d = etree.Element("{%s}Discover" % NS_D); rq = etree.SubElement(d, "{%s}request" % NS_D)
for k, v in [("EmailAddress", upn), ("RequestVersion", "4.0"), ("DeviceType", "CIMClient_Windows"), ("ApplicationVersion", "10.0")]:
    etree.SubElement(rq, "{%s}%s" % (NS_D, k)).text = v
rep = call(base + "/EnrollmentServer/Discovery.svc", NS_D + "/IDiscoveryService/Discover", d, False)
pol = rep.find(".//{%s}AuthPolicy" % NS_D).text
purl = rep.find(".//{%s}EnrollmentPolicyServiceUrl" % NS_D).text
g = etree.Element("{%s}GetPolicies" % NS_X); c = etree.SubElement(g, "{%s}client" % NS_X)
rep = call(purl, "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies", g, True)
bits = rep.find(".//{%s}minimalKeyLength" % NS_X).text
oid = rep.find(".//{%s}oID/{%s}value" % (NS_X, NS_X)).text
print(pol, bits, oid)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_peers_check_the_windows_endpoints() {
    let env = start("peers").await;
    env.user(BULK, PW).await;
    let dir = env.dir.join("peers");
    std::fs::create_dir_all(&dir).unwrap();
    let ca_pem = dir.join("root.pem");
    std::fs::write(&ca_pem, env.server.ca_cert_pem()).unwrap();

    // zeep: Discover and GetPolicies with a UsernameToken, parsed by namespace.
    if have("python3", &["-c", "import zeep"]) {
        let script = dir.join("zeep_check.py");
        std::fs::write(&script, ZEEP).unwrap();
        let out = Command::new("python3")
            .arg(&script)
            .args([env.base.as_str(), ca_pem.to_str().unwrap(), BULK, PW])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "zeep: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "OnPremise 2048 2.16.840.1.101.3.4.2.1"
        );
    }

    // xmllint: the customizations.xml is well-formed XML.
    let (_, v) = env
        .post(
            "/api/v1/admin/windows/packages",
            serde_json::json!({ "user": BULK, "secret": PW }),
        )
        .await;
    let cz = dir.join("customizations.xml");
    std::fs::write(&cz, v["customizations_xml"].as_str().unwrap()).unwrap();
    if have("xmllint", &["--version"]) {
        let out = Command::new("xmllint")
            .args(["--noout", "--nonet"])
            .arg(&cz)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "xmllint: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("xmllint")
            .args(["--xpath", "string(//*[local-name()='UPN']/@UPN)"])
            .arg(&cz)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), BULK);
    }

    // openssl: a CSR with Windows' 1.3.6.1.4.1.311.66.1.0 extension, then openssl verify.
    if !have("openssl", &["version"]) {
        env.server.shutdown().await;
        return;
    }
    let key = dir.join("pc.key");
    let csr = dir.join("pc.csr");
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-subj",
            "/CN=OPENSSL-PC",
            "-outform",
            "DER",
        ])
        .args(["-addext", "1.3.6.1.4.1.311.66.1.0=DER:02:01:00"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = EnrollRequest {
        csr_der: std::fs::read(&csr).unwrap(),
        context: vec![
            ("DeviceID".into(), "OPENSSL-PC".into()),
            ("EnrollmentType".into(), "Full".into()),
        ],
    }
    .to_xml("urn:uuid:o", "x", &soap::username_security(BULK, PW));
    let (s, text) = env.soap("/EnrollmentServer/Enrollment.svc", body).await;
    assert!(s.is_success(), "{text}");
    let doc = enroll_wmdm::mde2::read_rstr(&Envelope::parse(&text).unwrap()).unwrap();
    let parsed = ParsedProvisioningDoc::parse(&doc).unwrap();
    let leaf = dir.join("leaf.pem");
    let chain = dir.join("chain.pem");
    std::fs::write(&leaf, pem(&parsed.mine[0].2)).unwrap();
    std::fs::write(
        &chain,
        format!("{}{}", pem(&parsed.roots[0].1), env.server.ca_cert_pem()),
    )
    .unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&chain)
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // curl with that client certificate: a SyncML package, the SyncHdr status read back.
    if have("curl", &["--version"]) {
        let url = format!("{}/ManagementServer/MDM.svc", env.base);
        let msg = enroll_wmdm::syncml::Message {
            hdr: enroll_wmdm::syncml::SyncHdr {
                session_id: "1".into(),
                msg_id: 1,
                target: url.clone(),
                source: "OPENSSL-PC".into(),
            },
            commands: vec![
                enroll_wmdm::syncml::Command::alert(1, "1201"),
                enroll_wmdm::syncml::Command::new(
                    enroll_wmdm::syncml::Kind::Replace,
                    2,
                    vec![enroll_wmdm::syncml::Item::source(
                        "./DevInfo/Man",
                        "OpenSSL PC Co",
                    )],
                ),
            ],
            is_final: true,
        };
        let body = dir.join("msg.xml");
        std::fs::write(&body, msg.to_xml()).unwrap();
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--cacert"])
            .arg(&ca_pem)
            .arg("--cert")
            .arg(&leaf)
            .arg("--key")
            .arg(&key)
            .args([
                "-H",
                "Content-Type: application/vnd.syncml.dm+xml",
                "--data-binary",
            ])
            .arg(format!("@{}", body.display()))
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reply = enroll_wmdm::syncml::Message::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(reply.header_status().unwrap().data.as_deref(), Some("200"));
        // Without the certificate: refused.
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca_pem)
            .args(["--data-binary"])
            .arg(format!("@{}", body.display()))
            .arg(&url)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    }
    env.server.shutdown().await;
}
