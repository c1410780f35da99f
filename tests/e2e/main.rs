//! End-to-end tests: the agent (enroll-core) against the reference server (enroll-server) over
//! real TLS on loopback, with a real SQLite file, plus a hostile server and a lossy proxy for
//! fault injection. One test binary, several modules, to keep link time down.

// Test code: panicking on unexpected results is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bulk;
mod crash;
mod faults;
mod flows;
mod foreign_profile;
mod hostile;
mod password;
mod profile_cms;
mod support;
mod tls_matrix;
