//! What Android provisioning codes name besides the profile: the server's public URL and the
//! device policy controller (DPC: admin component, download location, signing checksum). They
//! are set by flags or a JSON file (`--server-config`) on `enroll server run` (the server puts
//! them in every payload) and on `enroll server bulk qr` / `provisioning` (which rewrite the
//! server's payload before printing or encoding it). Both warn when a code would not provision
//! a real phone: a loopback server URL or download location, or the placeholder checksum.

use anyhow::{bail, Context as _};
use clap::Args;
use enroll_proto::payload::{parse_payload, PayloadOptions, ANDROID_EXTRA_PREFIX};
use enroll_server::qr::{DpcSettings, DPC_PACKAGE_PATH, PLACEHOLDER_SIGNATURE_CHECKSUM};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The Android provisioning keys rewritten here (after `android.app.extra.`).
mod keys {
    pub(super) const COMPONENT_NAME: &str = "PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME";
    pub(super) const DOWNLOAD_LOCATION: &str = "PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION";
    pub(super) const PACKAGE_CHECKSUM: &str = "PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM";
    pub(super) const SIGNATURE_CHECKSUM: &str = "PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM";
    pub(super) const ADMIN_EXTRAS: &str = "PROVISIONING_ADMIN_EXTRAS_BUNDLE";
}

/// Largest `--server-config` file read.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// The public URL and the DPC, by flag or from a `--server-config` JSON file (flags win).
#[derive(Args, Clone, Debug, Default)]
pub struct ProvisioningArgs {
    /// JSON file: {"public_url", "dpc": {"component", "download_url", "signature_checksum", "apk"},
    /// "app_links": {"android_package", "android_cert_sha256", "apple_app_id"}}.
    #[arg(long, env = "ENROLL_SERVER_CONFIG")]
    pub server_config: Option<PathBuf>,
    /// Public base URL devices use (e.g. https://192.168.1.20:8443); never a loopback address
    /// for a phone.
    #[arg(long)]
    pub public_url: Option<String>,
    /// DPC admin receiver component, `package/.Receiver`.
    #[arg(long)]
    pub dpc_component: Option<String>,
    /// Where devices download the DPC APK (https).
    #[arg(long)]
    pub dpc_download_url: Option<String>,
    /// URL-safe base64 SHA-256 of the DPC APK's signing certificate (`apksigner verify
    /// --print-certs`, see README).
    #[arg(long)]
    pub dpc_checksum: Option<String>,
}

/// The `--server-config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    dpc: DpcFile,
    #[serde(default)]
    app_links: AppLinksFile,
}

/// The phone apps `/go` and the `/.well-known` association files name (`enroll server run`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppLinksFile {
    #[serde(default)]
    android_package: Option<String>,
    #[serde(default)]
    android_cert_sha256: Option<String>,
    #[serde(default)]
    apple_app_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DpcFile {
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    download_url: Option<String>,
    #[serde(default)]
    signature_checksum: Option<String>,
    #[serde(default)]
    apk: Option<PathBuf>,
}

/// The settings the flags and the file give, flags first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioning {
    /// Public base URL.
    pub public_url: Option<String>,
    /// DPC component.
    pub component: Option<String>,
    /// DPC download location.
    pub download_url: Option<String>,
    /// DPC signing-certificate checksum.
    pub signature_checksum: Option<String>,
    /// DPC package to serve (`server run` only; relative to the file's directory when from it).
    pub apk: Option<PathBuf>,
    /// The file's `app_links.android_package` (`server run` only).
    pub android_package: Option<String>,
    /// The file's `app_links.android_cert_sha256` (`server run` only).
    pub android_cert_sha256: Option<String>,
    /// The file's `app_links.apple_app_id` (`server run` only).
    pub apple_app_id: Option<String>,
}

impl ProvisioningArgs {
    /// Merges the flags over the `--server-config` file.
    pub fn resolve(&self) -> anyhow::Result<Provisioning> {
        let file = match &self.server_config {
            Some(path) => read_config(path)?,
            None => ConfigFile::default(),
        };
        let base = self
            .server_config
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let p = Provisioning {
            public_url: self.public_url.clone().or(file.public_url),
            component: self.dpc_component.clone().or(file.dpc.component),
            download_url: self.dpc_download_url.clone().or(file.dpc.download_url),
            signature_checksum: self.dpc_checksum.clone().or(file.dpc.signature_checksum),
            apk: file.dpc.apk.map(|a| base.join(a)),
            android_package: file.app_links.android_package,
            android_cert_sha256: file.app_links.android_cert_sha256,
            apple_app_id: file.app_links.apple_app_id,
        };
        if let Some(u) = &p.public_url {
            let url = url::Url::parse(u).with_context(|| format!("--public-url {u:?} is not a URL"))?;
            if url.scheme() != "https" && url.scheme() != "http" {
                bail!("--public-url must start with https://");
            }
        }
        if let Some(c) = &p.component {
            if !c.contains('/') {
                bail!("--dpc-component must be package/class, e.g. com.example.dpc/.AdminReceiver");
            }
        }
        Ok(p)
    }
}

fn read_config(path: &Path) -> anyhow::Result<ConfigFile> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        bail!("{} is larger than {MAX_CONFIG_BYTES} bytes", path.display());
    }
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a server configuration: expected {{\"public_url\": …, \"dpc\": {{\"component\", \"download_url\", \"signature_checksum\", \"apk\"}}, \"app_links\": {{\"android_package\", \"android_cert_sha256\", \"apple_app_id\"}}}}",
            path.display()
        )
    })
}

impl Provisioning {
    /// The server's DPC settings (defaults where unset).
    pub fn dpc(&self) -> DpcSettings {
        let mut dpc = DpcSettings::default();
        if let Some(c) = &self.component {
            dpc.component = c.clone();
        }
        dpc.download_url = self.download_url.clone();
        if let Some(s) = &self.signature_checksum {
            dpc.signature_checksum = s.clone();
        }
        dpc
    }

    /// Rewrites a payload the server made (`android`, and the KME extras) with these settings.
    pub fn apply(&self, android: &mut Value, kme_extras: &mut Value) {
        let key = |k: &str| format!("{ANDROID_EXTRA_PREFIX}{k}");
        let Some(m) = android.as_object_mut() else {
            return;
        };
        if let Some(public) = &self.public_url {
            let public = public.trim_end_matches('/');
            let old = m
                .get(&key(keys::ADMIN_EXTRAS))
                .and_then(|b| b.get("enroll.SERVER_URL"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            for bundle in [m.get_mut(&key(keys::ADMIN_EXTRAS)), Some(&mut *kme_extras)]
                .into_iter()
                .flatten()
            {
                if let Some(b) = bundle.as_object_mut() {
                    b.insert("enroll.SERVER_URL".into(), Value::from(public));
                }
            }
            // The server's own download location moves with its URL.
            if let (Some(old), None) = (old, &self.download_url) {
                let served = format!("{old}{DPC_PACKAGE_PATH}");
                if m.get(&key(keys::DOWNLOAD_LOCATION)).and_then(Value::as_str) == Some(served.as_str()) {
                    m.insert(
                        key(keys::DOWNLOAD_LOCATION),
                        Value::from(format!("{public}{DPC_PACKAGE_PATH}")),
                    );
                }
            }
        }
        if let Some(c) = &self.component {
            m.insert(key(keys::COMPONENT_NAME), Value::from(c.as_str()));
        }
        if let Some(d) = &self.download_url {
            m.insert(key(keys::DOWNLOAD_LOCATION), Value::from(d.as_str()));
            // The package checksum described the server's file, not this one.
            m.remove(&key(keys::PACKAGE_CHECKSUM));
            if !m.contains_key(&key(keys::SIGNATURE_CHECKSUM)) {
                m.insert(
                    key(keys::SIGNATURE_CHECKSUM),
                    Value::from(PLACEHOLDER_SIGNATURE_CHECKSUM),
                );
            }
        }
        if let Some(s) = &self.signature_checksum {
            m.insert(key(keys::SIGNATURE_CHECKSUM), Value::from(s.as_str()));
        }
    }
}

/// Checks `android` with the parser devices run.
pub fn check(android: &Value) -> anyhow::Result<()> {
    parse_payload(&android.to_string(), &PayloadOptions::default())
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("the provisioning code would not parse on a device: {e}"))
}

fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => false,
    }
}

/// Why a provisioning code would not provision a real phone (empty: nothing found).
pub fn warnings(android: &Value) -> Vec<String> {
    let key = |k: &str| format!("{ANDROID_EXTRA_PREFIX}{k}");
    let get = |k: &str| android.get(key(k)).and_then(Value::as_str);
    let mut out = Vec::new();
    let server = android
        .get(key(keys::ADMIN_EXTRAS))
        .and_then(|b| b.get("enroll.SERVER_URL"))
        .and_then(Value::as_str);
    if let Some(s) = server.filter(|s| is_loopback(s)) {
        out.push(format!(
            "the code sends devices to {s}, a loopback address that only this computer reaches: \
             give `--public-url https://<address phones reach>:<port>` (here or to `enroll server run`)"
        ));
    }
    if let Some(d) = get(keys::DOWNLOAD_LOCATION).filter(|d| is_loopback(d)) {
        out.push(format!(
            "the DPC download location {d} is a loopback address: give `--public-url`, or `--dpc-download-url`"
        ));
    }
    if get(keys::SIGNATURE_CHECKSUM) == Some(PLACEHOLDER_SIGNATURE_CHECKSUM) {
        out.push(
            "the DPC signing checksum is the placeholder, which matches no APK: give `--dpc-checksum` (the \
             SHA-256 of your APK's signing certificate), or serve the APK with `enroll server run --dpc-apk FILE`"
                .to_owned(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn payload(server: &str) -> (Value, Value) {
        let extras = serde_json::json!({"enroll.SERVER_URL": server, "enroll.PROFILE_ID": "p1"});
        let android = serde_json::json!({
            "android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME": "com.enroll.agent/.AdminReceiver",
            "android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION": format!("{server}/dpc/enroll-agent.apk"),
            "android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM": PLACEHOLDER_SIGNATURE_CHECKSUM,
            "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE": extras.clone(),
        });
        (android, extras)
    }

    #[test]
    fn loopback_and_placeholder_are_warned_and_flags_fix_them() {
        let (mut android, mut extras) = payload("https://127.0.0.1:8443");
        assert_eq!(warnings(&android).len(), 3, "{:?}", warnings(&android));
        let p = Provisioning {
            public_url: Some("https://192.168.1.20:8443/".into()),
            component: Some("com.example.dpc/.Admin".into()),
            signature_checksum: Some("gJD2YwtOiWJHkSMkkIfLRlj-quNqG1fb6v100QmzM9w".into()),
            ..Default::default()
        };
        p.apply(&mut android, &mut extras);
        assert!(warnings(&android).is_empty(), "{:?}", warnings(&android));
        assert_eq!(extras["enroll.SERVER_URL"], "https://192.168.1.20:8443");
        assert_eq!(
            android["android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION"],
            "https://192.168.1.20:8443/dpc/enroll-agent.apk"
        );
        check(&android).unwrap();
    }

    #[test]
    fn another_download_location_drops_the_servers_package_checksum() {
        let (mut android, mut extras) = payload("https://mdm.example.com");
        android["android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM"] =
            Value::from("gJD2YwtOiWJHkSMkkIfLRlj-quNqG1fb6v100QmzM9w");
        let p = Provisioning {
            download_url: Some("https://apps.example.com/dpc.apk".into()),
            ..Default::default()
        };
        p.apply(&mut android, &mut extras);
        assert!(android
            .get("android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM")
            .is_none());
        assert_eq!(warnings(&android).len(), 1, "the placeholder checksum is left");
        assert!(is_loopback("https://localhost:1/x") && is_loopback("https://[::1]/"));
        assert!(!is_loopback("https://10.0.0.1/"));
    }

    #[test]
    fn config_file_is_read_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.json");
        std::fs::write(
            &path,
            r#"{"public_url":"https://a.example","dpc":{"component":"x.y/.Z","apk":"agent.apk"}}"#,
        )
        .unwrap();
        let args = ProvisioningArgs {
            server_config: Some(path.clone()),
            public_url: Some("https://b.example".into()),
            ..Default::default()
        };
        let p = args.resolve().unwrap();
        assert_eq!(p.public_url.as_deref(), Some("https://b.example"));
        assert_eq!(p.component.as_deref(), Some("x.y/.Z"));
        assert_eq!(p.apk, Some(dir.path().join("agent.apk")));
        std::fs::write(&path, r#"{"dpc":{"checksum":"typo"}}"#).unwrap();
        let err = args.resolve().unwrap_err();
        assert!(
            format!("{err:#}").contains("not a server configuration"),
            "{err:#}"
        );
    }
}
