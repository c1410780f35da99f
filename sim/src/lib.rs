//! # enroll-sim
//!
//! An Apple device simulator: it takes an enrollment profile and does what iOS and macOS do
//! with it, against any server — RSA-2048 key, SCEP enrollment for the identity certificate,
//! MDM check-in (`Authenticate`, `TokenUpdate`, `CheckOut`) with `Mdm-Signature`, and the
//! command loop with answers for the common commands. It is a test and load tool for the
//! enrollment server and for real MDM servers (NanoMDM + micromdm/scep); it is not part of the
//! mobile library.
//!
//! - [`profile`]: reading enrollment profiles; building one for NanoMDM + scepserver;
//! - [`device`]: the identity a simulated device reports;
//! - [`scep_client`]: the SCEP exchange;
//! - [`device_session`]: one device from key to command loop, with step [`Timings`];
//! - [`answers`]: how commands are answered;
//! - [`fleet`]: N devices at once with a concurrency limit, and the summary statistics;
//! - [`http`]: the HTTP transport (core's protocol client and TLS trust);
//! - [`server`]: profiles from the enrollment server through the agent's protocol.
//!
//! Wire formats come from `enroll-mdm`.

pub mod answers;
pub mod device;
pub mod device_session;
pub mod error;
pub mod fleet;
pub mod http;
pub mod profile;
pub mod scep_client;
pub mod server;

pub use device::{ApplePlatform, DeviceIdentity};
pub use device_session::{PollEnd, PollOutcome, SimulatedDevice, Timings};
pub use error::{Result, SimError, Step};
pub use fleet::{enroll_fleet, FixedProfile, FleetConfig, FleetReport, ProfileSource, StepStats};
pub use http::{HttpConfig, Transport};
pub use profile::{build_profile, EnrollmentProfile, ProfileSpec};
