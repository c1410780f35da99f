//! Bulk-load strategies of a large CSV import: the index rebuild with multi-row inserts and a
//! deferred duplicate check, and the connection settings of a bulk load.

use enroll_proto::ImportLineError;
use rusqlite::Connection;

use super::*;

/// A large import into a small table (at least this many rows expected, and no fewer than
/// the rows already there) drops the two unique (IMEI, serial number) indexes of
/// `bulk_devices` and builds them again at the end of its transaction: building an index from
/// sorted keys is several times cheaper than inserting 200,000 random keys one by one (see
/// [`import_csv`] for how duplicates are then found).
pub const REBUILD_MIN_ROWS: u64 = 10_000;
/// Most existing devices for the index-rebuild strategy (their identifiers are held in memory).
pub const REBUILD_MAX_EXISTING: u64 = 250_000;

/// Rows per multi-row `INSERT` of the rebuild strategy.
pub(super) const BATCH_ROWS: usize = 64;

/// An empty string is bound as SQL `NULL`.
pub(super) fn text_or_null(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// One row waiting in a [`BatchInsert`] (empty strings are SQL `NULL`).
#[derive(Default)]
pub(super) struct PendingRow {
    pub(super) imei: Option<i64>,
    pub(super) serial: String,
    pub(super) manufacturer: String,
    pub(super) manufacturer_norm: String,
    pub(super) attributes: String,
    pub(super) line: u64,
}

/// Multi-row inserts for the rebuild strategy, where no index can refuse a row: one statement
/// stores [`BATCH_ROWS`] rows (the row-independent values are bound once, as `?1` to `?4`),
/// which saves most of SQLite's per-statement work. The row buffers are reused.
pub(super) struct BatchInsert<'c> {
    pub(super) c: &'c Connection,
    pub(super) full: rusqlite::Statement<'c>,
    pub(super) constants: [rusqlite::types::Value; 4],
    pub(super) rows: Vec<PendingRow>,
    pub(super) len: usize,
}

pub(super) fn batch_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO bulk_devices(profile_pk, kme, approved, created_at, imei, serial, manufacturer, \
         manufacturer_norm, attributes) VALUES ",
    );
    for r in 0..rows {
        let p = 5 + r * 5;
        if r > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(?1,?2,?3,?4,?{},?{},?{},?{},?{})",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4
        ));
    }
    sql
}

impl<'c> BatchInsert<'c> {
    pub(crate) fn new(
        c: &'c Connection,
        profile_pk: Option<i64>,
        kme: bool,
        approved: bool,
        now: i64,
    ) -> rusqlite::Result<Self> {
        use rusqlite::types::Value;
        let constants = [
            profile_pk.map_or(Value::Null, Value::Integer),
            Value::Integer(i64::from(kme)),
            Value::Integer(i64::from(approved)),
            Value::Integer(now),
        ];
        let mut full = c.prepare(&batch_sql(BATCH_ROWS))?;
        for (i, v) in constants.iter().enumerate() {
            full.raw_bind_parameter(i + 1, v)?;
        }
        Ok(Self {
            c,
            full,
            constants,
            rows: (0..BATCH_ROWS).map(|_| PendingRow::default()).collect(),
            len: 0,
        })
    }

    /// The next free row buffer (cleared); [`BatchInsert::commit_row`] keeps it.
    pub(crate) fn next_row(&mut self) -> Option<&mut PendingRow> {
        let row = self.rows.get_mut(self.len)?;
        row.serial.clear();
        row.manufacturer.clear();
        row.manufacturer_norm.clear();
        row.attributes.clear();
        Some(row)
    }

    /// Keeps the row filled through [`BatchInsert::next_row`]; stores the batch when full.
    pub(crate) fn commit_row(&mut self, inserted: Option<&mut Inserted>) -> rusqlite::Result<()> {
        self.len += 1;
        if self.len == BATCH_ROWS {
            self.flush(inserted)?;
        }
        Ok(())
    }

    /// Stores the waiting rows; records their row ids when `inserted` is given.
    pub(crate) fn flush(&mut self, inserted: Option<&mut Inserted>) -> rusqlite::Result<()> {
        let n = self.len;
        if n == 0 {
            return Ok(());
        }
        let mut partial;
        let st = if n == BATCH_ROWS {
            &mut self.full
        } else {
            partial = self.c.prepare(&batch_sql(n))?;
            for (i, v) in self.constants.iter().enumerate() {
                partial.raw_bind_parameter(i + 1, v)?;
            }
            &mut partial
        };
        for (r, row) in self.rows.iter().take(n).enumerate() {
            let p = 5 + r * 5;
            st.raw_bind_parameter(p, row.imei)?;
            st.raw_bind_parameter(p + 1, text_or_null(&row.serial))?;
            st.raw_bind_parameter(p + 2, text_or_null(&row.manufacturer))?;
            st.raw_bind_parameter(p + 3, text_or_null(&row.manufacturer_norm))?;
            st.raw_bind_parameter(p + 4, text_or_null(&row.attributes))?;
        }
        st.raw_execute()?;
        // A multi-row insert gives each row the next row id (largest + 1), in order.
        if let Some(inserted) = inserted {
            let last = self.c.last_insert_rowid();
            let first = last - (n as i64 - 1);
            inserted.rows.extend(
                self.rows
                    .iter()
                    .take(n)
                    .enumerate()
                    .map(|(i, row)| (first + i as i64, row.line)),
            );
        }
        self.len = 0;
        Ok(())
    }
}

/// The rows this import inserted, by row id, with their line numbers (for the deferred
/// duplicate check).
pub(super) struct Inserted {
    pub(super) rows: Vec<(i64, u64)>,
}

impl Inserted {
    pub(crate) fn line_of(&self, id: i64) -> Option<u64> {
        self.rows
            .binary_search_by_key(&id, |(row, _)| *row)
            .ok()
            .and_then(|i| self.rows.get(i))
            .map(|(_, line)| *line)
    }
}

/// Identifiers of one stored bulk device: row id, IMEI, serial number, normalised manufacturer.
pub(super) type StoredIdentifiers = (i64, Option<u64>, Option<String>, Option<String>);

/// The identifiers of every stored bulk device, by row id.
pub(super) fn stored_identifiers(c: &Connection) -> rusqlite::Result<Vec<StoredIdentifiers>> {
    let mut st = c.prepare("SELECT id, imei, serial, manufacturer_norm FROM bulk_devices ORDER BY id")?;
    let rows = st.query_map([], |r| {
        let imei = r.get::<_, Option<i64>>(1)?.and_then(|n| u64::try_from(n).ok());
        Ok((r.get(0)?, imei, r.get(2)?, r.get(3)?))
    })?;
    rows.collect()
}

/// The deferred duplicate check: reads every row of `bulk_devices` (existing devices first,
/// then this import's rows in file order) into a [`Dedupe`], reporting each duplicate of this
/// import at its line. Returns the filled [`Dedupe`], ready to check the rest of the file.
pub(super) fn find_duplicates(
    c: &Connection,
    target: &ImportTarget,
    inserted: &mut Inserted,
    out: &mut Reporter,
    capacity: usize,
) -> rusqlite::Result<Dedupe> {
    // Row ids rise with each insert; sort anyway, the lookup below needs it.
    if !inserted.rows.is_sorted_by_key(|(id, _)| *id) {
        inserted.rows.sort_unstable_by_key(|(id, _)| *id);
    }
    let mut dedupe = Dedupe::with_capacity(capacity);
    let mut found = Vec::new();
    for (id, imei, serial, norm) in stored_identifiers(c)? {
        match inserted.line_of(id) {
            None => dedupe.existing(id, imei, serial.as_deref(), norm.as_deref()),
            Some(line) => found.push((line, imei, serial, norm)),
        }
    }
    found.sort_unstable_by_key(|(line, ..)| *line);
    let mut refused = Vec::new();
    for (line, imei, serial, norm) in &found {
        let serial = serial.as_deref().zip(norm.as_deref());
        match dedupe.check(c, target, *line, *imei, serial)? {
            Verdict::New => {}
            Verdict::Refused(reason) => refused.push((*line, reason)),
            Verdict::Skipped => out.report.skipped += 1,
        }
    }
    // These lines come before the ones already reported: merge, keep the first ones listed.
    out.report.error_count += refused.len() as u64;
    out.report.errors.extend(
        refused
            .into_iter()
            .map(|(line, reason)| ImportLineError { line, reason }),
    );
    out.report.errors.sort_by_key(|e| e.line);
    out.report.errors.truncate(out.max);
    Ok(dedupe)
}

/// Connection settings changed by [`begin_bulk_load`], restored by [`end_bulk_load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLoad {
    cache_size: i64,
    left_wal: bool,
}

impl BulkLoad {
    /// Whether the load runs with a rollback journal (this was the only connection, so the
    /// database could leave WAL mode for it).
    pub fn rollback_journal(&self) -> bool {
        self.left_wal
    }
}

/// Prepares the connection for a bulk load, outside any transaction:
///
/// - raises the page cache (the default 2 MiB would spill pages mid-transaction);
/// - when the database is in WAL mode and this is its only connection, switches to a rollback
///   journal for the load. In WAL mode every new page is written twice (to the WAL at commit,
///   then to the database file by the checkpoint); with a rollback journal the new pages of a
///   load are written once, and only the few pages that already existed are journaled. Any
///   other open connection makes SQLite refuse the switch at once (`SQLITE_BUSY`, no wait), and
///   the load then runs in WAL mode as usual. A crash mid-load leaves a hot journal that SQLite
///   rolls back on the next open: all or nothing either way.
pub fn begin_bulk_load(c: &Connection) -> rusqlite::Result<BulkLoad> {
    let cache_size: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
    c.pragma_update(None, "cache_size", BULK_CACHE_KIB)?;
    let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let left_wal = if mode.eq_ignore_ascii_case("wal") {
        // No busy wait: another connection is a reason not to switch, not to wait.
        let busy_ms: i64 = c.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
        c.pragma_update(None, "busy_timeout", 0)?;
        let switched = c.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0));
        c.pragma_update(None, "busy_timeout", busy_ms)?;
        match switched {
            Ok(now) => now.eq_ignore_ascii_case("delete"),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                false
            }
            Err(e) => {
                c.pragma_update(None, "cache_size", cache_size)?;
                return Err(e);
            }
        }
    } else {
        false
    };
    Ok(BulkLoad { cache_size, left_wal })
}

/// Restores what [`begin_bulk_load`] changed (call it outside the load's transaction, after a
/// commit or a rollback).
pub fn end_bulk_load(c: &Connection, load: BulkLoad) -> rusqlite::Result<()> {
    c.pragma_update(None, "cache_size", load.cache_size)?;
    if load.left_wal {
        let mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(format!(
                    "the database could not return to WAL mode after a bulk load (journal mode {mode})"
                )),
            ));
        }
    }
    Ok(())
}

/// Page cache during a bulk load: 64 MiB (negative: KiB), enough for 200,000 rows and their
/// indexes without spilling pages mid-transaction.
pub const BULK_CACHE_KIB: i64 = -64 * 1024;
