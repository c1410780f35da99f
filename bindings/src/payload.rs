//! Enrollment payloads given as text or as an Android admin extras bundle, parsed into the
//! same [`ScannedIntent`] and ready [`Credential`] the frame scanner ([`crate::QrScanSession`])
//! returns:
//!
//! - [`parse_enrollment_payload`]: a QR code the app already decoded (ML Kit barcode scanning,
//!   VisionKit `DataScannerViewController`, a pasted invitation link);
//! - [`parse_admin_extras`]: the admin extras bundle Android hands a DPC when it is provisioned
//!   (`DevicePolicyManager.EXTRA_PROVISIONING_ADMIN_EXTRAS_BUNDLE` in the
//!   `ACTION_GET_PROVISIONING_MODE` and `ACTION_ADMIN_POLICY_COMPLIANCE` intents), as a map of
//!   string values.
//!
//! Both use the core's parser (`enroll_core::qr::parse_payload`) with its limits: 4 KiB of
//! text, at most 256 JSON values, https URLs only (plain http to a loopback host only when
//! allowed), no control characters. Errors are `InvalidInput` and name the offending key or
//! field, never a value. Both are pure and fast (no I/O): call them on any thread.

use crate::client::Credential;
use crate::error::EnrollError;
use crate::qr::ScannedIntent;
use enroll_core::qr::{self, EnrollmentIntent, PayloadOptions};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// An enrollment payload parsed from text or from an admin extras bundle.
///
/// To enroll: `client.enroll(server_url, credential)` when both are set. Without a credential
/// (an invitation without token) ask the user for a PIN or password; without a server (a bare
/// token, or a bundle with a token but no `SERVER_URL`) use the app's configured server.
#[derive(Debug, Clone, uniffi::Record)]
pub struct EnrollmentPayload {
    /// What the payload asks for. An admin extras bundle is a `KmeExtras` intent (the same
    /// keys: `enroll.SERVER_URL`, `enroll.ENROLLMENT_TOKEN`, `enroll.PROFILE_ID`,
    /// `enroll.attr.<name>`).
    pub intent: ScannedIntent,
    /// The enrollment server the payload names, if any.
    pub server_url: Option<String>,
    /// The credential the payload carries: its token, or a tokenless bulk enrollment for
    /// Android provisioning / admin extras without token. Its text form never shows the token.
    pub credential: Option<Arc<Credential>>,
}

/// The credential a parsed payload carries: its token (with or without a server), else a
/// tokenless bulk enrollment for Android provisioning / admin extras naming a server, else
/// `None` (an invitation without token: the user signs in with a PIN or password). A token
/// that the credential checks refuse is an error, not a missing credential.
pub(crate) fn credential_of(
    intent: &EnrollmentIntent,
) -> Result<Option<enroll_core::Credential>, EnrollError> {
    if let Some(token) = intent.token() {
        return Ok(Some(enroll_core::Credential::token(token.expose())?));
    }
    match enroll_core::Credential::from_qr_intent(intent) {
        Some(Ok((_, credential))) => Ok(Some(credential)),
        Some(Err(e)) => Err(e.into()),
        None => Ok(None),
    }
}

fn server_text(intent: &EnrollmentIntent) -> Option<String> {
    intent
        .server_url()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
}

impl TryFrom<EnrollmentIntent> for EnrollmentPayload {
    type Error = EnrollError;

    fn try_from(intent: EnrollmentIntent) -> Result<Self, EnrollError> {
        let credential = credential_of(&intent)?;
        Ok(Self {
            server_url: server_text(&intent),
            credential: credential.map(|inner| Arc::new(Credential { inner })),
            intent: intent.into(),
        })
    }
}

fn options(allow_insecure_loopback_http: bool) -> PayloadOptions {
    PayloadOptions {
        allow_insecure_loopback_http,
        ..PayloadOptions::default()
    }
}

/// Parses an enrollment payload given as text: a QR code decoded by ML Kit or VisionKit, or a
/// pasted invitation link. Accepts an invitation URL (`https://…/go?…`,
/// `https://…/enroll/<token>`), Android Enterprise provisioning JSON, Samsung KME DPC extras
/// JSON or a bare enrollment token; surrounding whitespace is ignored.
///
/// Throws `InvalidInput` for anything else (not an enrollment payload, longer than 4 KiB,
/// control characters, an `http://` URL unless `allow_insecure_loopback_http` and the host is
/// loopback, a value of the wrong JSON type, an unusable token). The error names the key or
/// field, never a value. Does not block.
#[uniffi::export(default(allow_insecure_loopback_http = false))]
pub fn parse_enrollment_payload(
    text: String,
    allow_insecure_loopback_http: bool,
) -> Result<EnrollmentPayload, EnrollError> {
    qr::parse_payload(&text, &options(allow_insecure_loopback_http))?.try_into()
}

/// Parses the admin extras bundle of an Android provisioning intent
/// (`EXTRA_PROVISIONING_ADMIN_EXTRAS_BUNDLE`, a `PersistableBundle`; Android delivers the
/// values of a QR, NFC or zero-touch provisioning as strings). Recognises `*.SERVER_URL`,
/// `*.ENROLLMENT_TOKEN` / `*.TOKEN`, `enroll.PROFILE_ID` and `enroll.attr.<name>`; other keys
/// are ignored. Without a token the credential is a tokenless bulk enrollment (with the
/// bundle's profile id).
///
/// Throws `InvalidInput` when the bundle names neither a server nor a token, holds
/// `android.app.extra.*` keys (pass the admin extras bundle, not the whole intent), is larger
/// than 4 KiB or 256 entries, or has an invalid value (an `http://` server unless
/// `allow_insecure_loopback_http` and the host is loopback, control characters, two token
/// keys). The error names the key, never a value. Does not block.
#[uniffi::export(default(allow_insecure_loopback_http = false))]
pub fn parse_admin_extras(
    extras: HashMap<String, String>,
    allow_insecure_loopback_http: bool,
) -> Result<EnrollmentPayload, EnrollError> {
    let options = options(allow_insecure_loopback_http);
    // Cheap checks before the bundle is turned into JSON for the core's parser.
    let size: usize = extras.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
    if extras.len() > qr::payload::MAX_JSON_ENTRIES || size > options.max_len {
        return Err(EnrollError::InvalidInput {
            detail: format!(
                "the admin extras bundle ({} entries, about {size} bytes) is larger than {} entries or {} bytes",
                extras.len(),
                qr::payload::MAX_JSON_ENTRIES,
                options.max_len
            ),
        });
    }
    if extras
        .keys()
        .any(|k| k.starts_with(qr::payload::ANDROID_EXTRA_PREFIX))
    {
        return Err(EnrollError::InvalidInput {
            detail: "the admin extras bundle holds android.app.extra.* keys (pass the admin extras bundle, not the provisioning intent's extras)".into(),
        });
    }
    if extras.is_empty() {
        return Err(EnrollError::InvalidInput {
            detail: "the admin extras bundle is empty (no SERVER_URL or ENROLLMENT_TOKEN)".into(),
        });
    }
    // Sorted, so that errors about two keys always name them in the same order.
    let sorted: BTreeMap<&str, &str> = extras.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let json = enroll_core::secret::SecretString::new(serde_json::to_string(&sorted).map_err(|_| {
        EnrollError::Internal {
            detail: "the admin extras bundle could not be encoded".into(),
        }
    })?);
    let intent = qr::parse_payload(json.expose(), &options)?;
    if !matches!(intent, EnrollmentIntent::KmeExtras(_)) {
        return Err(EnrollError::Internal {
            detail: "an admin extras bundle parsed as another payload kind".into(),
        });
    }
    intent.try_into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_intent_and_invitation_without_token() {
        let p = parse_enrollment_payload("  ent_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\n".into(), false)
            .expect("token");
        assert!(matches!(p.intent, ScannedIntent::Token));
        assert!(p.server_url.is_none());
        assert_eq!(p.credential.expect("credential").kind(), "token");
        let p =
            parse_enrollment_payload("https://mdm.example.com/go?user=a%40b.c".into(), false).expect("url");
        assert!(p.credential.is_none());
        assert_eq!(p.server_url.as_deref(), Some("https://mdm.example.com"));
    }

    #[test]
    fn bundle_with_token_only_has_no_server() {
        let extras = HashMap::from([("com.example.mdm.TOKEN".to_owned(), "TOKENSECRET123456".to_owned())]);
        let p = parse_admin_extras(extras, false).expect("bundle");
        assert!(p.server_url.is_none());
        assert_eq!(p.credential.expect("credential").kind(), "token");
        assert!(!format!("{:?}", p.intent).contains("TOKENSECRET"));
    }
}
