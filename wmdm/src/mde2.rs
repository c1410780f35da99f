//! The three MS-MDE2 enrollment exchanges: discovery (`IDiscoveryService/Discover`), the
//! certificate policy (MS-XCEP `GetPolicies`) and the enrollment (MS-WSTEP
//! `RequestSecurityToken`). For each: the request a device sends, the server's reading of it,
//! the reply the server sends and the device's reading of the reply.

use crate::error::{malformed, Result};
use crate::soap::{self, Envelope, NS_WSSE};
use crate::xml::{self, esc};
use base64::Engine as _;
use roxmltree::Node;

/// Discovery namespace (MS-MDE2 2012/01).
pub const NS_DISCOVERY: &str = "http://schemas.microsoft.com/windows/management/2012/01/enrollment";
/// `Action` of a Discover request.
pub const ACTION_DISCOVER: &str =
    "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover";
/// `Action` of the Discover reply.
pub const ACTION_DISCOVER_RESPONSE: &str =
    "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/DiscoverResponse";
/// MS-XCEP namespace.
pub const NS_XCEP: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy";
/// `Action` of GetPolicies.
pub const ACTION_GET_POLICIES: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies";
/// `Action` of the GetPolicies reply.
pub const ACTION_GET_POLICIES_RESPONSE: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse";
/// WS-Trust 1.3 namespace.
pub const NS_WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
/// WS-Authorization namespace of `AdditionalContext`.
pub const NS_AC: &str = "http://schemas.xmlsoap.org/ws/2006/12/authorization";
/// `Action` of RequestSecurityToken (MS-WSTEP).
pub const ACTION_RST: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep";
/// `Action` of the RequestSecurityTokenResponseCollection.
pub const ACTION_RSTRC: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep";
/// The token type a device asks for.
pub const TOKEN_TYPE: &str =
    "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken";
/// `ValueType` of the PKCS #10 request.
pub const VALUE_PKCS10: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10";
/// `ValueType` of the provisioning document in the reply.
pub const VALUE_PROVDOC: &str =
    "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc";
/// `ValueType` of an Entra (Azure AD) access token.
pub const VALUE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// WS-Trust `Issue` request type.
pub const REQUEST_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue";
/// OID of the SHA-256 hash (the policy's hash algorithm).
pub const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
/// Minimal RSA key length the policy asks for.
pub const MIN_KEY_BITS: u32 = 2048;

/// How the enrollment authenticates (MS-MDE2 `AuthPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPolicy {
    /// UPN + password in a WS-Security UsernameToken.
    OnPremise,
    /// A token from an identity provider (Entra) in a BinarySecurityToken.
    Federated,
}

impl AuthPolicy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnPremise => "OnPremise",
            Self::Federated => "Federated",
        }
    }

    /// Reads the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OnPremise" => Some(Self::OnPremise),
            "Federated" => Some(Self::Federated),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// A Discover request as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverRequest {
    /// `EmailAddress` (the UPN).
    pub email: String,
    /// `RequestVersion`.
    pub request_version: String,
    /// `DeviceType`.
    pub device_type: String,
    /// `ApplicationVersion` (the OS version).
    pub application_version: String,
    /// `AuthPolicies` the client supports (empty = not said).
    pub auth_policies: Vec<String>,
}

impl DiscoverRequest {
    /// Reads the body of a Discover envelope.
    pub fn read(env: &Envelope<'_>) -> Result<Self> {
        let what = "Discover request";
        let body = env.body().ok_or_else(|| malformed(what, "empty body"))?;
        if !xml::is(body, NS_DISCOVERY, "Discover") {
            return Err(malformed(what, "the body is not <Discover>"));
        }
        let req = xml::need(body, NS_DISCOVERY, "request", what)?;
        let t = |n: &str| xml::child_text(req, NS_DISCOVERY, n).unwrap_or_default();
        let auth_policies = xml::child(req, NS_DISCOVERY, "AuthPolicies")
            .map(|a| {
                xml::children(a, NS_DISCOVERY, "AuthPolicy")
                    .map(xml::text)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            email: t("EmailAddress"),
            request_version: t("RequestVersion"),
            device_type: t("DeviceType"),
            application_version: t("ApplicationVersion"),
            auth_policies,
        })
    }

    /// The request envelope a device sends to `to`.
    pub fn to_xml(&self, message_id: &str, to: &str) -> String {
        let policies: String = self
            .auth_policies
            .iter()
            .map(|p| format!("<AuthPolicy>{}</AuthPolicy>", esc(p)))
            .collect();
        let body = format!(
            "<Discover xmlns=\"{NS_DISCOVERY}\"><request xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">\
<EmailAddress>{}</EmailAddress><RequestVersion>{}</RequestVersion><DeviceType>{}</DeviceType>\
<ApplicationVersion>{}</ApplicationVersion><OSEdition>48</OSEdition><AuthPolicies>{policies}</AuthPolicies>\
</request></Discover>",
            esc(&self.email),
            esc(&self.request_version),
            esc(&self.device_type),
            esc(&self.application_version),
        );
        soap::request(ACTION_DISCOVER, message_id, to, "", &body)
    }
}

/// The Discover reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverResponse {
    /// How to authenticate.
    pub auth_policy: AuthPolicy,
    /// `EnrollmentVersion`.
    pub enrollment_version: String,
    /// MS-XCEP endpoint.
    pub policy_url: String,
    /// MS-WSTEP endpoint.
    pub enrollment_url: String,
    /// Federated only: where the device gets its token.
    pub authentication_url: Option<String>,
}

impl DiscoverResponse {
    /// The reply envelope.
    pub fn to_xml(&self, relates_to: Option<&str>, activity_id: &str) -> String {
        let auth_url = self
            .authentication_url
            .as_deref()
            .map(|u| format!("<AuthenticationServiceUrl>{}</AuthenticationServiceUrl>", esc(u)))
            .unwrap_or_default();
        let body = format!(
            "<DiscoverResponse xmlns=\"{NS_DISCOVERY}\"><DiscoverResult><AuthPolicy>{}</AuthPolicy>\
<EnrollmentVersion>{}</EnrollmentVersion><EnrollmentPolicyServiceUrl>{}</EnrollmentPolicyServiceUrl>\
<EnrollmentServiceUrl>{}</EnrollmentServiceUrl>{auth_url}</DiscoverResult></DiscoverResponse>",
            self.auth_policy.as_str(),
            esc(&self.enrollment_version),
            esc(&self.policy_url),
            esc(&self.enrollment_url),
        );
        soap::envelope(ACTION_DISCOVER_RESPONSE, relates_to, activity_id, &body)
    }

    /// Reads the reply (a fault becomes an error naming it).
    pub fn read(env: &Envelope<'_>) -> Result<Self> {
        let what = "Discover reply";
        let body = reply_body(env, what)?;
        let result = xml::need(body, NS_DISCOVERY, "DiscoverResult", what)?;
        let t = |n: &str| xml::child_text(result, NS_DISCOVERY, n);
        let auth_policy = t("AuthPolicy")
            .and_then(|a| AuthPolicy::parse(&a))
            .ok_or_else(|| malformed(what, "unknown <AuthPolicy>"))?;
        Ok(Self {
            auth_policy,
            enrollment_version: t("EnrollmentVersion").unwrap_or_default(),
            policy_url: t("EnrollmentPolicyServiceUrl").ok_or_else(|| malformed(what, "no policy URL"))?,
            enrollment_url: t("EnrollmentServiceUrl").ok_or_else(|| malformed(what, "no enrollment URL"))?,
            authentication_url: t("AuthenticationServiceUrl"),
        })
    }
}

/// The body element of a reply, or the fault as an error.
pub fn reply_body<'a, 'i>(env: &'a Envelope<'i>, what: &'static str) -> Result<Node<'a, 'i>> {
    let body = env.body().ok_or_else(|| malformed(what, "empty body"))?;
    if let Some(f) = soap::read_fault(body) {
        return Err(malformed(what, format!("fault {}: {}", f.subcode, f.reason)));
    }
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// MS-XCEP GetPolicies

/// The GetPolicies request body (no filter, no last update).
pub fn get_policies_body() -> String {
    format!(
        "<GetPolicies xmlns=\"{NS_XCEP}\"><client><lastUpdate xsi:nil=\"true\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/><preferredLanguage xsi:nil=\"true\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/></client><requestFilter xsi:nil=\"true\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/></GetPolicies>"
    )
}

/// Checks that a body is a GetPolicies request.
pub fn read_get_policies(env: &Envelope<'_>) -> Result<()> {
    let what = "GetPolicies request";
    let body = env.body().ok_or_else(|| malformed(what, "empty body"))?;
    if !xml::is(body, NS_XCEP, "GetPolicies") {
        return Err(malformed(what, "the body is not <GetPolicies>"));
    }
    Ok(())
}

/// The certificate policy the server publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `minimalKeyLength`.
    pub min_key_bits: u32,
    /// The hash algorithm OID.
    pub hash_oid: String,
    /// `validityPeriodSeconds`.
    pub validity_seconds: u64,
    /// `renewalPeriodSeconds`.
    pub renewal_seconds: u64,
}

impl Policy {
    /// The GetPoliciesResponse envelope (one policy, one OID: the hash algorithm).
    pub fn to_xml(&self, relates_to: Option<&str>, activity_id: &str) -> String {
        let nil = "xsi:nil=\"true\"";
        let body = format!(
            "<GetPoliciesResponse xmlns=\"{NS_XCEP}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
<response><policyID/><policyFriendlyName/><nextUpdateHours {nil}/><policiesNotChanged {nil}/><policies><policy>\
<policyOIDReference>0</policyOIDReference><cAs {nil}/><attributes><commonName>enroll-windows</commonName>\
<policySchema>3</policySchema><certificateValidity><validityPeriodSeconds>{}</validityPeriodSeconds>\
<renewalPeriodSeconds>{}</renewalPeriodSeconds></certificateValidity><permission><enroll>true</enroll>\
<autoEnroll>false</autoEnroll></permission><privateKeyAttributes><minimalKeyLength>{}</minimalKeyLength>\
<keySpec {nil}/><keyUsageProperty {nil}/><permissions {nil}/><algorithmOIDReference {nil}/>\
<cryptoProviders {nil}/></privateKeyAttributes><revision><majorRevision>101</majorRevision>\
<minorRevision>0</minorRevision></revision><supersededPolicies {nil}/><privateKeyFlags {nil}/>\
<subjectNameFlags {nil}/><enrollmentFlags {nil}/><generalFlags {nil}/>\
<hashAlgorithmOIDReference>1</hashAlgorithmOIDReference><rARequirements {nil}/><keyArchivalAttributes {nil}/>\
<extensions {nil}/></attributes></policy></policies></response><cAs {nil}/><oIDs><oID><value>{}</value>\
<group>1</group><oIDReferenceID>1</oIDReferenceID><defaultName>sha256</defaultName></oID></oIDs>\
</GetPoliciesResponse>",
            self.validity_seconds,
            self.renewal_seconds,
            self.min_key_bits,
            esc(&self.hash_oid),
        );
        soap::envelope(ACTION_GET_POLICIES_RESPONSE, relates_to, activity_id, &body)
    }

    /// Reads a GetPoliciesResponse (the first policy; the hash through its OID reference).
    pub fn read(env: &Envelope<'_>) -> Result<Self> {
        let what = "GetPolicies reply";
        let body = reply_body(env, what)?;
        let attrs = xml::find(body, NS_XCEP, "attributes").ok_or_else(|| malformed(what, "no policy"))?;
        let num = |parent: Node<'_, '_>, name: &str| -> Result<u64> {
            xml::find(parent, NS_XCEP, name)
                .map(xml::text)
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| malformed(what, format!("no number in <{name}>")))
        };
        let hash_ref = xml::child_text(attrs, NS_XCEP, "hashAlgorithmOIDReference").unwrap_or_default();
        let hash_oid = xml::find(body, NS_XCEP, "oIDs")
            .into_iter()
            .flat_map(|o| xml::children(o, NS_XCEP, "oID").collect::<Vec<_>>())
            .find(|o| xml::child_text(*o, NS_XCEP, "oIDReferenceID").as_deref() == Some(hash_ref.as_str()))
            .and_then(|o| xml::child_text(o, NS_XCEP, "value"))
            .ok_or_else(|| malformed(what, "the hash algorithm OID is not listed"))?;
        Ok(Self {
            min_key_bits: u32::try_from(num(attrs, "minimalKeyLength")?)
                .map_err(|_| malformed(what, "key length out of range"))?,
            hash_oid,
            validity_seconds: num(attrs, "validityPeriodSeconds")?,
            renewal_seconds: num(attrs, "renewalPeriodSeconds")?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// MS-WSTEP RequestSecurityToken

/// A RequestSecurityToken as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollRequest {
    /// The DER PKCS #10 request.
    pub csr_der: Vec<u8>,
    /// `AdditionalContext` items, in order.
    pub context: Vec<(String, String)>,
}

impl EnrollRequest {
    /// A context item by name (case-sensitive, as MS-MDE2 names them).
    pub fn item(&self, name: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads the body of an RST envelope.
    pub fn read(env: &Envelope<'_>) -> Result<Self> {
        let what = "RequestSecurityToken";
        let body = env.body().ok_or_else(|| malformed(what, "empty body"))?;
        if !xml::is(body, NS_WST, "RequestSecurityToken") {
            return Err(malformed(what, "the body is not <RequestSecurityToken>"));
        }
        match xml::child_text(body, NS_WST, "RequestType").as_deref() {
            Some(REQUEST_ISSUE) => {}
            _ => return Err(malformed(what, "RequestType is not Issue")),
        }
        let bst = xml::need(body, NS_WSSE, "BinarySecurityToken", what)?;
        if bst.attribute("ValueType") != Some(VALUE_PKCS10) {
            return Err(malformed(
                what,
                "the BinarySecurityToken is not a PKCS#10 request",
            ));
        }
        let b64: String = xml::text(bst).chars().filter(|c| !c.is_whitespace()).collect();
        let csr_der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| malformed(what, "the PKCS#10 request is not base64"))?;
        let mut context = Vec::new();
        if let Some(ac) = xml::child(body, NS_AC, "AdditionalContext") {
            for item in xml::children(ac, NS_AC, "ContextItem") {
                let name = item.attribute("Name").unwrap_or("").to_owned();
                let value = xml::child_text(item, NS_AC, "Value").unwrap_or_default();
                if context.len() >= 64 {
                    return Err(malformed(what, "too many context items"));
                }
                context.push((name, value));
            }
        }
        Ok(Self { csr_der, context })
    }

    /// The RST envelope a device sends (`security` is a `wsse:Security` header).
    pub fn to_xml(&self, message_id: &str, to: &str, security: &str) -> String {
        let items: String = self
            .context
            .iter()
            .map(|(n, v)| {
                format!(
                    "<ac:ContextItem Name=\"{}\"><ac:Value>{}</ac:Value></ac:ContextItem>",
                    esc(n),
                    esc(v)
                )
            })
            .collect();
        let body = format!(
            "<wst:RequestSecurityToken xmlns:wst=\"{NS_WST}\"><wst:TokenType>{TOKEN_TYPE}</wst:TokenType>\
<wst:RequestType>{REQUEST_ISSUE}</wst:RequestType><wsse:BinarySecurityToken xmlns:wsse=\"{NS_WSSE}\" \
ValueType=\"{VALUE_PKCS10}\" EncodingType=\"{}\">{}</wsse:BinarySecurityToken>\
<ac:AdditionalContext xmlns:ac=\"{NS_AC}\">{items}</ac:AdditionalContext></wst:RequestSecurityToken>",
            soap::BASE64_BINARY,
            base64::engine::general_purpose::STANDARD.encode(&self.csr_der),
        );
        soap::request(ACTION_RST, message_id, to, security, &body)
    }
}

/// The RSTR collection carrying the provisioning document (base64).
pub fn rstr_xml(provisioning_doc: &str, relates_to: Option<&str>, activity_id: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(provisioning_doc.as_bytes());
    let body = format!(
        "<RequestSecurityTokenResponseCollection xmlns=\"{NS_WST}\"><RequestSecurityTokenResponse>\
<TokenType>{TOKEN_TYPE}</TokenType><DispositionMessage xmlns=\"{}\"/><RequestedSecurityToken>\
<BinarySecurityToken ValueType=\"{VALUE_PROVDOC}\" EncodingType=\"{}\" xmlns=\"{NS_WSSE}\">{b64}</BinarySecurityToken>\
</RequestedSecurityToken><RequestID xmlns=\"{}\">0</RequestID></RequestSecurityTokenResponse>\
</RequestSecurityTokenResponseCollection>",
        soap::NS_ENROLLMENT,
        soap::BASE64_BINARY,
        soap::NS_ENROLLMENT,
    );
    soap::envelope(ACTION_RSTRC, relates_to, activity_id, &body)
}

/// Reads the provisioning document out of an RSTR collection (a fault becomes an error).
pub fn read_rstr(env: &Envelope<'_>) -> Result<String> {
    let what = "RequestSecurityTokenResponse";
    let body = reply_body(env, what)?;
    let bst = xml::find(body, NS_WSSE, "BinarySecurityToken").ok_or_else(|| malformed(what, "no token"))?;
    if bst.attribute("ValueType") != Some(VALUE_PROVDOC) {
        return Err(malformed(what, "the token is not a provisioning document"));
    }
    let b64: String = xml::text(bst).chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| malformed(what, "not base64"))?;
    String::from_utf8(bytes).map_err(|_| malformed(what, "not UTF-8"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn discovery_round_trip() {
        let req = DiscoverRequest {
            email: "windows-bulkenroll-1@abc.com".into(),
            request_version: "4.0".into(),
            device_type: "CIMClient_Windows".into(),
            application_version: "10.0.22631.1".into(),
            auth_policies: vec!["OnPremise".into(), "Federated".into()],
        };
        let text = req.to_xml("urn:uuid:1", "https://h/EnrollmentServer/Discovery.svc");
        let env = Envelope::parse(&text).unwrap();
        assert_eq!(env.action, ACTION_DISCOVER);
        assert_eq!(DiscoverRequest::read(&env).unwrap(), req);
        let rep = DiscoverResponse {
            auth_policy: AuthPolicy::Federated,
            enrollment_version: "4.0".into(),
            policy_url: "https://h/p".into(),
            enrollment_url: "https://h/e".into(),
            authentication_url: Some("https://h/a".into()),
        };
        let text = rep.to_xml(Some("urn:uuid:1"), "x");
        assert_eq!(
            DiscoverResponse::read(&Envelope::parse(&text).unwrap()).unwrap(),
            rep
        );
    }

    #[test]
    fn policy_and_rst_round_trip() {
        let p = Policy {
            min_key_bits: 2048,
            hash_oid: OID_SHA256.into(),
            validity_seconds: 31_536_000,
            renewal_seconds: 2_592_000,
        };
        let text = p.to_xml(None, "x");
        assert_eq!(Policy::read(&Envelope::parse(&text).unwrap()).unwrap(), p);
        let rst = EnrollRequest {
            csr_der: vec![0x30, 0x03, 1, 2, 3],
            context: vec![
                ("DeviceID".into(), "ABC".into()),
                ("EnrollmentType".into(), "Device".into()),
            ],
        };
        let text = rst.to_xml("urn:uuid:2", "https://h/e", &soap::username_security("u@x", "p"));
        let env = Envelope::parse(&text).unwrap();
        let read = EnrollRequest::read(&env).unwrap();
        assert_eq!(read, rst);
        assert_eq!(read.item("EnrollmentType"), Some("Device"));
        let reply = rstr_xml("<wap-provisioningdoc/>", Some("urn:uuid:2"), "x");
        assert_eq!(
            read_rstr(&Envelope::parse(&reply).unwrap()).unwrap(),
            "<wap-provisioningdoc/>"
        );
    }

    #[test]
    fn rst_refuses_other_tokens() {
        let rst = EnrollRequest {
            csr_der: vec![1],
            context: vec![],
        };
        let text = rst.to_xml("m", "t", "").replace(VALUE_PKCS10, "urn:other");
        assert!(EnrollRequest::read(&Envelope::parse(&text).unwrap()).is_err());
        let text = rst.to_xml("m", "t", "").replace("/Issue<", "/Renew<");
        assert!(EnrollRequest::read(&Envelope::parse(&text).unwrap()).is_err());
    }
}
