//! The Windows enrollment steps as transitions of the core's step machine
//! ([`enroll_core::agent::machine::Steps`]): discovery → (Entra token) → policy → key and CSR →
//! enrollment → the provisioning document checked against the key → the first OMA-DM session.
//!
//! Each transition reads the committed state and returns the next one; the machine commits it
//! before the next transition. Re-running a transition after a crash is safe: discovery and
//! policy only read; the Entra redemption names the same device object for the same device key;
//! the key is committed (`KeyReady`) before the request that uses it, so a repeated enrollment
//! sends the same CSR with the same `DeviceID`, which the server matches to the same device
//! record; the provisioning check is local; a repeated first session is a new session.

use crate::state::{self, State, Step};
use crate::{http, invalid, msg_id, omadm, Credential, DeviceInfo, DeviceTree, Result, WsimError};
use enroll_core::agent::machine::Steps;
use enroll_mdm::cert::{build_csr, common_name, ParsedCertificate};
use enroll_mdm::key::{RsaBits, RsaPrivateKey};
use enroll_wmdm::mde2::{self, DiscoverRequest, DiscoverResponse, EnrollRequest, Policy};
use enroll_wmdm::provdoc::ParsedProvisioningDoc;
use enroll_wmdm::soap::{self, Envelope};
use std::time::SystemTime;

/// The device parts a transition uses.
pub(crate) struct Enroller<'a, T: DeviceTree> {
    pub(crate) info: &'a DeviceInfo,
    pub(crate) credential: &'a Credential,
    pub(crate) trust: &'a [Vec<u8>],
    pub(crate) tree: &'a mut T,
    pub(crate) transcript: &'a mut Vec<String>,
    pub(crate) client: reqwest::Client,
}

impl<T: DeviceTree> Steps for Enroller<'_, T> {
    type State = State;
    type Error = WsimError;

    async fn step(&mut self, from: &State) -> Result<State> {
        let mut s = from.clone();
        match from.step {
            Step::Start => self.discover(&mut s).await?,
            Step::Discovered if s.auth_policy.as_deref() == Some("Federated") => self.redeem(&mut s).await?,
            Step::Discovered | Step::TokenRedeemed => self.policy(&mut s).await?,
            Step::PolicyRead => self.key(&mut s)?,
            Step::KeyReady => self.enroll(&mut s).await?,
            Step::Enrolled => self.check(&mut s)?,
            Step::Provisioned => {
                let n = omadm::session(self.info, self.trust, self.tree, self.transcript, &s).await?;
                s.sessions_done += 1;
                s.last_session_commands = u32::try_from(n).unwrap_or(u32::MAX);
                s.step = Step::Managed;
            }
            Step::Managed => {}
        }
        Ok(s)
    }
}

fn upn(c: &Credential) -> &str {
    match c {
        Credential::Package(c) => &c.enrollment.upn,
        Credential::EntraBulkToken { package_upn, .. } => package_upn,
    }
}

fn discovery_url(c: &Credential) -> Result<String> {
    let raw = match c {
        Credential::Package(c) => c.enrollment.discovery_url.clone(),
        Credential::EntraBulkToken { discovery_url, .. } => discovery_url.clone(),
    };
    let u =
        url::Url::parse(&raw).map_err(|e| invalid("discovery", format!("DiscoveryServiceFullUrl: {e}")))?;
    if u.scheme() != "https" {
        return Err(invalid("discovery", "DiscoveryServiceFullUrl must be https"));
    }
    Ok(raw)
}

impl<T: DeviceTree> Enroller<'_, T> {
    async fn discover(&self, s: &mut State) -> Result<()> {
        let step = "discovery";
        let base = discovery_url(self.credential)?;
        let url = if base.trim_end_matches('/').ends_with(".svc") {
            base.clone()
        } else {
            format!("{}/EnrollmentServer/Discovery.svc", base.trim_end_matches('/'))
        };
        http::get_ok(&self.client, &url, step).await?;
        let req = DiscoverRequest {
            email: upn(self.credential).to_owned(),
            request_version: "4.0".into(),
            device_type: "CIMClient_Windows".into(),
            application_version: self.info.os_version.clone(),
            auth_policies: vec!["OnPremise".into(), "Federated".into()],
        };
        let text = http::post_soap(&self.client, &url, req.to_xml(&msg_id(), &url), step).await?;
        let env = Envelope::parse(&text).map_err(|e| invalid(step, e))?;
        let rep = DiscoverResponse::read(&env).map_err(|e| invalid(step, e))?;
        let host = |u: &str| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        };
        if host(&rep.policy_url) != host(&url) || host(&rep.enrollment_url) != host(&url) {
            return Err(invalid(
                step,
                "the policy and enrollment services are not on the discovery host",
            ));
        }
        s.auth_policy = Some(rep.auth_policy.as_str().to_owned());
        s.policy_url = Some(rep.policy_url);
        s.enrollment_url = Some(rep.enrollment_url);
        s.authentication_url = rep.authentication_url;
        s.step = Step::Discovered;
        Ok(())
    }

    async fn redeem(&self, s: &mut State) -> Result<()> {
        let Credential::EntraBulkToken { token, .. } = self.credential else {
            return Err(invalid(
                "discovery",
                "the server asks for Federated authentication, which this package does not carry",
            ));
        };
        let url = s
            .authentication_url
            .clone()
            .ok_or_else(|| invalid("token", "discovery gave no authentication URL"))?;
        let (access, device) = http::redeem(
            &self.client,
            &url,
            token,
            &self.info.device_id,
            &self.info.device_name,
        )
        .await?;
        s.access_token = Some(access);
        s.entra_device_id = Some(device);
        s.step = Step::TokenRedeemed;
        Ok(())
    }

    fn security(&self, s: &State) -> Result<String> {
        match (self.credential, s.auth_policy.as_deref(), &s.access_token) {
            (Credential::Package(c), Some("OnPremise"), _) => {
                Ok(soap::username_security(&c.enrollment.upn, &c.enrollment.secret))
            }
            (Credential::EntraBulkToken { .. }, Some("Federated"), Some(t)) => {
                Ok(soap::binary_security(mde2::VALUE_JWT, t))
            }
            (_, p, _) => Err(invalid(
                "discovery",
                format!(
                    "the server asks for {} authentication, which this package does not carry",
                    p.unwrap_or("no")
                ),
            )),
        }
    }

    async fn policy(&self, s: &mut State) -> Result<()> {
        let step = "policy";
        let url = s
            .policy_url
            .clone()
            .ok_or_else(|| invalid(step, "no policy URL"))?;
        let sec = self.security(s)?;
        let body = soap::request(
            mde2::ACTION_GET_POLICIES,
            &msg_id(),
            &url,
            &sec,
            &mde2::get_policies_body(),
        );
        let text = http::post_soap(&self.client, &url, body, step).await?;
        let p = Policy::read(&Envelope::parse(&text).map_err(|e| invalid(step, e))?)
            .map_err(|e| invalid(step, e))?;
        if p.hash_oid != mde2::OID_SHA256 {
            return Err(invalid(step, "the policy's hash is not SHA-256"));
        }
        s.min_key_bits = p.min_key_bits;
        s.step = Step::PolicyRead;
        Ok(())
    }

    fn key(&self, s: &mut State) -> Result<()> {
        let step = "key";
        let bits = match s.min_key_bits {
            0..=2048 => RsaBits::Rsa2048,
            2049..=3072 => RsaBits::Rsa3072,
            _ => RsaBits::Rsa4096,
        };
        let key = RsaPrivateKey::generate(bits).map_err(|e| invalid(step, e))?;
        let subject = common_name(&self.info.device_id).map_err(|e| invalid(step, e))?;
        let csr = build_csr(&key, &subject, None).map_err(|e| invalid(step, e))?;
        s.key_pkcs8 = Some(state::b64e(&key.to_pkcs8_der().map_err(|e| invalid(step, e))?));
        s.csr_der = Some(state::b64e(&csr));
        s.step = Step::KeyReady;
        Ok(())
    }

    async fn enroll(&self, s: &mut State) -> Result<()> {
        let step = "enrollment";
        let csr = state::b64d(s.csr_der.as_deref().ok_or_else(|| invalid(step, "no CSR"))?)?;
        let url = s
            .enrollment_url
            .clone()
            .ok_or_else(|| invalid(step, "no enrollment URL"))?;
        let sec = self.security(s)?;
        let device_enrollment = matches!(self.credential, Credential::EntraBulkToken { .. });
        let req = EnrollRequest {
            csr_der: csr,
            context: vec![
                ("UXInitiated".into(), "false".into()),
                ("HWDevID".into(), self.info.device_id.clone()),
                ("Locale".into(), "en-US".into()),
                ("TargetedUserLoggedIn".into(), "false".into()),
                ("OSEdition".into(), "48".into()),
                ("DeviceName".into(), self.info.device_name.clone()),
                ("MAC".into(), "00-15-5D-00-00-01".into()),
                ("DeviceID".into(), self.info.device_id.clone()),
                (
                    "EnrollmentType".into(),
                    if device_enrollment { "Device" } else { "Full" }.into(),
                ),
                ("DeviceType".into(), "CIMClient_Windows".into()),
                ("OSVersion".into(), self.info.os_version.clone()),
                ("ApplicationVersion".into(), self.info.os_version.clone()),
            ],
        };
        let text = http::post_soap(&self.client, &url, req.to_xml(&msg_id(), &url, &sec), step).await?;
        let doc = mde2::read_rstr(&Envelope::parse(&text).map_err(|e| invalid(step, e))?)
            .map_err(|e| invalid(step, e))?;
        s.provisioning_doc = Some(doc);
        s.step = Step::Enrolled;
        Ok(())
    }

    /// The provisioning document: the client certificate is for this key, in the expected
    /// store, signed by the CA sent, valid now; a management address is given.
    fn check(&self, s: &mut State) -> Result<()> {
        let step = "provisioning document";
        let doc = s
            .provisioning_doc
            .as_deref()
            .ok_or_else(|| invalid(step, "none received"))?;
        let parsed = ParsedProvisioningDoc::parse(doc).map_err(|e| invalid(step, e))?;
        let (store, _, cert) = parsed
            .mine
            .first()
            .cloned()
            .ok_or_else(|| invalid(step, "the provisioning document has no client certificate"))?;
        let device_enrollment = matches!(self.credential, Credential::EntraBulkToken { .. });
        let expected = if device_enrollment { "System" } else { "User" };
        if store != expected {
            return Err(invalid(
                step,
                format!("the certificate goes to My/{store}, expected My/{expected}"),
            ));
        }
        let key = state::b64d(s.key_pkcs8.as_deref().ok_or_else(|| invalid(step, "no key"))?)?;
        let key = RsaPrivateKey::from_pkcs8_der(&key).map_err(|e| invalid(step, e))?;
        let leaf = ParsedCertificate::from_der(&cert).map_err(|e| invalid(step, e))?;
        if leaf.public_key().map_err(|e| invalid(step, e))?.spki_der() != key.public_key_der() {
            return Err(invalid(
                step,
                "the issued certificate is not for this device's key",
            ));
        }
        let (_, ca) = parsed
            .roots
            .first()
            .cloned()
            .ok_or_else(|| invalid(step, "no CA certificate"))?;
        let ca_parsed = ParsedCertificate::from_der(&ca).map_err(|e| invalid(step, e))?;
        leaf.verify_signed_by(&ca_parsed)
            .map_err(|_| invalid(step, "the client certificate is not signed by the CA sent"))?;
        if !leaf.valid_at(SystemTime::now()) {
            return Err(invalid(step, "the client certificate is not valid now"));
        }
        let addr = parsed
            .application
            .get("ADDR")
            .cloned()
            .ok_or_else(|| invalid(step, "no management address (w7 ADDR)"))?;
        s.cert_der = Some(state::b64e(&cert));
        s.ca_der = Some(state::b64e(&ca));
        s.cert_store = Some(store);
        s.management_url = Some(addr);
        s.provisioning_doc = None;
        s.step = Step::Provisioned;
        Ok(())
    }
}
