//! Persisted enrollment state and its public, secret-free view.
//!
//! [`PersistedState`] is what the agent writes (as JSON, in one atomic
//! [`crate::platform::SecureStore::set`]) after every transition. It holds bearer secrets, so it
//! only ever lives in the secure store; [`EnrollmentStatus`] is the view shown to apps and logs.
//! See `README.md` beside this file for the diagram.

use crate::credentials::Credential;
use crate::protocol::{DeviceAction, EnrollmentKind, ErrorCode};
use crate::secret::{SecretBytes, SecretString};
use serde::{Deserialize, Serialize};

/// One enrollment attempt: its server and idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Server base URL.
    pub server: String,
    /// Idempotency key sent with `POST /enrollments` (a UUID).
    pub key: String,
    /// When the attempt started, device time, Unix milliseconds.
    pub started_at_ms: i64,
}

/// What the server returned when the credential was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentHandle {
    /// Enrollment identifier.
    pub enrollment_id: String,
    /// Bearer secret of the enrollment routes.
    pub enrollment_secret: SecretString,
    /// Device record being enrolled.
    pub device_id: String,
    /// New enrollment or re-enrollment.
    pub kind: EnrollmentKind,
    /// User, if any.
    pub user: Option<String>,
    /// The server offered to set the user's first password (`password_setup: offered`: a PIN
    /// enrollment of a user without one). States of earlier versions read as `false`.
    #[serde(default)]
    pub password_setup: bool,
}

impl EnrollmentHandle {
    /// The password offer this enrollment carries into the active state, if any.
    pub(crate) fn password_offer(&self) -> Option<PasswordOffer> {
        self.password_setup.then(|| PasswordOffer {
            enrollment_id: self.enrollment_id.clone(),
            enrollment_secret: self.enrollment_secret.clone(),
        })
    }
}

/// What the agent keeps to set the user's first password after the enrollment: the enrollment
/// it was offered by, and that enrollment's bearer secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordOffer {
    /// Enrollment identifier.
    pub enrollment_id: String,
    /// Bearer secret of the enrollment routes.
    pub enrollment_secret: SecretString,
}

/// A verified profile kept between fetch and install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldProfile {
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// End of the install window, server time, Unix seconds: the earlier of the profile's
    /// `PayloadExpirationDate` and the server's `enroll-profile-expires`; `None` when neither
    /// exists (no window: the profile may be installed at any time). States written before the
    /// window was optional always hold a number.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The signed profile (holds a one-time challenge).
    pub signed: SecretBytes,
}

/// An enrolled device's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceHandle {
    /// Device record identifier.
    pub device_id: String,
    /// Bearer secret of the device routes.
    pub device_secret: SecretString,
}

/// The state machine's persisted state. Transitions are in [`super::Agent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PersistedState {
    /// Nothing in progress, never enrolled (or state cleared).
    #[default]
    Idle,
    /// A server and a credential are known; not yet accepted by the server.
    Discovered {
        /// The attempt.
        attempt: Attempt,
        /// The credential, kept in the secure store until the server accepts it.
        credential: Credential,
    },
    /// The server accepted the credential.
    Authenticated {
        /// The attempt.
        attempt: Attempt,
        /// The enrollment.
        enrollment: EnrollmentHandle,
        /// Profiles fetched so far in this attempt.
        fetches: u32,
    },
    /// A verified profile is held, with its expiry.
    ProfileReady {
        /// The attempt.
        attempt: Attempt,
        /// The enrollment.
        enrollment: EnrollmentHandle,
        /// Profiles fetched so far.
        fetches: u32,
        /// The profile.
        profile: HeldProfile,
    },
    /// The profile was handed (or is about to be handed) to the system.
    Installing {
        /// The attempt.
        attempt: Attempt,
        /// The enrollment.
        enrollment: EnrollmentHandle,
        /// Profiles fetched so far.
        fetches: u32,
        /// The profile.
        profile: HeldProfile,
    },
    /// Enrolled and managed.
    Active {
        /// Server base URL.
        server: String,
        /// Device credentials.
        device: DeviceHandle,
        /// `PayloadIdentifier` of the installed profile.
        profile_identifier: String,
        /// User, if any.
        user: Option<String>,
        /// Activation time, device clock, Unix milliseconds.
        enrolled_at_ms: i64,
        /// The user may set a first password ([`super::Agent::set_password`]) until it is set or
        /// skipped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_offer: Option<PasswordOffer>,
    },
    /// The user cancelled; the server deactivated MDM.
    Cancelled {
        /// Server base URL.
        server: String,
    },
    /// Every fetched profile expired before install.
    Expired {
        /// Server base URL.
        server: String,
        /// Profiles fetched.
        fetches: u32,
    },
    /// The server refused the attempt.
    Failed {
        /// Server base URL.
        server: String,
        /// Why (never secret).
        reason: String,
        /// The server's error code.
        code: Option<ErrorCode>,
    },
    /// Retired by the administrator; secrets cleared.
    Retired {
        /// Server base URL.
        server: String,
    },
    /// Wiped by the administrator; secrets cleared.
    Wiped {
        /// Server base URL.
        server: String,
    },
    /// Reset by the administrator; secrets cleared, the server keeps the entry until re-enrollment.
    Reset {
        /// Server base URL.
        server: String,
    },
}

impl PersistedState {
    /// The server this state refers to.
    pub fn server(&self) -> Option<&str> {
        match self {
            PersistedState::Idle => None,
            PersistedState::Discovered { attempt, .. }
            | PersistedState::Authenticated { attempt, .. }
            | PersistedState::ProfileReady { attempt, .. }
            | PersistedState::Installing { attempt, .. } => Some(&attempt.server),
            PersistedState::Active { server, .. }
            | PersistedState::Cancelled { server }
            | PersistedState::Expired { server, .. }
            | PersistedState::Failed { server, .. }
            | PersistedState::Retired { server }
            | PersistedState::Wiped { server }
            | PersistedState::Reset { server } => Some(server),
        }
    }

    /// Whether an enrollment is in progress (a new one cannot start).
    pub fn in_progress(&self) -> bool {
        matches!(
            self,
            PersistedState::Discovered { .. }
                | PersistedState::Authenticated { .. }
                | PersistedState::ProfileReady { .. }
                | PersistedState::Installing { .. }
        )
    }

    /// The secret-free view.
    pub fn status(&self) -> EnrollmentStatus {
        match self {
            PersistedState::Idle => EnrollmentStatus::Idle,
            PersistedState::Discovered { attempt, .. } => EnrollmentStatus::Discovered {
                server: attempt.server.clone(),
            },
            PersistedState::Authenticated { enrollment, .. } => EnrollmentStatus::Authenticated {
                device_id: enrollment.device_id.clone(),
            },
            PersistedState::ProfileReady { profile, .. } => EnrollmentStatus::ProfileReady {
                expires_at: profile.expires_at,
            },
            PersistedState::Installing { profile, .. } => EnrollmentStatus::Installing {
                expires_at: profile.expires_at,
            },
            PersistedState::Active {
                device,
                user,
                password_offer,
                ..
            } => EnrollmentStatus::Active {
                device_id: device.device_id.clone(),
                user: user.clone(),
                password_offered: password_offer.is_some(),
            },
            PersistedState::Cancelled { .. } => EnrollmentStatus::Cancelled,
            PersistedState::Expired { fetches, .. } => EnrollmentStatus::Expired { fetches: *fetches },
            PersistedState::Failed { reason, code, .. } => EnrollmentStatus::Failed {
                reason: reason.clone(),
                code: *code,
            },
            PersistedState::Retired { .. } => EnrollmentStatus::Retired,
            PersistedState::Wiped { .. } => EnrollmentStatus::Wiped,
            PersistedState::Reset { .. } => EnrollmentStatus::Reset,
        }
    }

    /// The terminal state an administrator action leads to.
    pub(crate) fn after_action(action: DeviceAction, server: String) -> Self {
        match action {
            DeviceAction::Retire => PersistedState::Retired { server },
            DeviceAction::Wipe => PersistedState::Wiped { server },
            DeviceAction::Reset => PersistedState::Reset { server },
        }
    }
}

impl super::machine::StepState for PersistedState {
    fn name(&self) -> &'static str {
        self.status().name()
    }

    fn is_settled(&self) -> bool {
        self.status().is_settled()
    }
}

/// The enrollment state as apps see it: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EnrollmentStatus {
    /// Nothing in progress.
    Idle,
    /// Server and credential known.
    Discovered {
        /// Server base URL.
        server: String,
    },
    /// Credential accepted.
    Authenticated {
        /// Device record.
        device_id: String,
    },
    /// Verified profile held.
    ProfileReady {
        /// End of the install window, server time, Unix seconds; `None`: no window.
        expires_at: Option<i64>,
    },
    /// Profile being installed.
    Installing {
        /// End of the install window, server time, Unix seconds; `None`: no window.
        expires_at: Option<i64>,
    },
    /// Enrolled.
    Active {
        /// Device record.
        device_id: String,
        /// User, if any.
        user: Option<String>,
        /// The user has no password yet and may set one now ([`super::Agent::set_password`],
        /// or [`super::Agent::skip_password`]): seed 003's step after a one-time PIN.
        #[serde(default)]
        password_offered: bool,
    },
    /// Cancelled by the user.
    Cancelled,
    /// Profiles kept expiring.
    Expired {
        /// Profiles fetched.
        fetches: u32,
    },
    /// Refused by the server.
    Failed {
        /// Why.
        reason: String,
        /// Server error code.
        code: Option<ErrorCode>,
    },
    /// Retired.
    Retired,
    /// Wiped.
    Wiped,
    /// Reset.
    Reset,
}

impl EnrollmentStatus {
    /// Short snake_case name of the state.
    pub fn name(&self) -> &'static str {
        match self {
            EnrollmentStatus::Idle => "idle",
            EnrollmentStatus::Discovered { .. } => "discovered",
            EnrollmentStatus::Authenticated { .. } => "authenticated",
            EnrollmentStatus::ProfileReady { .. } => "profile_ready",
            EnrollmentStatus::Installing { .. } => "installing",
            EnrollmentStatus::Active { .. } => "active",
            EnrollmentStatus::Cancelled => "cancelled",
            EnrollmentStatus::Expired { .. } => "expired",
            EnrollmentStatus::Failed { .. } => "failed",
            EnrollmentStatus::Retired => "retired",
            EnrollmentStatus::Wiped => "wiped",
            EnrollmentStatus::Reset => "reset",
        }
    }

    /// Whether this is a final state of an attempt (nothing more happens without the user).
    pub fn is_settled(&self) -> bool {
        !matches!(
            self,
            EnrollmentStatus::Discovered { .. }
                | EnrollmentStatus::Authenticated { .. }
                | EnrollmentStatus::ProfileReady { .. }
                | EnrollmentStatus::Installing { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_state_hides_secrets() {
        let st = PersistedState::Active {
            server: "https://x".into(),
            device: DeviceHandle {
                device_id: "d".into(),
                device_secret: SecretString::new("DEVSECRET"),
            },
            profile_identifier: "p".into(),
            user: None,
            enrolled_at_ms: 0,
            password_offer: Some(PasswordOffer {
                enrollment_id: "e".into(),
                enrollment_secret: SecretString::new("ENRSECRET"),
            }),
        };
        assert!(!format!("{st:?}").contains("ENRSECRET"));
        assert!(!format!("{:?}", st.status()).contains("ENRSECRET"));
        assert!(!format!("{st:?}").contains("DEVSECRET"));
        let json = serde_json::to_string(&st).unwrap();
        let back: PersistedState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, st);
    }

    /// A `ProfileReady` state as the previous version wrote it (a number), and one without the
    /// field at all.
    #[test]
    fn states_of_the_previous_version_still_read() {
        let held = |expires: &str| {
            format!(
                r#"{{"state":"profile_ready","attempt":{{"server":"https://x","key":"k","started_at_ms":1}},
                "enrollment":{{"enrollment_id":"e","enrollment_secret":"s","device_id":"d","kind":"new","user":null}},
                "fetches":1,"profile":{{"uuid":"U","identifier":"I",{expires}"signed":"AQI="}}}}"#
            )
        };
        let old: PersistedState = serde_json::from_str(&held(r#""expires_at":1750000300,"#)).unwrap();
        assert_eq!(
            old.status(),
            EnrollmentStatus::ProfileReady {
                expires_at: Some(1_750_000_300)
            }
        );
        let none: PersistedState = serde_json::from_str(&held("")).unwrap();
        assert_eq!(none.status(), EnrollmentStatus::ProfileReady { expires_at: None });
        let round: PersistedState = serde_json::from_str(&serde_json::to_string(&none).unwrap()).unwrap();
        assert_eq!(round, none);
    }
}
