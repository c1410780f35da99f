//! One simulated device, from profile to command loop: RSA key, SCEP, check-in
//! `Authenticate` and `TokenUpdate` (to `CheckInURL`), then the command channel at
//! `ServerURL` — `Idle`, answer, next, until an empty 200. Every body is signed in an
//! `Mdm-Signature` header when the MDM payload sets `SignMessage`.
//!
//! The device records how long each step took ([`Timings`]).

use crate::answers::{After, DeviceState};
use crate::device::DeviceIdentity;
use crate::error::{wire, Result, SimError, Step};
use crate::http::Transport;
use crate::profile::EnrollmentProfile;
use enroll_core::client::{Method, RawReply};
use enroll_mdm::checkin::{Authenticate, CheckOut, CheckinMessage, TokenUpdate, CHECKIN_CONTENT_TYPE};
use enroll_mdm::command::{Report, COMMAND_CONTENT_TYPE, MAX_COMMAND_BYTES};
use enroll_mdm::key::{random_bytes, RsaBits, RsaPrivateKey};
use enroll_mdm::mdm_signature::{self, MDM_SIGNATURE_HEADER};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most commands handled in one poll (a server resending one command forever stops here).
pub const MAX_COMMANDS_PER_POLL: usize = 1000;

/// Key generations running at once, process-wide: one per core. Keygen is pure CPU; running
/// more at once only makes each slower and starves the servers under test when they share the
/// machine (the time spent waiting for a slot counts in [`Timings::keygen`]).
fn keygen_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    })
}

/// How long each step of an enrollment took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Getting and parsing the enrollment profile (set by the fleet; not part of `total`).
    pub profile: Duration,
    /// RSA key generation.
    pub keygen: Duration,
    /// SCEP: `GetCACaps`, `GetCACert` and `PKIOperation`.
    pub scep: Duration,
    /// Check-in `Authenticate`.
    pub authenticate: Duration,
    /// Check-in `TokenUpdate`.
    pub token_update: Duration,
    /// The first command-channel round trip (`Idle` and its reply).
    pub first_command: Option<Duration>,
    /// The whole enrollment from key generation, first poll included.
    pub total: Duration,
}

/// How a poll of the command channel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollEnd {
    /// The server had nothing more (empty 200).
    Idle,
    /// The MDM profile was removed (and `CheckOut` sent when the profile asks).
    Unenrolled,
    /// The device was erased.
    Erased,
}

/// The result of [`SimulatedDevice::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    /// Commands answered.
    pub commands: usize,
    /// How it ended.
    pub end: PollEnd,
}

/// An enrolled simulated device.
pub struct SimulatedDevice {
    transport: Arc<Transport>,
    profile: Arc<EnrollmentProfile>,
    key: Arc<RsaPrivateKey>,
    certificate: Vec<u8>,
    /// What the device holds and has answered.
    pub state: DeviceState,
    /// Step timings of the enrollment.
    pub timings: Timings,
    /// Whether the device is still enrolled.
    pub enrolled: bool,
}

impl std::fmt::Debug for SimulatedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedDevice")
            .field("udid", &self.state.identity.udid)
            .field("timings", &self.timings)
            .field("enrolled", &self.enrolled)
            .finish_non_exhaustive()
    }
}

fn expect_ok(step: Step, reply: &RawReply) -> Result<()> {
    if reply.is_success() {
        Ok(())
    } else {
        Err(SimError::Status {
            step,
            status: reply.status,
        })
    }
}

impl SimulatedDevice {
    /// Enrolls `identity` with `profile`, then polls the command channel once.
    pub async fn enroll(
        transport: Arc<Transport>,
        profile: Arc<EnrollmentProfile>,
        identity: DeviceIdentity,
    ) -> Result<Self> {
        let start = Instant::now();
        let bits = RsaBits::from_bits(profile.scep.key_size).map_err(wire(Step::Keygen))?;
        let slot = keygen_slots()
            .acquire()
            .await
            .map_err(|_| SimError::Config("key generation slots closed".into()))?;
        let key = tokio::task::spawn_blocking(move || RsaPrivateKey::generate(bits))
            .await
            .map_err(|_| SimError::Config("key generation task failed".into()))?
            .map_err(wire(Step::Keygen))?;
        drop(slot);
        let keygen = start.elapsed();

        let t = Instant::now();
        let certificate = crate::scep_client::enroll(&transport, &profile.scep, &key, &identity.udid).await?;
        let scep = t.elapsed();

        let mut device = Self {
            transport,
            state: DeviceState::new(identity, &profile),
            profile,
            key: Arc::new(key),
            certificate,
            timings: Timings {
                keygen,
                scep,
                ..Timings::default()
            },
            enrolled: false,
        };
        let id = &device.state.identity;
        let t = Instant::now();
        let auth = CheckinMessage::Authenticate(Authenticate {
            topic: device.profile.mdm.topic.clone(),
            udid: id.udid.clone(),
            device_name: Some(id.device_name.clone()),
            model: Some(id.model.clone()),
            model_name: Some(id.model_name.clone()),
            os_version: Some(id.os_version.clone()),
            build_version: Some(id.build_version.clone()),
            product_name: Some(id.product_name.clone()),
            serial_number: Some(id.serial_number.clone()),
            imei: id.imei.clone(),
            meid: None,
        });
        device.checkin(Step::Authenticate, &auth).await?;
        device.timings.authenticate = t.elapsed();

        let t = Instant::now();
        let token = random_bytes::<32>().map_err(wire(Step::TokenUpdate))?;
        let update = CheckinMessage::TokenUpdate(TokenUpdate {
            topic: device.profile.mdm.topic.clone(),
            udid: device.state.identity.udid.clone(),
            token: plist::Data::new(token.to_vec()),
            push_magic: uuid::Uuid::new_v4().to_string().to_uppercase(),
            unlock_token: None,
            awaiting_configuration: None,
        });
        device.checkin(Step::TokenUpdate, &update).await?;
        device.timings.token_update = t.elapsed();
        device.enrolled = true;

        let t = Instant::now();
        device.poll().await?;
        device.timings.first_command = Some(t.elapsed());
        device.timings.total = start.elapsed();
        Ok(device)
    }

    /// The device's identity certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    async fn send(
        &self,
        step: Step,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        max_reply: usize,
    ) -> Result<RawReply> {
        let signature = if self.profile.mdm.sign_message {
            Some(mdm_signature::sign(&body, &self.key, &self.certificate).map_err(wire(step))?)
        } else {
            None
        };
        let mut headers = vec![("content-type", content_type)];
        if let Some(sig) = &signature {
            headers.push((MDM_SIGNATURE_HEADER, sig.as_str()));
        }
        self.transport
            .request(step, Method::PUT, url, None, &headers, Some(body), max_reply)
            .await
    }

    async fn checkin(&self, step: Step, message: &CheckinMessage) -> Result<()> {
        let body = message.to_xml().map_err(wire(step))?;
        let reply = self
            .send(
                step,
                &self.profile.mdm.checkin_url,
                CHECKIN_CONTENT_TYPE,
                body,
                64 * 1024,
            )
            .await?;
        expect_ok(step, &reply)
    }

    async fn report(&self, report: &Report) -> Result<Option<Vec<u8>>> {
        let step = Step::Command;
        let body = report.to_xml().map_err(wire(step))?;
        let reply = self
            .send(
                step,
                &self.profile.mdm.server_url,
                COMMAND_CONTENT_TYPE,
                body,
                MAX_COMMAND_BYTES,
            )
            .await?;
        expect_ok(step, &reply)?;
        Ok(if reply.body.is_empty() {
            None
        } else {
            Some(reply.body)
        })
    }

    /// Sends `Idle` and answers commands until the server has none (or the device leaves).
    pub async fn poll(&mut self) -> Result<PollOutcome> {
        if !self.enrolled {
            return Ok(PollOutcome {
                commands: 0,
                end: PollEnd::Unenrolled,
            });
        }
        let mut next = self.report(&Report::idle(&self.state.identity.udid)).await?;
        let mut commands = 0;
        while let Some(body) = next {
            if commands == MAX_COMMANDS_PER_POLL {
                break;
            }
            commands += 1;
            let (report, after) = self.state.answer(&body);
            next = self.report(&report).await?;
            match after {
                After::Continue => {}
                After::Unenrolled => {
                    self.enrolled = false;
                    if self.profile.mdm.check_out_when_removed {
                        self.check_out().await?;
                    }
                    return Ok(PollOutcome {
                        commands,
                        end: PollEnd::Unenrolled,
                    });
                }
                After::Erased => {
                    self.enrolled = false;
                    return Ok(PollOutcome {
                        commands,
                        end: PollEnd::Erased,
                    });
                }
            }
        }
        Ok(PollOutcome {
            commands,
            end: PollEnd::Idle,
        })
    }

    /// One `Idle` request without answering anything (the idle check-in of the benchmark):
    /// returns whether the server had a command.
    pub async fn idle_once(&self) -> Result<bool> {
        Ok(self
            .report(&Report::idle(&self.state.identity.udid))
            .await?
            .is_some())
    }

    /// Sends `CheckOut` (the MDM profile is being removed) and marks the device unenrolled.
    pub async fn check_out(&mut self) -> Result<()> {
        let msg = CheckinMessage::CheckOut(CheckOut {
            topic: self.profile.mdm.topic.clone(),
            udid: self.state.identity.udid.clone(),
        });
        self.enrolled = false;
        self.checkin(Step::CheckOut, &msg).await
    }
}
