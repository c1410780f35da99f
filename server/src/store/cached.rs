//! Statement-cached forms of `Connection::execute` and `Connection::query_row`.
//!
//! rusqlite's `execute` and `query_row` parse and plan their SQL on every call; on the
//! enrollment path that was the largest single cost after TLS (`perf`: SQLite's parser and
//! `prepare` about 9 % of a loopback enrollment). [`CachedSql::exec`] and [`CachedSql::row`]
//! go through the connection's statement cache (`prepare_cached`, sized by
//! [`STATEMENT_CACHE`] in [`super::configure`]) instead, with the same arguments and results.

use super::StoreResult;
use rusqlite::{Connection, Params, Row};

/// Prepared statements kept per connection (the server has about 200 distinct statements; the
/// hot paths of enrollment and check-in use a few dozen).
pub const STATEMENT_CACHE: usize = 128;

/// `execute` and `query_row` through the connection's statement cache.
pub trait CachedSql {
    /// Like `Connection::execute`: runs one statement, returns the changed row count.
    fn exec<P: Params>(&self, sql: &str, params: P) -> StoreResult<usize>;
    /// Like `Connection::query_row`: the first row mapped by `f`, or `QueryReturnedNoRows`.
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> StoreResult<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl CachedSql for Connection {
    fn exec<P: Params>(&self, sql: &str, params: P) -> StoreResult<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> StoreResult<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_statements_run_and_report_like_the_uncached_ones() {
        let c = Connection::open_in_memory().unwrap();
        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        c.execute_batch("CREATE TABLE t(a INTEGER, b TEXT)").unwrap();
        for i in 0..3 {
            assert_eq!(c.exec("INSERT INTO t(a, b) VALUES (?1, 'x')", [i]).unwrap(), 1);
        }
        assert_eq!(c.exec("UPDATE t SET b = 'y' WHERE a >= ?1", [1]).unwrap(), 2);
        let n: i64 = c
            .row("SELECT count(*) FROM t WHERE b = ?1", ["y"], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        // No row is the same error as query_row's.
        let none = c.row("SELECT a FROM t WHERE a = ?1", [99], |r| r.get::<_, i64>(0));
        assert!(matches!(none, Err(rusqlite::Error::QueryReturnedNoRows)));
        // A bad statement is an error, not a panic, and does not poison the cache.
        assert!(c.exec("INSERT INTO nope VALUES (1)", []).is_err());
        assert_eq!(c.exec("DELETE FROM t WHERE a = ?1", [0]).unwrap(), 1);
    }
}
