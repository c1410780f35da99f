//! # enroll-core
//!
//! The device side of MDM enrollment, as plain async Rust with no FFI and no platform code.
//!
//! - [`agent`]: the enrollment state machine ([`agent::Agent`]): enroll, cancel, check-in,
//!   re-enroll; persisted after every transition;
//! - [`client`]: the HTTPS protocol client (limits, retries, clock skew);
//! - [`credentials`]: token, one-time PIN, username + password;
//! - [`asn1`]: a small strict DER reader for certificates and CMS;
//! - [`profile`]: CMS signature, plist structure (XML or binary) and Apple schema checks of
//!   `.mobileconfig` profiles from any MDM server;
//! - [`platform`]: the traits the app implements (secure store, profile installer, device
//!   info, clock), with in-memory versions in [`fakes`];
//! - [`protocol`]: wire types shared with the reference server;
//! - [`qr`]: camera-frame QR scanning and enrollment payload parsing;
//! - [`secret`], [`tls`]: redacted secrets; trust roots and SPKI pinning.
//!
//! The mobile bindings (`enroll-ffi`) wrap this crate thinly.

pub mod agent;
pub mod asn1;
pub mod client;
pub mod credentials;
pub mod error;
pub mod fakes;
pub mod platform;
pub mod profile;
/// The wire protocol (re-exported from `enroll-proto`, without its `admin` feature).
pub use enroll_proto as protocol;
pub mod qr;
/// Secret strings: redacted in `Debug`/`Display`, zeroized on drop (from `enroll-proto`).
pub use enroll_proto::secret;
pub mod tls;

pub use agent::{Agent, AgentConfig};
pub use credentials::Credential;
pub use error::{Error, Result};
