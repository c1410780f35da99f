//! The streamed CSV upload: the request body read from the file in chunks, the progress on
//! stderr (bytes and lines sent, at most every 250 ms), and the import outcome.

use crate::admin::ImportOutcome;
use crate::out::Out;
use anyhow::{anyhow, bail, Context as _};
use enroll_proto as protocol;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Streams `path` as a request body, printing bytes and rows sent on stderr.
pub(crate) async fn streamed_body(
    path: &Path,
    json: bool,
) -> anyhow::Result<(enroll_core::client::Body, Arc<Progress>)> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let total = file.metadata().await?.len();
    if total > protocol::MAX_CSV_UPLOAD_BYTES {
        bail!(
            "{} is {total} bytes: the server accepts at most {} bytes (split the file)",
            path.display(),
            protocol::MAX_CSV_UPLOAD_BYTES
        );
    }
    let progress = Arc::new(Progress {
        total,
        sent: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        started: Instant::now(),
        last: std::sync::Mutex::new(Instant::now()),
        json,
        tty: std::io::stderr().is_terminal(),
    });
    let p = progress.clone();
    let stream = futures_util::stream::unfold((file, p), |(mut file, p)| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                p.advance(&buf);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), (file, p)))
            }
            Err(e) => Some((Err(e), (file, p))),
        }
    });
    Ok((enroll_core::client::Body::wrap_stream(stream), progress))
}

/// Runs the upload `fut`. On Ctrl-C, says what became of the file on both sides: sent in part,
/// the server discards it (the import is all or nothing and starts only once the whole file is
/// in); handed whole to the network, the server may have it all (then it finishes the import)
/// or not (then it discards it), and `check` tells how to see which.
pub(crate) async fn interruptible<T, E>(
    fut: impl std::future::Future<Output = Result<T, E>>,
    progress: &Progress,
    check: &str,
) -> anyhow::Result<T>
where
    anyhow::Error: From<E>,
{
    tokio::select! {
        r = fut => Ok(r?),
        _ = tokio::signal::ctrl_c() => {
            let sent = progress.sent.load(Ordering::Relaxed);
            let message = if sent < progress.total {
                format!(
                    "Interrupted after sending {sent} of {} bytes: the server never received the whole file, so it \
                     discards what it got and nothing is imported. Upload the file again.",
                    progress.total
                )
            } else {
                format!(
                    "Interrupted after the whole file was handed to the network, before the server's answer. The \
                     server imports a file only once all of it has arrived, and then finishes the import (all of \
                     it or nothing) even though this command no longer waits; a file cut short is discarded. See \
                     which happened with {check} (the server's log says `CSV imported`, or `CSV upload interrupted`)."
                )
            };
            Err(crate::errors::Interrupted(message).into())
        }
    }
}

/// Upload progress, printed at most every 250 ms.
pub(crate) struct Progress {
    total: u64,
    sent: AtomicU64,
    rows: AtomicU64,
    started: Instant,
    last: std::sync::Mutex<Instant>,
    json: bool,
    tty: bool,
}

impl Progress {
    fn advance(&self, chunk: &[u8]) {
        let sent = self.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        let rows = self.rows.fetch_add(
            chunk.iter().filter(|b| **b == b'\n').count() as u64,
            Ordering::Relaxed,
        );
        let due = self
            .last
            .lock()
            .map(|mut last| {
                let due = last.elapsed() >= Duration::from_millis(250) || sent == self.total;
                if due {
                    *last = Instant::now();
                }
                due
            })
            .unwrap_or(false);
        if due {
            self.print(sent, rows);
        }
    }

    fn print(&self, sent: u64, rows: u64) {
        let pct = if self.total == 0 {
            100.0
        } else {
            sent as f64 * 100.0 / self.total as f64
        };
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({"progress": {"bytes_sent": sent, "bytes_total": self.total, "lines_sent": rows}})
            );
        } else {
            let text = format!(
                "  sent {:.1} / {:.1} MiB ({pct:.0} %), ~{rows} lines, {:.1} s",
                sent as f64 / 1_048_576.0,
                self.total as f64 / 1_048_576.0,
                self.started.elapsed().as_secs_f64()
            );
            if self.tty {
                eprint!("\r{text}   ");
            } else {
                eprintln!("{text}");
            }
        }
    }

    /// Ends the progress display once the server has answered.
    pub(crate) fn done(&self) {
        if self.tty && !self.json {
            eprintln!();
        }
        eprintln!(
            "  upload complete in {:.1} s; the server validated the file",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Prints an import's outcome: the counts, or the rejected lines (then an error).
pub(crate) fn report_outcome(outcome: ImportOutcome, out: &Out) -> anyhow::Result<()> {
    match outcome {
        ImportOutcome::Imported(r) => {
            out.result(format!(
                    "Validated {} rows: imported {} devices, skipped {} (blank rows or devices already synced){}",
                    r.rows,
                    r.imported,
                    r.skipped,
                    if r.attribute_columns.is_empty() {
                        String::new()
                    } else {
                        format!("; custom attributes: {}", r.attribute_columns.join(", "))
                    }
                ),
                serde_json::to_value(&r)?,
            );
            Ok(())
        }
        ImportOutcome::Rejected(rej) => {
            if out.json {
                crate::out::print_stdout(serde_json::to_value(&rej)?);
            } else {
                eprintln!("{}", rej.error.message);
                for e in &rej.report.errors {
                    eprintln!("  line {}: {}", e.line, e.reason);
                }
                let listed = rej.report.errors.len() as u64;
                if rej.report.error_count > listed {
                    eprintln!("  … and {} more", rej.report.error_count - listed);
                }
            }
            Err(anyhow!(
                "the file was rejected: {} bad line(s), nothing was imported",
                rej.report.error_count
            ))
        }
    }
}
