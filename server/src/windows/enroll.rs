//! MS-MDE2 enrollment: discovery, the MS-XCEP policy and the MS-WSTEP certificate request.
//!
//! A request that fails any check is answered with an MS-MDE2 fault and changes nothing: the
//! password (argon2 or the directory) and the Entra token are checked before the store
//! transaction; the CSR, the device rules (one device per non-bulk user), the device record,
//! the certificate and the Windows enrollment row are all written in one transaction.

use super::queries::{self, WindowsDeviceRow};
use super::{
    is_bulk_upn, WindowsService, CLIENT_CERT_DAYS, ENROLLMENT_PATH, MANAGEMENT_PATH, POLICY_PATH, PROVIDER_ID,
};
use crate::crypto;
use crate::devices::{self, DeviceRow};
use crate::error::ApiError;
use crate::users::{self, UserRow};
use der::Decode as _;
use enroll_proto::secret::SecretString;
use enroll_proto::{DeviceDescriptor, DeviceState, Platform};
use enroll_wmdm::mde2::{self, AuthPolicy, DiscoverRequest, DiscoverResponse, EnrollRequest, Policy};
use enroll_wmdm::provdoc::{CertStore, ProvisioningDoc};
use enroll_wmdm::soap::{Credential, Envelope, FaultKind};
use rusqlite::TransactionBehavior;
use std::time::{Duration, SystemTime};

/// A refusal, answered as an MS-MDE2 SOAP fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoapFault {
    /// The MS-MDE2 subcode.
    pub kind: FaultKind,
    /// The reason, in words (never a secret).
    pub reason: String,
}

pub(crate) fn fault(kind: FaultKind, reason: impl Into<String>) -> SoapFault {
    SoapFault {
        kind,
        reason: reason.into(),
    }
}

impl From<ApiError> for SoapFault {
    fn from(e: ApiError) -> Self {
        fault(FaultKind::InternalServiceFault, e.info.message)
    }
}

impl From<rusqlite::Error> for SoapFault {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::from(e).into()
    }
}

/// Who is enrolling, once the credential checked out.
pub(super) struct Principal {
    pub(super) user: UserRow,
    /// A bulk user (seed 001 prefix, or the Entra package user of seed 002).
    pub(super) bulk: bool,
    /// The Entra device object of a Federated device enrollment.
    pub(super) entra_device: Option<String>,
}

/// The OID of sha256WithRSAEncryption.
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";

/// SHA-1 thumbprint, upper-case hex (how Windows names certificates in the store).
pub(super) fn thumbprint(der: &[u8]) -> String {
    hex::encode_upper(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der))
}

fn parse_env(body: &str) -> Result<Envelope<'_>, SoapFault> {
    Envelope::parse(body).map_err(|e| {
        fault(
            FaultKind::MessageFormat,
            format!("the request is not readable: {e}"),
        )
    })
}

impl WindowsService<'_> {
    /// `Discover`: OnPremise for our users, Federated for users of a connected Entra tenant.
    pub(crate) fn discover(&self, body: &str) -> Result<(String, Option<String>), SoapFault> {
        let env = parse_env(body)?;
        if env.action != mde2::ACTION_DISCOVER {
            return Err(fault(
                FaultKind::MessageFormat,
                "this endpoint answers Discover only",
            ));
        }
        let req = DiscoverRequest::read(&env).map_err(|e| fault(FaultKind::MessageFormat, e.to_string()))?;
        let domain = req.email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        let federated =
            !domain.is_empty() && queries::tenant_by_domain(self.lock()?.conn(), domain)?.is_some();
        let policy = if federated {
            AuthPolicy::Federated
        } else {
            AuthPolicy::OnPremise
        };
        if !req.auth_policies.is_empty() && !req.auth_policies.iter().any(|p| p == policy.as_str()) {
            return Err(fault(
                FaultKind::Authorization,
                format!(
                    "this server needs the {} authentication policy, which the client does not offer",
                    policy.as_str()
                ),
            ));
        }
        let rep = DiscoverResponse {
            auth_policy: policy,
            enrollment_version: "4.0".into(),
            policy_url: format!("{}{POLICY_PATH}", self.base_url),
            enrollment_url: format!("{}{ENROLLMENT_PATH}", self.base_url),
            authentication_url: federated.then(|| format!("{}{}", self.base_url, super::entra::AUTH_PATH)),
        };
        Ok((
            rep.to_xml(env.message_id.as_deref(), &crate::common::new_id()),
            env.message_id,
        ))
    }

    /// `GetPolicies` (authenticated like the enrollment): RSA ≥ 2048 bits, SHA-256.
    pub(crate) fn policy(&self, body: &str) -> Result<(String, Option<String>), SoapFault> {
        let env = parse_env(body)?;
        if env.action != mde2::ACTION_GET_POLICIES {
            return Err(fault(
                FaultKind::MessageFormat,
                "this endpoint answers GetPolicies only",
            ));
        }
        mde2::read_get_policies(&env).map_err(|e| fault(FaultKind::MessageFormat, e.to_string()))?;
        self.authenticate(env.credential.as_ref())?;
        let p = Policy {
            min_key_bits: mde2::MIN_KEY_BITS,
            hash_oid: mde2::OID_SHA256.into(),
            validity_seconds: CLIENT_CERT_DAYS * 86_400,
            renewal_seconds: 30 * 86_400,
        };
        Ok((
            p.to_xml(env.message_id.as_deref(), &crate::common::new_id()),
            env.message_id,
        ))
    }

    /// The credential of a request: a UsernameToken (UPN + secret) or an Entra access token.
    pub(super) fn authenticate(&self, cred: Option<&Credential>) -> Result<Principal, SoapFault> {
        match cred {
            None => Err(fault(
                FaultKind::InvalidSecurity,
                "the request carries no WS-Security credential",
            )),
            Some(Credential::UsernameToken { username, password }) => {
                let user = self.check_password(username, &SecretString::new(password.clone()))?;
                let bulk = is_bulk_upn(&user.email);
                Ok(Principal {
                    user,
                    bulk,
                    entra_device: None,
                })
            }
            Some(Credential::BinaryToken { token, .. }) => {
                let claims = self.verify_access_token(token)?;
                let c = self.lock()?;
                let user = users::user_by_email(c.conn(), &claims.upn)?.ok_or_else(|| {
                    fault(
                        FaultKind::Authorization,
                        format!(
                            "{} is not on this server yet: sync the Entra users (enroll server windows entra sync) and install the package again",
                            claims.upn
                        ),
                    )
                })?;
                let package = queries::entra_user(c.conn(), &claims.upn)?.is_some_and(|u| u.3);
                Ok(Principal {
                    user,
                    bulk: package,
                    entra_device: claims.device_id,
                })
            }
        }
    }

    /// UPN + secret against the users (argon2, or the directory for directory users).
    pub(super) fn check_password(&self, upn: &str, password: &SecretString) -> Result<UserRow, SoapFault> {
        let invalid = || fault(FaultKind::Authentication, "unknown user or wrong secret");
        let user = users::user_by_email(self.lock()?.conn(), upn)?;
        let Some(user) = user else {
            let _ = crypto::argon2_verify(password.expose().as_bytes(), crypto::dummy_hash());
            return Err(invalid());
        };
        let ok = if user.directory {
            self.directory.authenticate(&user.email, password).map_err(|e| {
                tracing::warn!(error = %e, "directory authentication failed");
                fault(
                    FaultKind::EnrollmentServer,
                    "the directory is unavailable, retry later",
                )
            })?
        } else {
            match &user.password_hash {
                Some(h) => crypto::argon2_verify(password.expose().as_bytes(), h),
                None => {
                    let _ = crypto::argon2_verify(password.expose().as_bytes(), crypto::dummy_hash());
                    false
                }
            }
        };
        if ok {
            Ok(user)
        } else {
            Err(invalid())
        }
    }

    /// `RequestSecurityToken`: the client certificate and the provisioning document.
    pub(crate) fn enroll(&self, body: &str) -> Result<(String, Option<String>), SoapFault> {
        let env = parse_env(body)?;
        if env.action != mde2::ACTION_RST {
            return Err(fault(
                FaultKind::MessageFormat,
                "this endpoint answers RequestSecurityToken only",
            ));
        }
        let req = EnrollRequest::read(&env).map_err(|e| fault(FaultKind::MessageFormat, e.to_string()))?;
        let hw = req
            .item("DeviceID")
            .or_else(|| req.item("HWDevID"))
            .map(str::trim)
            .filter(|h| !h.is_empty() && h.len() <= 128 && h.chars().all(|c| c.is_ascii_graphic()))
            .ok_or_else(|| {
                fault(
                    FaultKind::MessageFormat,
                    "the DeviceID context item is missing or not printable",
                )
            })?
            .to_owned();
        let csr = verify_csr(&req.csr_der)?;
        let principal = self.authenticate(env.credential.as_ref())?;
        let device_enrollment = principal.entra_device.is_some();
        let os_version = req
            .item("OSVersion")
            .or_else(|| req.item("ApplicationVersion"))
            .unwrap_or("")
            .to_owned();
        let device_name = req.item("DeviceName").unwrap_or("").to_owned();
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = queries::windows_devices_by_hw(&tx, &hw)?
            .into_iter()
            .filter_map(|w| {
                devices::device_by_id(&tx, &w.device_id)
                    .ok()
                    .flatten()
                    .map(|d| (w, d))
            })
            .find(|(_, d)| matches!(d.state, DeviceState::Pending | DeviceState::Active));
        if existing.is_none()
            && !principal.bulk
            && queries::other_windows_devices_of(&tx, &principal.user.id, &hw)? > 0
        {
            return Err(fault(
                FaultKind::DeviceCapReached,
                "this user already has a Windows device enrolled: only windows-bulkenroll users enroll several devices",
            ));
        }
        let (mut device, reenroll) = match existing {
            Some((_, d)) => (d, true),
            None => (
                DeviceRow::pending(
                    None,
                    DeviceDescriptor {
                        platform: Platform::Windows,
                        os_version: os_version.clone(),
                        model: String::new(),
                        manufacturer: String::new(),
                        serial: None,
                        imeis: Vec::new(),
                        hardware_id: Some(hw.clone()),
                        agent_version: String::new(),
                    },
                    now,
                ),
                false,
            ),
        };
        device.user_id = Some(principal.user.id.clone());
        if !device_name.is_empty() {
            device.details.insert("device_name".into(), device_name);
        }
        let subject = principal
            .entra_device
            .clone()
            .unwrap_or_else(|| device.id.clone());
        let name = enroll_mdm::cert::common_name(&subject)
            .map_err(|e| fault(FaultKind::CertificateRequest, e.to_string()))?;
        let issued_at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0));
        let cert = self
            .pki
            .scep_ca()
            .issue_identity(&name, &csr.public_key, issued_at, CLIENT_CERT_DAYS)
            .map_err(|e| {
                tracing::error!(error = %e, "issuing a Windows client certificate failed");
                fault(
                    FaultKind::CertificateRequest,
                    "the certificate could not be issued",
                )
            })?;
        let serial =
            crate::pki::serial_hex(&cert).map_err(|e| fault(FaultKind::CertificateRequest, e.to_string()))?;
        if reenroll {
            devices::update_device(&tx, &device)?;
            queries::clear_sessions(&tx, &device.id)?;
            devices::add_history(
                &tx,
                &device.id,
                now,
                "reenrolled",
                "Windows: new client certificate",
            )?;
        } else {
            devices::insert_device(&tx, &device)?;
            let detail = match (principal.bulk, device_enrollment) {
                (true, true) => format!(
                    "Windows device enrollment in bulk for {} (Entra package user)",
                    principal.user.email
                ),
                (true, false) => format!("Windows, bulk-enrolled for {}", principal.user.email),
                (false, true) => "Windows device enrollment (Entra)".to_owned(),
                (false, false) => "Windows user enrollment".to_owned(),
            };
            devices::add_history(&tx, &device.id, now, "enrolling", &detail)?;
        }
        queries::upsert_windows_device(
            &tx,
            &WindowsDeviceRow {
                device_id: device.id.clone(),
                hw_dev_id: hw,
                enrollment_kind: if device_enrollment { "device" } else { "user" }.into(),
                bulk_owner: principal.bulk.then(|| principal.user.id.clone()),
                entra_device_id: principal.entra_device.clone(),
                cert_serial: serial,
                cert_der: cert.clone(),
                enrolled_at: now,
            },
        )?;
        tx.commit()?;
        drop(store);
        tracing::info!(device_id = %device.id, bulk = principal.bulk, device_enrollment, "Windows device enrolled");
        let ca = self.pki.scep_ca().cert_der().to_vec();
        let doc = ProvisioningDoc {
            ca: (ca.clone(), thumbprint(&ca)),
            client: (cert.clone(), thumbprint(&cert)),
            store: if device_enrollment {
                CertStore::System
            } else {
                CertStore::User
            },
            management_url: format!("{}{MANAGEMENT_PATH}", self.base_url),
            provider_id: PROVIDER_ID.into(),
            name: self.name.clone(),
            device_id: subject,
        };
        Ok((
            mde2::rstr_xml(&doc.to_xml(), env.message_id.as_deref(), &crate::common::new_id()),
            env.message_id,
        ))
    }
}

/// A verified PKCS #10 request: self-signature, RSA ≥ 2048 bits, SHA-256 with RSA. Extension
/// requests (Windows adds 1.3.6.1.4.1.311.66.1.0) are read past, not refused.
pub(super) fn verify_csr(der: &[u8]) -> Result<enroll_mdm::cert::ParsedCsr, SoapFault> {
    let bad = |why: String| {
        fault(
            FaultKind::CertificateRequest,
            format!("the certificate request is refused: {why}"),
        )
    };
    let req = x509_cert::request::CertReq::from_der(der)
        .map_err(|e| bad(format!("not a PKCS#10 request ({e})")))?;
    if req.algorithm.oid.to_string() != SHA256_WITH_RSA {
        return Err(bad("it must be signed with SHA-256 and RSA (the policy)".into()));
    }
    enroll_mdm::cert::parse_csr(der).map_err(|e| bad(e.to_string()))
}
