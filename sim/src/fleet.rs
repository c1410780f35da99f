//! A fleet: N simulated devices enrolled at once with at most K in flight, each generating its
//! own key inside the timed part (as mdmb does), and the summary — active, failed by kind,
//! enrollments per second, p50/p99 per step.

use crate::device::{ApplePlatform, DeviceIdentity};
use crate::device_session::SimulatedDevice;
use crate::error::{Result, SimError};
use crate::http::Transport;
use crate::profile::EnrollmentProfile;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A boxed future of a profile.
pub type ProfileFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>>> + Send + 'a>>;

/// Where each device's enrollment profile comes from.
pub trait ProfileSource: Send + Sync {
    /// The identity device `index` presents (default: made up, [`DeviceIdentity::simulated`]).
    fn identity(&self, index: usize, platform: ApplePlatform) -> DeviceIdentity {
        DeviceIdentity::simulated(index, platform)
    }

    /// The profile for device `index` (may contact a server).
    fn profile<'a>(&'a self, index: usize, identity: &'a DeviceIdentity) -> ProfileFuture<'a>;

    /// Called once a device enrolled with the profile (the enrollment server confirms here).
    fn enrolled<'a>(
        &'a self,
        _index: usize,
        _profile: &'a EnrollmentProfile,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async { Ok(()) })
    }
}

/// The same profile for every device (NanoMDM + scepserver: the challenge is not one-time).
pub struct FixedProfile(pub Vec<u8>);

impl ProfileSource for FixedProfile {
    fn profile<'a>(&'a self, _index: usize, _identity: &'a DeviceIdentity) -> ProfileFuture<'a> {
        let bytes = self.0.clone();
        Box::pin(async move { Ok(bytes) })
    }
}

/// Fleet settings.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Devices to enroll.
    pub devices: usize,
    /// Enrollments in flight at most.
    pub concurrency: usize,
    /// iPhones or Macs.
    pub platform: ApplePlatform,
    /// CAs a signed profile must verify against (none: signatures are not checked).
    pub trusted_profile_cas: Vec<Vec<u8>>,
}

/// Progress of a fleet run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Enrolled so far.
    pub done: usize,
    /// Failed so far.
    pub failed: usize,
    /// Devices in the run.
    pub total: usize,
}

/// Statistics of one step over a fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StepStats {
    /// Samples.
    pub count: usize,
    /// Median.
    #[serde(with = "millis")]
    pub p50: Duration,
    /// 99th percentile.
    #[serde(with = "millis")]
    pub p99: Duration,
    /// Mean.
    #[serde(with = "millis")]
    pub mean: Duration,
    /// Largest.
    #[serde(with = "millis")]
    pub max: Duration,
}

mod millis {
    /// Durations as fractional milliseconds.
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
    }
}

impl StepStats {
    /// Statistics of `samples` (nearest-rank percentiles).
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort();
        let rank = |p: f64| {
            let n = samples.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples[i]
        };
        let total: Duration = samples.iter().sum();
        Self {
            count: samples.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            mean: total / u32::try_from(samples.len()).unwrap_or(u32::MAX),
            max: samples[samples.len() - 1],
        }
    }
}

/// The summary of a fleet run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FleetReport {
    /// Devices in the run.
    pub devices: usize,
    /// Enrolled and still enrolled.
    pub active: usize,
    /// Failures by kind ([`SimError::kind`]).
    pub failed: BTreeMap<String, usize>,
    /// Wall time of the run, seconds.
    pub elapsed_secs: f64,
    /// Successful enrollments per second of wall time.
    pub enrollments_per_sec: f64,
    /// Per step: `profile`, `keygen`, `scep`, `authenticate`, `tokenupdate`, `first_command`,
    /// `total` (`total` is the device's part, from keygen to the first poll; `profile` is
    /// getting and parsing the profile before it, ~0 for a profile already at hand).
    pub steps: BTreeMap<&'static str, StepStats>,
}

async fn enroll_one(
    index: usize,
    config: &FleetConfig,
    transport: &Arc<Transport>,
    source: &dyn ProfileSource,
) -> Result<SimulatedDevice> {
    let identity = source.identity(index, config.platform);
    let t = Instant::now();
    let bytes = source.profile(index, &identity).await?;
    let profile = Arc::new(EnrollmentProfile::parse(&bytes, &config.trusted_profile_cas)?);
    let fetched = t.elapsed();
    let mut device = SimulatedDevice::enroll(transport.clone(), profile.clone(), identity).await?;
    source.enrolled(index, &profile).await?;
    device.timings.profile = fetched;
    Ok(device)
}

/// Enrolls `config.devices` devices, `config.concurrency` at a time, calling `on_progress`
/// after each one. Returns the summary and the enrolled devices.
pub async fn enroll_fleet(
    config: &FleetConfig,
    transport: Arc<Transport>,
    source: Arc<dyn ProfileSource>,
    on_progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> (FleetReport, Vec<SimulatedDevice>) {
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<std::result::Result<SimulatedDevice, SimError>>>> =
        Arc::new(Mutex::new(Vec::new()));
    let counts = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency.clamp(1, config.devices.max(1)) {
        let (next, results, counts) = (next.clone(), results.clone(), counts.clone());
        let (config, transport, source, on_progress) = (
            config.clone(),
            transport.clone(),
            source.clone(),
            on_progress.clone(),
        );
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= config.devices {
                    break;
                }
                let result = enroll_one(index, &config, &transport, source.as_ref()).await;
                if result.is_ok() {
                    counts.0.fetch_add(1, Ordering::Relaxed);
                } else {
                    counts.1.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(mut r) = results.lock() {
                    r.push(result);
                }
                on_progress(Progress {
                    done: counts.0.load(Ordering::Relaxed),
                    failed: counts.1.load(Ordering::Relaxed),
                    total: config.devices,
                });
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let results = match Arc::try_unwrap(results) {
        Ok(m) => m.into_inner().unwrap_or_default(),
        Err(shared) => shared
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default(),
    };
    let mut report = FleetReport {
        devices: config.devices,
        elapsed_secs: elapsed.as_secs_f64(),
        ..FleetReport::default()
    };
    let mut devices = Vec::new();
    for r in results {
        match r {
            Ok(d) => devices.push(d),
            Err(e) => *report.failed.entry(e.kind()).or_default() += 1,
        }
    }
    report.active = devices.iter().filter(|d| d.enrolled).count();
    report.enrollments_per_sec = devices.len() as f64 / elapsed.as_secs_f64().max(1e-9);
    let step = |f: &dyn Fn(&SimulatedDevice) -> Option<Duration>| {
        StepStats::of(devices.iter().filter_map(f).collect())
    };
    report.steps.insert("profile", step(&|d| Some(d.timings.profile)));
    report.steps.insert("keygen", step(&|d| Some(d.timings.keygen)));
    report.steps.insert("scep", step(&|d| Some(d.timings.scep)));
    report
        .steps
        .insert("authenticate", step(&|d| Some(d.timings.authenticate)));
    report
        .steps
        .insert("tokenupdate", step(&|d| Some(d.timings.token_update)));
    report
        .steps
        .insert("first_command", step(&|d| d.timings.first_command));
    report.steps.insert("total", step(&|d| Some(d.timings.total)));
    (report, devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let ms = |v: u64| Duration::from_millis(v);
        let s = StepStats::of((1..=100).map(ms).collect());
        assert_eq!((s.p50, s.p99, s.max, s.count), (ms(50), ms(99), ms(100), 100));
        assert_eq!(StepStats::of(vec![ms(7)]).p99, ms(7));
        assert_eq!(StepStats::of(Vec::new()), StepStats::default());
    }
}
