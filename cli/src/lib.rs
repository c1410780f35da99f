//! Library side of the `enroll` command: desktop implementations of the platform traits and
//! the admin API client. The binary (`main.rs`) is only argument parsing and printing.

pub mod admin;
pub mod bulk;
pub mod conn;
pub mod desktop;
pub mod global;
pub mod kme;
pub mod out;
pub mod scan;
