//! The Windows device mode on the core's step machine: killed after each committed step (a real
//! process, SIGKILL), or crashed between a step's effect and its commit (a store write that
//! fails), it resumes and ends with exactly one device record, Active, on the real server.

use super::main_helpers::*;
use super::{BULK, PW};
use enroll_core::platform::{PlatformError, SecureStore};
use enroll_core::secret::SecretBytes;
use enroll_wsim::{Config, Credential, DeviceInfo, MemoryTree, Step, WindowsDevice, WsimError};
use std::io::{BufRead as _, Write as _};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The environment of the child process.
const CHILD_ENV: &str = "ENROLL_WSIM_CHILD";

fn fixed_info(id: &str) -> DeviceInfo {
    DeviceInfo {
        device_id: id.to_owned(),
        device_name: format!("PC-{}", &id[..8]),
        manufacturer: "Contoso Computers".into(),
        model: "Surface-like 9".into(),
        os_version: "10.0.22631.4460".into(),
    }
}

/// Not a test: the device process the kill test starts (`--ignored --exact`). It prints where it
/// resumed, its progress lines, and stops (sleeps until killed) after the step it is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the_device_mode_killed_after_each_step_resumes_to_one_active_record"]
async fn child_device_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    let package = enroll_wmdm::customizations::Customizations::parse(&read("customizations.xml")).unwrap();
    let info = fixed_info(read("device-id").trim());
    let stop = std::env::var("ENROLL_WSIM_STOP_AFTER").ok();
    let mut d = WindowsDevice::new(
        info.clone(),
        Credential::Package(package),
        Config {
            trust: vec![std::fs::read(dir.join("ca.der")).unwrap()],
            state_file: Some(dir.join("pc-state.json")),
            sessions: 1,
        },
        MemoryTree::for_device(&info),
    )
    .unwrap();
    println!("WSIM-RESUMED-AT {}", d.state().step.name());
    let progress = move |line: &str| {
        println!("WSIM-PROGRESS {line}");
        if stop.as_deref().is_some_and(|s| line.starts_with(s)) {
            println!("WSIM-STOPPED");
            std::io::stdout().flush().unwrap();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
    };
    d.run(&progress).await.unwrap();
    println!("WSIM-DONE {}", d.state().step.name());
}

/// Runs the child until it prints `WSIM-STOPPED` (then SIGKILL) or exits; its marker lines.
fn run_child(dir: &std::path::Path, stop: Option<&str>) -> Vec<String> {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "resume::child_device_process",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, dir)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::inherit());
    match stop {
        Some(s) => cmd.env("ENROLL_WSIM_STOP_AFTER", s),
        None => cmd.env_remove("ENROLL_WSIM_STOP_AFTER"),
    };
    let mut child = cmd.spawn().unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in out.lines() {
        let line = line.unwrap();
        // libtest prints `test NAME ... ` before the test's own output, on the same line.
        let Some(at) = line.find("WSIM-") else {
            continue;
        };
        let line = line[at..].to_owned();
        let stopped = line == "WSIM-STOPPED";
        lines.push(line);
        if stopped {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    if stop.is_none() {
        assert!(status.success(), "the last child failed: {lines:?}");
    } else {
        assert!(!status.success(), "killed, not finished: {lines:?}");
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_mode_killed_after_each_step_resumes_to_one_active_record() {
    let env = start("kill").await;
    env.user(BULK, PW).await;
    let package = env.package(BULK, PW).await;
    let dir = env.dir.join("pc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("customizations.xml"), package.to_xml()).unwrap();
    std::fs::write(dir.join("ca.der"), env.server.ca_cert_der()).unwrap();
    let id = DeviceInfo::random().device_id;
    std::fs::write(dir.join("device-id"), &id).unwrap();
    // (stop after the line starting with…, the step the next process must resume at)
    let stops = [
        ("discovery:", Step::Discovered),
        ("policy:", Step::PolicyRead),
        ("key and CSR:", Step::KeyReady),
        ("enrollment:", Step::Enrolled),
        ("provisioning document:", Step::Provisioned),
    ];
    let mut resumed_at = Step::Start;
    for (stop, reached) in stops {
        let lines = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || run_child(&dir, Some(stop))
        })
        .await
        .unwrap();
        assert_eq!(
            lines[0],
            format!("WSIM-RESUMED-AT {}", resumed_at.name()),
            "{lines:?}"
        );
        let progress: Vec<&String> = lines.iter().filter(|l| l.starts_with("WSIM-PROGRESS")).collect();
        assert_eq!(progress.len(), 1, "exactly one step per process: {lines:?}");
        assert!(
            progress[0].starts_with(&format!("WSIM-PROGRESS {stop}")),
            "{lines:?}"
        );
        assert_eq!(lines.last().unwrap(), "WSIM-STOPPED");
        resumed_at = reached;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("pc-state.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the state file holds the key");
        }
    }
    let lines = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || run_child(&dir, None)
    })
    .await
    .unwrap();
    assert_eq!(lines[0], "WSIM-RESUMED-AT provisioned", "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WSIM-PROGRESS OMA-DM session 1:")),
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap(), "WSIM-DONE managed");
    let list = env.windows_devices().await;
    assert_eq!(list.len(), 1, "exactly one Windows device record: {list:?}");
    assert_eq!(list[0]["hw_dev_id"], id.as_str());
    assert_eq!(list[0]["state"], "active", "{}", list[0]);
    assert_eq!(list[0]["bulk_owner"], BULK);
    assert_eq!(env.device_count().await, 1, "and no other device record");
    env.server.shutdown().await;
}

/// A store whose next write fails after `allow` more successful ones (a crash between a step's
/// effect and its commit); `allow < 0`: never fails.
struct CrashingStore {
    inner: Arc<enroll_core::fakes::MemoryStore>,
    allow: AtomicI64,
}

impl SecureStore for CrashingStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, PlatformError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        if self.allow.fetch_sub(1, Ordering::SeqCst) == 0 {
            return Err(PlatformError::other("crash before the commit (test)"));
        }
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), PlatformError> {
        self.inner.delete(key)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_each_step_and_its_commit_redoes_the_step_without_a_second_record() {
    let env = start("crash").await;
    env.user(BULK, PW).await;
    let package = env.package(BULK, PW).await;
    let info = DeviceInfo::random();
    let store = Arc::new(CrashingStore {
        inner: enroll_core::fakes::MemoryStore::new(),
        allow: AtomicI64::new(-1),
    });
    let device = |store: Arc<CrashingStore>| {
        WindowsDevice::with_store(
            info.clone(),
            Credential::Package(package.clone()),
            Config {
                trust: vec![env.server.ca_cert_der()],
                state_file: None,
                sessions: 1,
            },
            MemoryTree::for_device(&info),
            store,
        )
        .unwrap()
    };
    let order = [
        Step::Start,
        Step::Discovered,
        Step::PolicyRead,
        Step::KeyReady,
        Step::Enrolled,
        Step::Provisioned,
    ];
    for (round, at) in order.iter().enumerate() {
        // A restarted device: it resumes at the last committed step, redoes the next step (whose
        // effect on the server already happened in the previous round) and crashes one later.
        store.allow.store(i64::from(round > 0), Ordering::SeqCst);
        let mut d = device(store.clone());
        let expect = if round == 0 { Step::Start } else { order[round - 1] };
        assert_eq!(d.state().step, expect, "round {round}");
        let err = d.run(&quiet).await.unwrap_err();
        assert!(
            matches!(err, WsimError::State(ref m) if m.contains("crash")),
            "{err}"
        );
        assert_eq!(
            d.state().step,
            if round == 0 { Step::Start } else { *at },
            "round {round}"
        );
    }
    // The first OMA-DM session ran (the server marked the device active) but was not committed.
    let list = env.windows_devices().await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["state"], "active");
    store.allow.store(-1, Ordering::SeqCst);
    let mut d = device(store.clone());
    assert_eq!(d.state().step, Step::Provisioned);
    d.run(&quiet).await.unwrap();
    assert_eq!(d.state().step, Step::Managed);
    assert_eq!(d.state().sessions_done, 1);
    let list = env.windows_devices().await;
    assert_eq!(list.len(), 1, "exactly one Windows device record: {list:?}");
    assert_eq!(list[0]["hw_dev_id"], info.device_id.as_str());
    assert_eq!(list[0]["state"], "active", "{}", list[0]);
    assert_eq!(env.device_count().await, 1);
    env.server.shutdown().await;
}
