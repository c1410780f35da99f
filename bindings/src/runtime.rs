//! The library's tokio runtime and its logging, set up once by [`init_platform`].
//!
//! Every async operation of [`crate::EnrollClient`] runs on this runtime (the foreign side only
//! awaits a join handle), so Kotlin coroutines, Swift tasks and Python asyncio never need a
//! tokio context of their own. Logging goes through `tracing` to logcat (Android), os_log
//! (Apple) and/or a foreign [`LogSink`]. The core never logs tokens, PINs, passwords or keys.

use crate::error::EnrollError;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::runtime::Runtime;
use tracing_subscriber::layer::SubscriberExt as _;
#[cfg(any(target_os = "android", target_vendor = "apple"))]
use tracing_subscriber::Layer as _;

/// Severity of a log record (and the threshold of [`PlatformConfig::log_level`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Very detailed internals.
    Trace,
    /// Debugging detail.
    Debug,
    /// State transitions and other milestones (the default).
    Info,
    /// Recoverable problems.
    Warn,
    /// Failures.
    Error,
    /// Logging off.
    Off,
}

impl From<LogLevel> for tracing_subscriber::filter::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => Self::TRACE,
            LogLevel::Debug => Self::DEBUG,
            LogLevel::Info => Self::INFO,
            LogLevel::Warn => Self::WARN,
            LogLevel::Error => Self::ERROR,
            LogLevel::Off => Self::OFF,
        }
    }
}

impl From<&tracing::Level> for LogLevel {
    fn from(level: &tracing::Level) -> Self {
        match *level {
            tracing::Level::TRACE => Self::Trace,
            tracing::Level::DEBUG => Self::Debug,
            tracing::Level::INFO => Self::Info,
            tracing::Level::WARN => Self::Warn,
            _ => Self::Error,
        }
    }
}

/// One log line for a [`LogSink`]. Never contains secrets.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// Rust module that logged (e.g. `enroll_core::agent`).
    pub target: String,
    /// The message followed by its fields as `key=value`.
    pub message: String,
}

/// Receives the library's log records (for apps with their own logging, for tests, and on
/// platforms without logcat or os_log).
///
/// Called synchronously on whichever library thread logged: return quickly, do not block, and
/// do not call back into the library.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// One log record.
    fn log(&self, record: LogRecord);
}

/// Settings of [`init_platform`].
#[derive(uniffi::Record)]
pub struct PlatformConfig {
    /// Least severe level logged.
    #[uniffi(default = None)]
    pub log_level: Option<LogLevel>,
    /// Also send log records to the system log: logcat on Android (tag `enroll`), os_log on
    /// Apple platforms (subsystem `io.github.enroll`). Ignored elsewhere.
    #[uniffi(default = true)]
    pub system_log: bool,
    /// Also send log records to this sink.
    #[uniffi(default = None)]
    pub log_sink: Option<Arc<dyn LogSink>>,
    /// Worker threads of the library's runtime (default 2; at least 1).
    #[uniffi(default = None)]
    pub worker_threads: Option<u32>,
}

impl std::fmt::Debug for PlatformConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformConfig")
            .field("log_level", &self.log_level)
            .field("system_log", &self.system_log)
            .field("log_sink", &self.log_sink.is_some())
            .field("worker_threads", &self.worker_threads)
            .finish()
    }
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT: Mutex<bool> = Mutex::new(false);

const DEFAULT_WORKERS: usize = 2;

fn build_runtime(workers: usize) -> Result<Runtime, EnrollError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("enroll-rt")
        .enable_all()
        .build()
        .map_err(|e| EnrollError::Internal {
            detail: format!("cannot start the runtime: {e}"),
        })
}

/// Serialises the runtime's start, so that two threads never both build one: the loser's
/// runtime would be dropped, and dropping a runtime inside an async context (a caller awaiting on
/// its own executor) panics.
static START: Mutex<()> = Mutex::new(());

/// The library's runtime, started with `workers` threads if it does not run yet.
fn start_runtime(workers: usize) -> Result<&'static Runtime, EnrollError> {
    let _start = START.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = build_runtime(workers)?;
    // Every writer holds `START`, so this sets the runtime just built.
    Ok(RUNTIME.get_or_init(|| rt))
}

/// The library's runtime, started with the default settings if [`init_platform`] was not called.
pub(crate) fn runtime() -> Result<&'static Runtime, EnrollError> {
    match RUNTIME.get() {
        Some(rt) => Ok(rt),
        None => start_runtime(DEFAULT_WORKERS),
    }
}

/// A task as the runtime sees it: every operation is boxed into this one type, so tokio's task
/// machinery is compiled once instead of once per operation (about 2.5 KB each in the mobile
/// library).
pub(crate) type BoxedTask = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Spawns a boxed task on the library's runtime.
pub(crate) fn spawn_boxed(task: BoxedTask) -> Result<tokio::task::JoinHandle<()>, EnrollError> {
    Ok(runtime()?.spawn(task))
}

/// Runs `fut` on the library's runtime and waits for it from any executor.
///
/// A panic inside `fut` is resumed here, so it reaches the foreign side as an exception.
pub(crate) async fn on_runtime<T, F>(fut: F) -> Result<T, EnrollError>
where
    F: Future<Output = Result<T, EnrollError>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let handle = spawn_boxed(Box::pin(async move {
        // The receiver is gone only when the caller stopped waiting; nothing to report then.
        let _ = tx.send(fut.await);
    }))?;
    match handle.await {
        Ok(()) => rx.await.unwrap_or(Err(EnrollError::Cancelled)),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(EnrollError::Cancelled),
    }
}

/// Sets up the library: its tokio runtime and its logging. Call once, early (e.g. in
/// `Application.onCreate` / `App.init`), before creating an [`crate::EnrollClient`].
///
/// Optional: without it the runtime starts with default settings on first use and nothing is
/// logged. Returns [`EnrollError::NotAllowedNow`] when called a second time, and keeps the
/// runtime settings of the first use when the runtime already runs. Does not block.
#[uniffi::export]
pub fn init_platform(config: PlatformConfig) -> Result<(), EnrollError> {
    let mut done = INIT.lock().map_err(|_| EnrollError::Internal {
        detail: "init lock poisoned".into(),
    })?;
    if *done {
        return Err(EnrollError::NotAllowedNow {
            detail: "init_platform was already called".into(),
        });
    }
    let workers = config
        .worker_threads
        .map_or(DEFAULT_WORKERS, |n| usize::try_from(n).unwrap_or(DEFAULT_WORKERS));
    start_runtime(workers)?;
    let level: tracing_subscriber::filter::LevelFilter = config.log_level.unwrap_or(LogLevel::Info).into();
    let sink_layer = config.log_sink.map(|sink| SinkLayer { sink });
    let subscriber = tracing_subscriber::registry()
        .with(system_log_layer(config.system_log))
        .with(sink_layer)
        .with(level);
    tracing::subscriber::set_global_default(subscriber).map_err(|_| EnrollError::NotAllowedNow {
        detail: "a global tracing subscriber is already installed".into(),
    })?;
    *done = true;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "enroll-ffi initialised");
    Ok(())
}

/// A boxed layer over the registry.
type BoxedLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

#[cfg(target_os = "android")]
fn system_log_layer(enabled: bool) -> Option<BoxedLayer> {
    enabled.then(|| paranoid_android::layer("enroll").boxed())
}

#[cfg(target_vendor = "apple")]
fn system_log_layer(enabled: bool) -> Option<BoxedLayer> {
    enabled.then(|| tracing_oslog::OsLogger::new("io.github.enroll", "default").boxed())
}

#[cfg(not(any(target_os = "android", target_vendor = "apple")))]
fn system_log_layer(_enabled: bool) -> Option<BoxedLayer> {
    None
}

/// Forwards events to a foreign [`LogSink`].
struct SinkLayer {
    sink: Arc<dyn LogSink>,
}

/// Writes an event's message then its other fields as `key=value`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl tracing::field::Visit for MessageVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SinkLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let meta = event.metadata();
        self.sink.log(LogRecord {
            level: meta.level().into(),
            target: meta.target().to_owned(),
            message: visitor.message + &visitor.fields,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<LogRecord>>);

    impl LogSink for Collect {
        fn log(&self, record: LogRecord) {
            self.0.lock().expect("lock").push(record);
        }
    }

    #[test]
    fn the_first_uses_from_many_async_callers_share_one_runtime() {
        // Each thread awaits on its own executor, as a foreign caller would; before the start
        // was serialised, a losing thread dropped its runtime there and panicked.
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let local = tokio::runtime::Builder::new_current_thread().build().expect("rt");
                    local.block_on(async move {
                        barrier.wait();
                        runtime().expect("runtime") as *const Runtime as usize
                    })
                })
            })
            .collect();
        let seen: Vec<usize> = threads.into_iter().map(|t| t.join().expect("no panic")).collect();
        assert!(
            seen.windows(2).all(|w| w[0] == w[1]),
            "one runtime for all callers"
        );
    }

    #[test]
    fn sink_layer_formats_message_and_fields() {
        let sink = Arc::new(Collect::default());
        let subscriber = tracing_subscriber::registry()
            .with(SinkLayer { sink: sink.clone() })
            .with(tracing_subscriber::filter::LevelFilter::from(LogLevel::Info));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(from = "idle", to = "discovered", "enrollment state");
            tracing::debug!("filtered out");
        });
        let got = sink.0.lock().expect("lock").clone();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].level, LogLevel::Info);
        assert_eq!(got[0].message, "enrollment state from=idle to=discovered");
    }

    #[test]
    fn runtime_runs_futures_from_any_executor() {
        let value = futures_lite_block_on(on_runtime(async { Ok::<_, EnrollError>(41 + 1) }));
        assert_eq!(value, Ok(42));
    }

    /// Polls a future on this thread without tokio (as a foreign executor would).
    fn futures_lite_block_on<F: Future>(fut: F) -> F::Output {
        use std::task::{Context, Poll, Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }
}
