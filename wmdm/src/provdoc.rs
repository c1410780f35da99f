//! The `wap-provisioningdoc` of the enrollment reply (MS-MDE2 section 2.2.8.2): the CA in
//! `CertificateStore/Root/System`, the client certificate in `CertificateStore/My/User` (a
//! user enrollment) or `My/System` (a device enrollment), and the `w7` APPLICATION settings
//! that point the DM client at the management URL, plus `DMClient/Provider` settings.

use crate::error::{malformed, Result};
use crate::xml::{self, esc};
use base64::Engine as _;
use std::collections::BTreeMap;

/// Largest provisioning document a device accepts.
pub const MAX_PROVDOC_BYTES: usize = 128 * 1024;

/// Which store the client certificate goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStore {
    /// `My/User`: a user enrollment.
    User,
    /// `My/System`: a device enrollment (Entra device, bulk token).
    System,
}

impl CertStore {
    /// The characteristic name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::System => "System",
        }
    }
}

/// What the server puts in the document.
#[derive(Debug, Clone)]
pub struct ProvisioningDoc {
    /// The CA certificate (DER) and its SHA-1 thumbprint (upper-case hex).
    pub ca: (Vec<u8>, String),
    /// The client certificate (DER) and its thumbprint.
    pub client: (Vec<u8>, String),
    /// Its store.
    pub store: CertStore,
    /// The OMA-DM management URL (`ADDR`).
    pub management_url: String,
    /// `PROVIDER-ID`.
    pub provider_id: String,
    /// `NAME`.
    pub name: String,
    /// The enrolled device's id on the server (`EntDMID`).
    pub device_id: String,
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

impl ProvisioningDoc {
    /// The document text.
    pub fn to_xml(&self) -> String {
        let store = self.store.as_str();
        let search = format!("Subject=CN%3D{}&Stores=MY%5C{store}", self.device_id);
        format!(
            "<wap-provisioningdoc version=\"1.1\">\
<characteristic type=\"CertificateStore\"><characteristic type=\"Root\"><characteristic type=\"System\">\
<characteristic type=\"{ca_t}\"><parm name=\"EncodedCertificate\" value=\"{ca}\"/></characteristic>\
</characteristic></characteristic>\
<characteristic type=\"My\"><characteristic type=\"{store}\"><characteristic type=\"{cl_t}\">\
<parm name=\"EncodedCertificate\" value=\"{cl}\"/></characteristic>\
<characteristic type=\"PrivateKeyContainer\"/></characteristic></characteristic></characteristic>\
<characteristic type=\"APPLICATION\"><parm name=\"APPID\" value=\"w7\"/>\
<parm name=\"PROVIDER-ID\" value=\"{pid}\"/><parm name=\"NAME\" value=\"{name}\"/>\
<parm name=\"ADDR\" value=\"{addr}\"/><parm name=\"CONNRETRYFREQ\" value=\"6\"/>\
<parm name=\"INITIALBACKOFFTIME\" value=\"30000\"/><parm name=\"MAXBACKOFFTIME\" value=\"120000\"/>\
<parm name=\"BACKCOMPATRETRYDISABLED\"/><parm name=\"DEFAULTENCODING\" value=\"application/vnd.syncml.dm+xml\"/>\
<parm name=\"SSLCLIENTCERTSEARCHCRITERIA\" value=\"{search}\"/>\
<characteristic type=\"APPAUTH\"><parm name=\"AAUTHLEVEL\" value=\"CLIENT\"/><parm name=\"AAUTHTYPE\" value=\"DIGEST\"/>\
<parm name=\"AAUTHSECRET\" value=\"unused\"/><parm name=\"AAUTHDATA\" value=\"bm9uY2U=\"/></characteristic>\
<characteristic type=\"APPAUTH\"><parm name=\"AAUTHLEVEL\" value=\"APPSRV\"/><parm name=\"AAUTHTYPE\" value=\"DIGEST\"/>\
<parm name=\"AAUTHNAME\" value=\"{pid}\"/><parm name=\"AAUTHSECRET\" value=\"unused\"/>\
<parm name=\"AAUTHDATA\" value=\"bm9uY2U=\"/></characteristic></characteristic>\
<characteristic type=\"DMClient\"><characteristic type=\"Provider\"><characteristic type=\"{pid}\">\
<parm name=\"EntDMID\" value=\"{dev}\"/><parm name=\"CertRenewTimeStamp\" value=\"0\"/>\
<characteristic type=\"Poll\"><parm name=\"NumberOfFirstRetries\" value=\"8\"/>\
<parm name=\"IntervalForFirstSetOfRetries\" value=\"15\"/></characteristic></characteristic>\
</characteristic></characteristic></wap-provisioningdoc>",
            ca_t = esc(&self.ca.1),
            ca = b64(&self.ca.0),
            cl_t = esc(&self.client.1),
            cl = b64(&self.client.0),
            pid = esc(&self.provider_id),
            name = esc(&self.name),
            addr = esc(&self.management_url),
            search = esc(&search),
            dev = esc(&self.device_id),
        )
    }
}

/// A provisioning document as a device reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedProvisioningDoc {
    /// Certificates of `Root/System`: (thumbprint, DER).
    pub roots: Vec<(String, Vec<u8>)>,
    /// Certificates of `My/<store>`: (store, thumbprint, DER).
    pub mine: Vec<(String, String, Vec<u8>)>,
    /// The `w7` APPLICATION parameters (name → value).
    pub application: BTreeMap<String, String>,
}

type XNode<'a, 'i> = roxmltree::Node<'a, 'i>;

fn typed<'a, 'i>(n: XNode<'a, 'i>, t: &str) -> Option<XNode<'a, 'i>> {
    n.children()
        .filter(|c| c.is_element() && c.tag_name().name() == "characteristic")
        .find(|c| c.attribute("type") == Some(t))
}

fn chars<'a, 'i>(n: XNode<'a, 'i>) -> Vec<XNode<'a, 'i>> {
    n.children()
        .filter(|c| c.is_element() && c.tag_name().name() == "characteristic")
        .collect()
}

fn parm(n: XNode<'_, '_>, name: &str) -> Option<String> {
    n.children()
        .filter(|c| c.is_element() && c.tag_name().name() == "parm")
        .find(|c| c.attribute("name") == Some(name))
        .map(|c| c.attribute("value").unwrap_or("").to_owned())
}

impl ParsedProvisioningDoc {
    /// Reads a document.
    pub fn parse(text: &str) -> Result<Self> {
        let what = "wap-provisioningdoc";
        let doc = xml::parse(text, MAX_PROVDOC_BYTES, what)?;
        let root = doc.root_element();
        if root.tag_name().name() != "wap-provisioningdoc" {
            return Err(malformed(what, "the root is not <wap-provisioningdoc>"));
        }
        let decode = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|_| malformed(what, "a certificate is not base64"))
        };
        let store = typed(root, "CertificateStore").ok_or_else(|| malformed(what, "no CertificateStore"))?;
        let mut roots = Vec::new();
        if let Some(sys) = typed(store, "Root").and_then(|r| typed(r, "System")) {
            for c in chars(sys) {
                let v = parm(c, "EncodedCertificate")
                    .ok_or_else(|| malformed(what, "root without certificate"))?;
                roots.push((c.attribute("type").unwrap_or("").to_owned(), decode(&v)?));
            }
        }
        let mut mine = Vec::new();
        if let Some(my) = typed(store, "My") {
            for s in chars(my) {
                for c in chars(s) {
                    if let Some(v) = parm(c, "EncodedCertificate") {
                        mine.push((
                            s.attribute("type").unwrap_or("").to_owned(),
                            c.attribute("type").unwrap_or("").to_owned(),
                            decode(&v)?,
                        ));
                    }
                }
            }
        }
        let app = chars(root)
            .into_iter()
            .filter(|c| c.attribute("type") == Some("APPLICATION"))
            .find(|c| parm(*c, "APPID").as_deref() == Some("w7"))
            .ok_or_else(|| malformed(what, "no w7 APPLICATION"))?;
        let application = app
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "parm")
            .map(|c| {
                (
                    c.attribute("name").unwrap_or("").to_owned(),
                    c.attribute("value").unwrap_or("").to_owned(),
                )
            })
            .collect();
        Ok(Self {
            roots,
            mine,
            application,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip() {
        let doc = ProvisioningDoc {
            ca: (vec![1, 2], "AA".into()),
            client: (vec![3, 4], "BB".into()),
            store: CertStore::System,
            management_url: "https://h/ManagementServer/MDM.svc".into(),
            provider_id: "enroll".into(),
            name: "enroll & co".into(),
            device_id: "dev1".into(),
        };
        let parsed = ParsedProvisioningDoc::parse(&doc.to_xml()).unwrap();
        assert_eq!(parsed.roots, vec![("AA".into(), vec![1, 2])]);
        assert_eq!(parsed.mine, vec![("System".into(), "BB".into(), vec![3, 4])]);
        assert_eq!(parsed.application["ADDR"], "https://h/ManagementServer/MDM.svc");
        assert_eq!(parsed.application["NAME"], "enroll & co");
        assert!(ParsedProvisioningDoc::parse("<x/>").is_err());
    }
}
