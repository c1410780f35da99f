//! SOAP 1.2 envelopes with WS-Addressing and WS-Security headers, as MS-MDE2 uses them, and the
//! MS-MDE2 faults (section 2.2.10) with their MENROLL codes.
//!
//! [`Envelope::parse`] reads the header (`Action`, `MessageID`, `To`), the credential in
//! `wsse:Security` (a `UsernameToken` with a plain-text password, or a `BinarySecurityToken`)
//! and hands back the body's first element. [`envelope`] and [`fault`] write replies.

use crate::error::{malformed, Result};
use crate::xml::{self, esc};
use base64::Engine as _;
use roxmltree::{Document, Node};

/// SOAP 1.2 envelope namespace.
pub const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing 1.0.
pub const NS_WSA: &str = "http://www.w3.org/2005/08/addressing";
/// WS-Security 1.0 extension (`wsse`).
pub const NS_WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Security utility (`wsu`).
pub const NS_WSU: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// `wsse:Password/@Type` of a plain-text password.
pub const PASSWORD_TEXT: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
/// `EncodingType` of base64 binary tokens.
pub const BASE64_BINARY: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary";
/// The enrollment namespace of MS-WSTEP / MS-MDE2 faults.
pub const NS_ENROLLMENT: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment";

/// Largest SOAP request accepted (a CSR and a token fit in a few kilobytes).
pub const MAX_SOAP_BYTES: usize = 64 * 1024;

/// The credential of the `wsse:Security` header. `Debug` hides secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// `wsse:UsernameToken` (MS-MDE2 OnPremise): the UPN and the password (secret).
    UsernameToken {
        /// User principal name.
        username: String,
        /// Plain-text password.
        password: String,
    },
    /// `wsse:BinarySecurityToken` (Federated): the decoded token and its `ValueType`.
    BinaryToken {
        /// `ValueType` attribute.
        value_type: String,
        /// The token (for an Entra token, the JWT text).
        token: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UsernameToken { username, .. } => f
                .debug_struct("UsernameToken")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::BinaryToken { value_type, .. } => f
                .debug_struct("BinaryToken")
                .field("value_type", value_type)
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// A parsed request envelope (the document stays borrowed for the body).
pub struct Envelope<'a> {
    doc: Document<'a>,
    /// `wsa:Action`.
    pub action: String,
    /// `wsa:MessageID` (echoed as `RelatesTo`).
    pub message_id: Option<String>,
    /// `wsa:To`.
    pub to: Option<String>,
    /// The `wsse:Security` credential, when present.
    pub credential: Option<Credential>,
}

impl<'a> Envelope<'a> {
    /// Parses a SOAP 1.2 envelope (at most [`MAX_SOAP_BYTES`]).
    pub fn parse(text: &'a str) -> Result<Self> {
        let what = "SOAP envelope";
        let doc = xml::parse(text, MAX_SOAP_BYTES, what)?;
        let root = doc.root_element();
        if !xml::is(root, NS_SOAP, "Envelope") {
            return Err(malformed(what, "the root is not a SOAP 1.2 Envelope"));
        }
        let header = xml::need(root, NS_SOAP, "Header", what)?;
        let action = xml::child_text(header, NS_WSA, "Action")
            .filter(|a| !a.is_empty())
            .ok_or_else(|| malformed(what, "missing WS-Addressing <Action>"))?;
        let message_id = xml::child_text(header, NS_WSA, "MessageID");
        let to = xml::child_text(header, NS_WSA, "To");
        let credential = match xml::child(header, NS_WSSE, "Security") {
            None => None,
            Some(sec) => Some(read_credential(sec)?),
        };
        xml::need(root, NS_SOAP, "Body", what)?;
        Ok(Self {
            action,
            message_id,
            to,
            credential,
            doc,
        })
    }

    /// The first element of the body, if any.
    pub fn body(&self) -> Option<Node<'_, 'a>> {
        xml::child(self.doc.root_element(), NS_SOAP, "Body")?
            .children()
            .find(Node::is_element)
    }
}

fn read_credential(sec: Node<'_, '_>) -> Result<Credential> {
    let what = "WS-Security header";
    if let Some(ut) = xml::child(sec, NS_WSSE, "UsernameToken") {
        let username = xml::child_text(ut, NS_WSSE, "Username")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| malformed(what, "UsernameToken without <Username>"))?;
        let pw = xml::need(ut, NS_WSSE, "Password", what)?;
        if let Some(t) = pw.attribute("Type") {
            if t != PASSWORD_TEXT {
                return Err(malformed(what, "only PasswordText passwords are accepted"));
            }
        }
        let password = pw.children().filter_map(|t| t.text()).collect::<String>();
        return Ok(Credential::UsernameToken { username, password });
    }
    if let Some(bst) = xml::child(sec, NS_WSSE, "BinarySecurityToken") {
        let value_type = bst.attribute("ValueType").unwrap_or("").to_owned();
        let raw = xml::text(bst);
        let token = decode_token(&raw, bst.attribute("EncodingType"))?;
        return Ok(Credential::BinaryToken { value_type, token });
    }
    Err(malformed(what, "neither UsernameToken nor BinarySecurityToken"))
}

/// A token in a `BinarySecurityToken`: base64 of the text when `EncodingType` says so (or when
/// it decodes to printable text), else the text itself.
///
/// A token is text without control characters (a JWT, an opaque token): one that decodes (or,
/// raw, is) anything else is refused, so that every accepted token reads back the same from
/// what [`binary_security`] writes for it.
fn decode_token(raw: &str, encoding: Option<&str>) -> Result<String> {
    const WHAT: &str = "BinarySecurityToken";
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok();
    let base64_declared = encoding.is_some_and(|e| e.ends_with("base64binary"));
    let printable = |s: &str| s.chars().all(|c| !c.is_control());
    match decoded.map(String::from_utf8) {
        Some(Ok(text)) if printable(&text) => Ok(text),
        Some(_) if base64_declared => Err(malformed(WHAT, "the decoded token is not printable UTF-8 text")),
        None if base64_declared => Err(malformed(WHAT, "not base64")),
        _ if !printable(&compact) => Err(malformed(WHAT, "the token holds control characters")),
        _ => Ok(compact),
    }
}

/// A reply envelope: `Action`, `RelatesTo` (the request's `MessageID`), `ActivityId`, and the body.
pub fn envelope(action: &str, relates_to: Option<&str>, activity_id: &str, body: &str) -> String {
    let relates = relates_to
        .map(|r| format!("<a:RelatesTo>{}</a:RelatesTo>", esc(r)))
        .unwrap_or_default();
    format!(
        "<s:Envelope xmlns:s=\"{NS_SOAP}\" xmlns:a=\"{NS_WSA}\" xmlns:u=\"{NS_WSU}\">\
<s:Header><a:Action s:mustUnderstand=\"1\">{}</a:Action>\
<ActivityId CorrelationId=\"{id}\" xmlns=\"http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics\">{id}</ActivityId>\
{relates}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
        esc(action),
        id = esc(activity_id),
    )
}

/// The MS-MDE2 fault subcodes (section 2.2.10) and their MENROLL HRESULTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, 0x80180001.
    MessageFormat,
    /// MENROLL_E_DEVICE_AUTHENTICATION_ERROR, 0x80180002.
    Authentication,
    /// MENROLL_E_DEVICE_AUTHORIZATION_ERROR, 0x80180003.
    Authorization,
    /// MENROLL_E_DEVICE_CERTIFICATEREQUEST_ERROR, 0x80180004.
    CertificateRequest,
    /// MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR, 0x80180005.
    EnrollmentServer,
    /// MENROLL_E_DEVICE_INTERNALSERVICE_ERROR, 0x80180006.
    InternalServiceFault,
    /// MENROLL_E_DEVICE_INVALIDSECURITY_ERROR, 0x80180007.
    InvalidSecurity,
    /// MENROLL_E_DEVICECAPREACHED, 0x80180013.
    DeviceCapReached,
}

impl FaultKind {
    /// The subcode's local name.
    pub fn subcode(self) -> &'static str {
        match self {
            Self::MessageFormat => "MessageFormat",
            Self::Authentication => "Authentication",
            Self::Authorization => "Authorization",
            Self::CertificateRequest => "CertificateRequest",
            Self::EnrollmentServer => "EnrollmentServer",
            Self::InternalServiceFault => "InternalServiceFault",
            Self::InvalidSecurity => "InvalidSecurity",
            Self::DeviceCapReached => "DeviceCapReached",
        }
    }

    /// The MENROLL error name.
    pub fn menroll(self) -> &'static str {
        match self {
            Self::MessageFormat => "MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR",
            Self::Authentication => "MENROLL_E_DEVICE_AUTHENTICATION_ERROR",
            Self::Authorization => "MENROLL_E_DEVICE_AUTHORIZATION_ERROR",
            Self::CertificateRequest => "MENROLL_E_DEVICE_CERTIFICATEREQUEST_ERROR",
            Self::EnrollmentServer => "MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR",
            Self::InternalServiceFault => "MENROLL_E_DEVICE_INTERNALSERVICE_ERROR",
            Self::InvalidSecurity => "MENROLL_E_DEVICE_INVALIDSECURITY_ERROR",
            Self::DeviceCapReached => "MENROLL_E_DEVICECAPREACHED",
        }
    }

    /// The HRESULT.
    pub fn hresult(self) -> u32 {
        match self {
            Self::MessageFormat => 0x8018_0001,
            Self::Authentication => 0x8018_0002,
            Self::Authorization => 0x8018_0003,
            Self::CertificateRequest => 0x8018_0004,
            Self::EnrollmentServer => 0x8018_0005,
            Self::InternalServiceFault => 0x8018_0006,
            Self::InvalidSecurity => 0x8018_0007,
            Self::DeviceCapReached => 0x8018_0013,
        }
    }

    /// Reads a subcode local name.
    pub fn from_subcode(s: &str) -> Option<Self> {
        [
            Self::MessageFormat,
            Self::Authentication,
            Self::Authorization,
            Self::CertificateRequest,
            Self::EnrollmentServer,
            Self::InternalServiceFault,
            Self::InvalidSecurity,
            Self::DeviceCapReached,
        ]
        .into_iter()
        .find(|k| k.subcode() == s)
    }

    /// Whether the fault is the sender's (`s:Sender`) rather than the server's (`s:Receiver`).
    pub fn is_sender(self) -> bool {
        matches!(self, Self::MessageFormat | Self::InvalidSecurity)
    }
}

/// A fault envelope: `s:Code` (`Sender`/`Receiver`), the MS-MDE2 subcode, the reason in words and
/// a `DeviceEnrollmentServiceError` detail (error type, message, trace id).
pub fn fault(
    action: &str,
    relates_to: Option<&str>,
    activity_id: &str,
    kind: FaultKind,
    reason: &str,
) -> String {
    let code = if kind.is_sender() {
        "s:Sender"
    } else {
        "s:Receiver"
    };
    let body = format!(
        "<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>s:{sub}</s:Value></s:Subcode></s:Code>\
<s:Reason><s:Text xml:lang=\"en-US\">{reason}</s:Text></s:Reason>\
<s:Detail><DeviceEnrollmentServiceError xmlns=\"{NS_ENROLLMENT}\"><ErrorType>{sub}</ErrorType>\
<Message>{menroll} (0x{hr:08X}): {reason}</Message><TraceId>{id}</TraceId></DeviceEnrollmentServiceError></s:Detail></s:Fault>",
        sub = kind.subcode(),
        reason = esc(reason),
        menroll = kind.menroll(),
        hr = kind.hresult(),
        id = esc(activity_id),
    );
    envelope(action, relates_to, activity_id, &body)
}

/// A fault read back (by a client): subcode and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The subcode, when it is one of MS-MDE2's.
    pub kind: Option<FaultKind>,
    /// The subcode text as sent.
    pub subcode: String,
    /// `s:Reason/s:Text`.
    pub reason: String,
}

/// Reads a fault from a reply body element, if it is one.
pub fn read_fault(body: Node<'_, '_>) -> Option<Fault> {
    if !xml::is(body, NS_SOAP, "Fault") {
        return None;
    }
    let sub = xml::child(body, NS_SOAP, "Code")
        .and_then(|c| xml::child(c, NS_SOAP, "Subcode"))
        .and_then(|s| xml::child_text(s, NS_SOAP, "Value"))
        .unwrap_or_default();
    let local = sub.rsplit(':').next().unwrap_or("").to_owned();
    let reason = xml::child(body, NS_SOAP, "Reason")
        .and_then(|r| xml::child_text(r, NS_SOAP, "Text"))
        .unwrap_or_default();
    Some(Fault {
        kind: FaultKind::from_subcode(&local),
        subcode: local,
        reason,
    })
}

/// A `wsse:Security` header with a UsernameToken (what a device sends for OnPremise).
pub fn username_security(username: &str, password: &str) -> String {
    format!(
        "<wsse:Security xmlns:wsse=\"{NS_WSSE}\" s:mustUnderstand=\"1\"><wsse:UsernameToken u:Id=\"uuid-1\">\
<wsse:Username>{}</wsse:Username><wsse:Password Type=\"{PASSWORD_TEXT}\">{}</wsse:Password>\
</wsse:UsernameToken></wsse:Security>",
        esc(username),
        esc(password)
    )
}

/// A `wsse:Security` header with a base64 BinarySecurityToken of `value_type`.
pub fn binary_security(value_type: &str, token: &str) -> String {
    format!(
        "<wsse:Security xmlns:wsse=\"{NS_WSSE}\" s:mustUnderstand=\"1\"><wsse:BinarySecurityToken ValueType=\"{}\" \
EncodingType=\"{BASE64_BINARY}\">{}</wsse:BinarySecurityToken></wsse:Security>",
        esc(value_type),
        base64::engine::general_purpose::STANDARD.encode(token.as_bytes())
    )
}

/// A request envelope (what a device sends): `Action`, `MessageID`, `ReplyTo`, `To`, security.
pub fn request(action: &str, message_id: &str, to: &str, security: &str, body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{NS_SOAP}\" xmlns:a=\"{NS_WSA}\" xmlns:u=\"{NS_WSU}\"><s:Header>\
<a:Action s:mustUnderstand=\"1\">{}</a:Action><a:MessageID>{}</a:MessageID>\
<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>\
<a:To s:mustUnderstand=\"1\">{}</a:To>{security}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
        esc(action),
        esc(message_id),
        esc(to)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_username_token_by_namespace_and_hides_it() {
        let sec = username_security("a@b.c", "p<w>&");
        let text = request(
            "urn:act",
            "urn:uuid:1",
            "https://x/",
            &sec,
            "<x:B xmlns:x=\"urn:b\"/>",
        );
        let env = Envelope::parse(&text).unwrap();
        assert_eq!(env.action, "urn:act");
        assert_eq!(env.message_id.as_deref(), Some("urn:uuid:1"));
        let cred = env.credential.clone().unwrap();
        assert_eq!(
            cred,
            Credential::UsernameToken {
                username: "a@b.c".into(),
                password: "p<w>&".into()
            }
        );
        assert!(!format!("{cred:?}").contains("p<w>"));
        assert_eq!(env.body().unwrap().tag_name().name(), "B");
    }

    #[test]
    fn binary_token_round_trip_and_faults() {
        let sec = binary_security("urn:ietf:params:oauth:token-type:jwt", "eyJ.abc.def");
        let text = request("urn:act", "urn:uuid:1", "https://x/", &sec, "");
        let env = Envelope::parse(&text).unwrap();
        match env.credential.unwrap() {
            Credential::BinaryToken { token, .. } => assert_eq!(token, "eyJ.abc.def"),
            other => panic!("{other:?}"),
        }
        let f = fault(
            "urn:r",
            Some("urn:uuid:1"),
            "id",
            FaultKind::Authentication,
            "wrong <secret>",
        );
        let doc = xml::parse(&f, 100_000, "t").unwrap();
        let body = xml::child(doc.root_element(), NS_SOAP, "Body").unwrap();
        let read = read_fault(body.first_element_child().unwrap()).unwrap();
        assert_eq!(read.kind, Some(FaultKind::Authentication));
        assert_eq!(read.reason, "wrong <secret>");
    }

    /// Found by the `windows_soap` fuzz target (10M run): a raw token (no `EncodingType`, not
    /// base64) holding DEL characters was accepted, and what our writer makes of it read back
    /// as another token. Tokens with control characters are refused now, raw or decoded.
    #[test]
    fn binary_tokens_with_control_characters_are_refused_and_accepted_ones_read_back() {
        let bst = |attrs: &str, text: &str| {
            let sec = format!(
                "<wsse:Security xmlns:wsse=\"{NS_WSSE}\"><wsse:BinarySecurityToken \
                 ValueType=\"urn:ietf:params:oauth:token-type:jwt\"{attrs}>{text}</wsse:BinarySecurityToken></wsse:Security>"
            );
            let text = request("urn:act", "urn:uuid:1", "https://x/", &sec, "");
            Envelope::parse(&text)
                .map(|env| env.credential)
                .map_err(|e| e.to_string())
        };
        let enc = format!(" EncodingType=\"{BASE64_BINARY}\"");
        use base64::Engine as _;
        let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
        // Raw, with DEL (XML allows it): refused, and the message names no byte of it.
        let err = bst("", "ZXlKaGJHY2lPaUpT\u{7f}\u{7f}TkdsUGFVcHQ=").unwrap_err();
        assert!(err.contains("control characters"), "{err}");
        assert!(!err.contains("ZXlK"), "{err}");
        // Declared base64 that decodes to a control character or to non-UTF-8: refused.
        assert!(bst(&enc, &b64("eyJ\u{1}x")).is_err());
        assert!(bst(&enc, "//79").is_err());
        assert!(bst(&enc, "eyJ.not.base64").is_err());
        // Accepted forms read back equal from what binary_security writes.
        for (attrs, text, want) in [
            (enc.as_str(), b64("eyJ.abc.def"), "eyJ.abc.def"),
            ("", "eyJ.abc.def".to_string(), "eyJ.abc.def"),
            ("", b64("token with spaces"), "token with spaces"),
            ("", b64("a\tb"), b64("a\tb").leak() as &str),
        ] {
            let Some(Credential::BinaryToken { value_type, token }) = bst(attrs, &text).unwrap() else {
                panic!("{text}");
            };
            assert_eq!(token, want);
            let again = request(
                "urn:act",
                "urn:uuid:1",
                "https://x/",
                &binary_security(&value_type, &token),
                "",
            );
            match Envelope::parse(&again).unwrap().credential {
                Some(Credential::BinaryToken { token: t, .. }) => assert_eq!(t, token),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_soap_request() {
        assert!(Envelope::parse("<a/>").is_err());
        let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body/></s:Envelope>"#;
        assert!(Envelope::parse(soap11).is_err());
        let no_action = format!("<s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Header/><s:Body/></s:Envelope>");
        assert!(Envelope::parse(&no_action).is_err());
        assert!(Envelope::parse(&"x".repeat(MAX_SOAP_BYTES + 1)).is_err());
    }
}
