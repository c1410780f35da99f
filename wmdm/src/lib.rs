//! # enroll-wmdm
//!
//! Windows MDM wire formats, shared by the reference server (`server/src/windows/`) and the
//! Windows device mode (`wsim`): nothing here opens a socket or touches a key.
//!
//! - [`xml`]: bounded, DTD-free XML reading by namespace (roxmltree) and escaping;
//! - [`soap`]: SOAP 1.2 envelopes with WS-Addressing and WS-Security, MS-MDE2 faults;
//! - [`mde2`]: discovery, MS-XCEP `GetPolicies`, MS-WSTEP `RequestSecurityToken`;
//! - [`provdoc`]: the `wap-provisioningdoc` of the enrollment reply;
//! - [`syncml`]: OMA-DM SyncML 1.2 messages;
//! - [`customizations`]: the Windows Configuration Designer project file of seed 001.

pub mod customizations;
pub mod error;
pub mod mde2;
pub mod provdoc;
pub mod soap;
pub mod syncml;
pub mod xml;

pub use error::{Result, WmdmError};
