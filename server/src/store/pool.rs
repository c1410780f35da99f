//! The connections to the database file: one writer connection behind a mutex (SQLite allows
//! one writer at a time; `BEGIN IMMEDIATE` transactions run on it), and a small pool of reader
//! connections for statements that only read. In WAL mode readers never wait for the writer
//! nor block it, so the look-ups done before a write (idempotent replays, authentication,
//! listings) and the slow work between them (profile signing) no longer queue behind the writer.
//!
//! With no reader connections (`readers == 0`, the mode before issue 13, kept for the load
//! benchmark's before/after), reads take the writer's mutex as everything used to.
//!
//! Every connection gets [`super::configure`] (WAL, `busy_timeout`, foreign keys); readers are
//! also `query_only`, so a write sent to a reader by mistake fails instead of racing the writer.

use super::{configure, Store, StoreResult};
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

/// The writer and the readers of one database file.
#[derive(Debug)]
pub struct Pool {
    writer: Mutex<Store>,
    readers: Mutex<Vec<Connection>>,
    returned: Condvar,
    reader_count: usize,
}

/// A connection to read with: a pooled reader (returned on drop), or the writer itself in
/// single-connection mode.
pub enum ReadConn<'a> {
    /// The writer, locked (no reader pool).
    Writer(MutexGuard<'a, Store>),
    /// A reader taken from the pool.
    Reader {
        /// The connection (always `Some` until dropped).
        conn: Option<Connection>,
        /// Where it goes back.
        pool: &'a Pool,
    },
}

impl std::ops::Deref for ReadConn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            ReadConn::Writer(store) => store.conn(),
            ReadConn::Reader { conn, .. } => match conn {
                Some(c) => c,
                // Only `drop` takes it out.
                None => unreachable!("reader connection used after return"),
            },
        }
    }
}

impl Drop for ReadConn<'_> {
    fn drop(&mut self) {
        if let ReadConn::Reader { conn, pool } = self {
            if let Some(c) = conn.take() {
                if let Ok(mut free) = pool.readers.lock() {
                    free.push(c);
                }
                pool.returned.notify_one();
            }
        }
    }
}

impl Pool {
    /// Wraps an open store (the writer) and opens `readers` reader connections to `path`.
    pub fn new(store: Store, path: &Path, readers: usize) -> StoreResult<Self> {
        let mut conns = Vec::with_capacity(readers);
        for _ in 0..readers {
            let c = Connection::open(path)?;
            configure(&c)?;
            c.pragma_update(None, "query_only", "ON")?;
            conns.push(c);
        }
        Ok(Self {
            writer: Mutex::new(store),
            readers: Mutex::new(conns),
            returned: Condvar::new(),
            reader_count: readers,
        })
    }

    /// The writer connection, locked. `None` when a thread panicked while holding it.
    pub fn writer(&self) -> Option<MutexGuard<'_, Store>> {
        self.writer.lock().ok()
    }

    /// A connection for reads: a free reader (waiting for one if all are busy), or the writer
    /// when the pool has no readers. `None` when a lock is poisoned.
    pub fn reader(&self) -> Option<ReadConn<'_>> {
        if self.reader_count == 0 {
            return self.writer().map(ReadConn::Writer);
        }
        let mut free = self.readers.lock().ok()?;
        loop {
            if let Some(conn) = free.pop() {
                return Some(ReadConn::Reader {
                    conn: Some(conn),
                    pool: self,
                });
            }
            free = self.returned.wait(free).ok()?;
        }
    }

    /// How many reader connections the pool holds.
    pub fn reader_count(&self) -> usize {
        self.reader_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_committed_writes_and_cannot_write() {
        let dir = std::env::temp_dir().join(format!("enroll-pool-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let pool = Pool::new(Store::open(&path).unwrap(), &path, 2).unwrap();
        super::super::meta_set(pool.writer().unwrap().conn(), "k", "v").unwrap();
        let r = pool.reader().unwrap();
        assert_eq!(super::super::meta_get(&r, "k").unwrap().as_deref(), Some("v"));
        assert!(
            super::super::meta_set(&r, "k", "w").is_err(),
            "readers are query_only"
        );
        // Two readers at once, and a write while they are held.
        let r2 = pool.reader().unwrap();
        super::super::meta_set(pool.writer().unwrap().conn(), "k", "x").unwrap();
        assert_eq!(super::super::meta_get(&r2, "k").unwrap().as_deref(), Some("x"));
        drop((r, r2));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn without_readers_reads_use_the_writer() {
        let dir = std::env::temp_dir().join(format!("enroll-pool-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let pool = Pool::new(Store::open(&path).unwrap(), &path, 0).unwrap();
        let r = pool.reader().unwrap();
        assert!(matches!(r, ReadConn::Writer(_)));
        drop(r);
        let _ = std::fs::remove_dir_all(dir);
    }
}
