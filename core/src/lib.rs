//! # enroll-core
//!
//! The device side of MDM enrollment, as plain async Rust with no FFI and no platform code.
//!
//! - [`protocol`]: wire types shared with the reference server;
//! - [`secret`]: redacted, zeroized secret values.
//!
//! The platform (Android, iOS, macOS, desktop) plugs in through the traits of the platform
//! module, and the mobile bindings (`enroll-ffi`) wrap this crate thinly.

pub mod protocol;
pub mod secret;
pub mod qr;
