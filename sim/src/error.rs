//! Errors of a simulated enrollment, with a short kind for summaries ("failed by kind").
//!
//! Messages never carry the challenge, keys, push magic or message bodies.

use enroll_mdm::scep::FailInfo;
use enroll_mdm::MdmError;

/// The step of an enrollment that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Reading the enrollment profile.
    Profile,
    /// Generating the device key.
    Keygen,
    /// `GetCACaps`.
    CaCaps,
    /// `GetCACert`.
    CaCert,
    /// `PKIOperation`.
    PkiOperation,
    /// Check-in `Authenticate`.
    Authenticate,
    /// Check-in `TokenUpdate`.
    TokenUpdate,
    /// The command channel.
    Command,
    /// Check-in `CheckOut`.
    CheckOut,
}

impl Step {
    /// A short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Keygen => "keygen",
            Self::CaCaps => "scep-getcacaps",
            Self::CaCert => "scep-getcacert",
            Self::PkiOperation => "scep-pkioperation",
            Self::Authenticate => "authenticate",
            Self::TokenUpdate => "tokenupdate",
            Self::Command => "command",
            Self::CheckOut => "checkout",
        }
    }
}

/// Why a simulated device failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The enrollment profile is unusable.
    #[error("enrollment profile: {0}")]
    Profile(String),
    /// The network or TLS failed at a step.
    #[error("{}: {source}", step.as_str())]
    Transport {
        /// The step.
        step: Step,
        /// The client error (no bodies).
        source: enroll_core::Error,
    },
    /// The peer answered with an unexpected HTTP status.
    #[error("{}: HTTP {status}", step.as_str())]
    Status {
        /// The step.
        step: Step,
        /// The status.
        status: u16,
    },
    /// A message from the peer was malformed, or one could not be built.
    #[error("{}: {source}", step.as_str())]
    Wire {
        /// The step.
        step: Step,
        /// The wire-format error.
        source: MdmError,
    },
    /// The SCEP CA refused the request.
    #[error("scep: the CA refused the request ({0:?})")]
    ScepFailure(FailInfo),
    /// The SCEP CA left the request pending (manual approval), which the simulator does not poll.
    #[error("scep: the request is pending")]
    ScepPending,
    /// The SCEP reply was not signed by the CA of `GetCACert`.
    #[error("scep: the reply is not signed by the CA")]
    ScepUntrusted,
    /// Configuration error (bad URL, TLS settings).
    #[error("configuration: {0}")]
    Config(String),
}

impl SimError {
    /// A short kind for summaries, e.g. `authenticate/http-400` or `scep/badRequest`.
    pub fn kind(&self) -> String {
        match self {
            Self::Profile(_) => "profile".into(),
            Self::Transport { step, source } => {
                let what = match source {
                    enroll_core::Error::Timeout => "timeout",
                    enroll_core::Error::ResponseTooLarge { .. } => "too-large",
                    enroll_core::Error::UntrustedCertificate(_)
                    | enroll_core::Error::PinMismatch
                    | enroll_core::Error::CertificateExpired
                    | enroll_core::Error::CertificateNotYetValid
                    | enroll_core::Error::CertificateWrongHost
                    | enroll_core::Error::CertificateSelfSigned
                    | enroll_core::Error::CertificateUnknownIssuer
                    | enroll_core::Error::TlsVersionRefused => "tls",
                    _ => "network",
                };
                format!("{}/{what}", step.as_str())
            }
            Self::Status { step, status } => format!("{}/http-{status}", step.as_str()),
            Self::Wire { step, .. } => format!("{}/malformed", step.as_str()),
            Self::ScepFailure(info) => format!("scep/{info:?}"),
            Self::ScepPending => "scep/pending".into(),
            Self::ScepUntrusted => "scep/untrusted".into(),
            Self::Config(_) => "config".into(),
        }
    }
}

/// Result with [`SimError`].
pub type Result<T, E = SimError> = std::result::Result<T, E>;

/// Maps a wire error at `step`.
pub(crate) fn wire(step: Step) -> impl Fn(MdmError) -> SimError {
    move |source| SimError::Wire { step, source }
}

/// Maps a client error at `step`.
pub(crate) fn transport(step: Step) -> impl Fn(enroll_core::Error) -> SimError {
    move |source| SimError::Transport { step, source }
}
