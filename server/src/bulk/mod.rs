//! Bulk enrollment (seed 000): bulk profiles, their tokens and configuration, their device
//! inventories (CSV or one by one), provisioning payloads and QR codes, and the matching of an
//! enrolling device (bulk token or tokenless). Samsung KME (seed 004) lives in `crate::kme`, on
//! top of this domain's profiles and inventories.
//!
//! Where things are:
//!
//! | file | holds |
//! |---|---|
//! | `service.rs` | profiles: create / edit / delete, derived tokens (refresh, extend), provisioning payloads, QR |
//! | `config.rs` | checks of a profile configuration against the agent's QR parser |
//! | `inventory.rs` | devices of a profile: add / edit / delete one by one, CSV import and export |
//! | `matching.rs` | which bulk device an enrolling device is (IMEI, or serial + manufacturer), or why not |
//! | `queries.rs` | store queries of profiles and bulk devices |
//! | `imei.rs`, `validate.rs` | IMEI Luhn checks, identifier and attribute checks |
//! | `parse.rs`, `strategies.rs`, `import.rs` | the CSV import: parsing and duplicate checks, bulk-load strategies, the import itself |
//! | `export.rs` | formula-safe CSV output, the template |
//! | `routes.rs` | the HTTP routes of `/admin/bulk/...` |
//!
//! Decisions (also in `docs/protocol.md` and `docs/bulk.md`):
//!
//! - **All or nothing.** A CSV upload (or a batch of added/edited devices) is validated whole
//!   and applied in one transaction: one bad row rejects the file, every bad line is reported
//!   (at most 1000, plus the count) and nothing is imported.
//! - **One profile per device.** An IMEI, or a serial number + manufacturer, belongs to at most
//!   one profile (or KME upload): duplicates within a file and against other profiles are
//!   reported. Matching an enrolling device is then unambiguous.
//! - **Inventories are allow-lists.** A bulk token enrolls only the devices of its profile; a
//!   tokenless enrollment only devices of tokenless profiles. A device matches a bulk device by
//!   one of its IMEIs, or by its serial number *and* manufacturer (case-insensitively): the
//!   four situations of seed 000's table.
//! - **Samsung KME** (`crate::kme`). Uploads wait for approval; approved devices land in the default KME
//!   profile, which lists the devices *not assigned* to a KME profile: they cannot enroll
//!   (`device_unassigned`) until moved to another KME profile; unapproved uploads get
//!   `device_not_approved`.
//! - **Tokens are derived**, like the enrollment and device secrets:
//!   `ent_` + base64url(HMAC(server-secret, "bulk-token:" + profile id + ":" + generation)), so
//!   the administrator can see a profile's token (and its QR code) at any time; only its SHA-256
//!   is stored, as for user tokens. A refresh increments the generation and revokes the old row.
//!
//! ## CSV format
//!
//! UTF-8 (a leading byte-order mark is tolerated), comma separated, RFC 4180 quoting, LF or
//! CRLF line ends. The first line is the header: `imei`, `serial_number` (or `serial`) and
//! `manufacturer` in any order and case; every other column is a custom attribute named by its
//! header. Each data row needs an IMEI (15 digits, valid Luhn check digit), or a serial number
//! plus a manufacturer (compared case-insensitively), or both. Rows whose fields are all empty
//! are skipped.
//!
//! ## All or nothing
//!
//! [`import_csv`] validates every row and inserts the valid ones into the caller's transaction
//! as it goes (one streaming pass; large files use multi-row inserts, an index rebuild and a
//! duplicate check deferred to it, see [`import_csv`] and `docs/bulk.md`; the caller wraps the
//! transaction in [`begin_bulk_load`] / [`end_bulk_load`]). Bad rows are listed (at most
//! [`ImportLimits::max_reported_errors`], plus the total count) and validation goes on to the
//! end; when any row was bad the caller rolls the transaction back: a file is imported whole or
//! not at all, never half.
//!
//! ## Limits (hostile input)
//!
//! The upload itself is limited by the HTTP layer ([`enroll_proto::MAX_CSV_UPLOAD_BYTES`]).
//! Here: at most [`ImportLimits::max_rows`] data rows, [`ImportLimits::max_columns`] columns,
//! [`ImportLimits::max_field_bytes`] per field, and [`ImportLimits::max_record_bytes`] per record
//! (checked on the raw bytes before the CSV parser buffers them, quotes included, so a
//! never-closed quote cannot make the parser hold the whole file). Reasons never quote values.

mod config;
mod export;
mod imei;
mod import;
mod inventory;
mod matching;
mod parse;
mod queries;
mod routes;
mod service;
mod strategies;
#[cfg(test)]
mod tests;
mod validate;

pub(crate) use config::validate_config;
pub use export::*;
pub use imei::*;
pub use import::*;
pub use matching::*;
pub use queries::*;
pub(crate) use routes::table;
pub(crate) use service::{text_field, MAX_DESCRIPTION_CHARS, MAX_PROFILE_NAME_CHARS, META_KME_LAST_SYNC};
pub use strategies::*;
pub use validate::*;
// The storage and CSV files were one module: they see each other's crate-internal items.
use parse::*;

use crate::state::domain_service;

domain_service!(
    /// Rules of bulk enrollment profiles and their inventories.
    BulkService
);
