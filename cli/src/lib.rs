//! The `enroll` command, one module per command group; the binary (`main.rs`) only parses the
//! command line, dispatches to a group's `run` and maps errors to the exit code.
//!
//! Command groups, each owning its clap argument types next to its code:
//! - [`agent`]: `enroll`, `status`, `checkin`, `reenroll`, `resume`, `cancel`, `forget`, and the
//!   agent's settings (`agent.json`);
//! - [`server`]: `enroll server run` and the admin actions (users, invitations, tokens, devices,
//!   retire/wipe/reset, pending);
//! - [`bulk`]: `enroll server bulk …` (profiles, streamed CSV upload with progress, inventory,
//!   tokens, QR codes); [`kme`]: its `kme-*` subcommands; [`mdm`]: `enroll server mdm …`
//!   (Apple MDM commands of a device);
//! - [`scan`]: `enroll scan` (the QR decoding in [`scan::decode`]);
//! - [`demo`]: `enroll demo` (`--platform windows` in `demo_windows`);
//! - [`simulate`]: `enroll simulate` (simulated Apple devices enrolling into an MDM server).
//!
//! A new command group (e.g. `simulate`, `windows`) is a new module here with its `Args` or
//! `Subcommand` type and a `run`, and one variant in `main.rs`.
//!
//! Shared pieces: [`global`] (the global options, default directories), [`out`] (printing a
//! result as text or `--json`), [`errors`] (every failure in the user's terms, its code and exit
//! code), [`conn`] (how admin commands reach the server), [`admin`] (the
//! admin API client), [`desktop`] (the desktop implementations of the platform traits).

pub mod admin;
pub mod agent;
pub mod bulk;
pub mod conn;
pub mod demo;
mod demo_windows;
pub mod desktop;
pub mod errors;
pub mod global;
pub mod kme;
pub mod mdm;
pub mod out;
pub mod scan;
pub mod server;
pub mod simulate;
pub mod windows;
