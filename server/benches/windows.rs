//! Windows device mode into the reference server: N PCs (default 100, `ENROLL_WIN_N`) enroll
//! with one seed 001 package over TLS on loopback — discovery, policy, RSA key + CSR,
//! enrollment, first OMA-DM session — `ENROLL_WIN_CONCURRENCY` at a time (default 8). Prints
//! enrollments/s. Run: `cargo bench -p enroll-server --bench windows`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_wmdm::customizations::Customizations;
use enroll_wsim::{Config, Credential, DeviceInfo, MemoryTree, WindowsDevice};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let n: usize = std::env::var("ENROLL_WIN_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let conc: usize = std::env::var("ENROLL_WIN_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = std::env::temp_dir().join(format!("enroll-win-bench-{}", std::process::id()));
        let mut config = enroll_server::ServerConfig::new(&dir);
        config.bind = "127.0.0.1:0".parse().unwrap();
        let server = enroll_server::start(config).await.unwrap();
        let ca = server.ca_cert_der();
        let mut store = rustls::RootCertStore::empty();
        store.add(rustls_pki_types::CertificateDer::from(ca.clone())).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth();
        let http = reqwest::Client::builder().tls_backend_preconfigured(tls).build().unwrap();
        let admin = server.admin_token().expose().to_owned();
        let base = server.base_url();
        let upn = "windows-bulkenroll-bench@abc.com";
        http.post(format!("{base}/api/v1/admin/users"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "email": upn, "password": "Bench-pass-1" }))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = http
            .post(format!("{base}/api/v1/admin/windows/packages"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "user": upn, "secret": "Bench-pass-1" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let package = Customizations::parse(v["customizations_xml"].as_str().unwrap()).unwrap();
        let sem = Arc::new(tokio::sync::Semaphore::new(conc));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..n {
            let (sem, package, ca) = (sem.clone(), package.clone(), ca.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                let info = DeviceInfo::random();
                let tree = MemoryTree::for_device(&info);
                let config = Config {
                    trust: vec![ca],
                    state_file: None,
                    sessions: 1,
                };
                let mut d = WindowsDevice::new(info, Credential::Package(package), config, tree).unwrap();
                d.run(&|_| {}).await.is_ok()
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap() {
                ok += 1;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "windows device mode: {ok}/{n} PCs enrolled (discovery, policy, key + CSR, enrollment, first OMA-DM session) in {secs:.2} s, {:.1} enrollments/s, concurrency {conc}",
            ok as f64 / secs
        );
        server.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(ok, n, "every PC enrolled");
    });
}
