//! Profiles from the enrollment server (the reference server of this repository) through the
//! agent's protocol: `POST /enrollments` with the credential and the device's description,
//! `GET /enrollments/{id}/profile`. The profile it serves points SCEP and MDM at the same
//! server, whose MDM `TokenUpdate` makes the device active. The agent's JSON confirm
//! (`POST /enrollments/{id}/confirm`) is sent only when asked ([`ServerProfiles::confirm_over_json`]),
//! for servers that activate Apple devices that way.

use crate::device::{ApplePlatform, DeviceIdentity};
use crate::error::{Result, SimError};
use crate::fleet::{ProfileFuture, ProfileSource};
use crate::profile::EnrollmentProfile;
use enroll_core::client::ProtocolClient;
use enroll_proto::{ConfirmRequest, CredentialWire, DeviceDescriptor, EnrollRequest, Platform};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// Enrollment attempts by device index: `(enrollment_id, secret)`.
type Attempts = HashMap<usize, (String, enroll_proto::secret::SecretString)>;

/// A [`ProfileSource`] backed by the enrollment server.
pub struct ServerProfiles {
    client: ProtocolClient,
    credential: CredentialWire,
    platform: ApplePlatform,
    attempts: Mutex<Attempts>,
    confirm: bool,
}

impl std::fmt::Debug for ServerProfiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProfiles").finish_non_exhaustive()
    }
}

impl ServerProfiles {
    /// Profiles from the server `client` talks to, enrolling with `credential` (a bulk token
    /// enrolls many devices).
    pub fn new(client: ProtocolClient, credential: CredentialWire, platform: ApplePlatform) -> Self {
        Self {
            client,
            credential,
            platform,
            attempts: Mutex::new(HashMap::new()),
            confirm: false,
        }
    }

    /// Also confirm each enrollment over the agent's JSON API once the device is enrolled.
    pub fn confirm_over_json(mut self, confirm: bool) -> Self {
        self.confirm = confirm;
        self
    }
}

fn descriptor(identity: &DeviceIdentity, platform: ApplePlatform) -> DeviceDescriptor {
    DeviceDescriptor {
        platform: match platform {
            ApplePlatform::Ios => Platform::Ios,
            ApplePlatform::Macos => Platform::Macos,
        },
        os_version: identity.os_version.clone(),
        model: identity.product_name.clone(),
        manufacturer: "Apple".into(),
        serial: Some(identity.serial_number.clone()),
        imeis: identity.imei.iter().cloned().collect(),
        hardware_id: Some(identity.udid.clone()),
        agent_version: concat!("enroll-sim/", env!("CARGO_PKG_VERSION")).into(),
    }
}

impl ProfileSource for ServerProfiles {
    fn profile<'a>(&'a self, index: usize, identity: &'a DeviceIdentity) -> ProfileFuture<'a> {
        Box::pin(async move {
            let key = uuid::Uuid::new_v4().to_string();
            let request = EnrollRequest {
                credential: self.credential.clone(),
                device: descriptor(identity, self.platform),
            };
            let reply = self
                .client
                .enroll(&key, &request)
                .await
                .map_err(|e| SimError::Profile(format!("enrollment server: {e}")))?;
            let bytes = self
                .client
                .fetch_profile(&reply.enrollment_id, &reply.enrollment_secret)
                .await
                .map_err(|e| SimError::Profile(format!("enrollment server: {e}")))?
                .signed;
            if self.confirm {
                if let Ok(mut a) = self.attempts.lock() {
                    a.insert(index, (reply.enrollment_id, reply.enrollment_secret));
                }
            }
            Ok(bytes)
        })
    }

    fn enrolled<'a>(
        &'a self,
        index: usize,
        profile: &'a EnrollmentProfile,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let attempt = self.attempts.lock().ok().and_then(|mut a| a.remove(&index));
            let Some((id, secret)) = attempt else {
                return Ok(());
            };
            self.client
                .confirm(
                    &id,
                    &secret,
                    &ConfirmRequest {
                        profile_uuid: profile.uuid.clone(),
                    },
                )
                .await
                .map_err(|e| SimError::Profile(format!("enrollment server confirm: {e}")))?;
            Ok(())
        })
    }
}
