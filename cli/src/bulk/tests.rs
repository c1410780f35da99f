//! The bulk and KME commands against an embedded server: upload, inventory, tokens, QR codes,
//! devices and the Samsung KME flow.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use clap::Parser;
use enroll_core::tls::TrustConfig;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: BulkCommand,
}

struct Env {
    _dir: tempfile::TempDir,
    url: String,
    data: PathBuf,
    admin: AdminClient,
    work: PathBuf,
    server: enroll_server::RunningServer,
}

impl Env {
    async fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut argv = vec!["bulk".to_owned(), args[0].to_owned()];
        argv.extend(["--server".into(), self.url.clone()]);
        argv.extend(["--data-dir".into(), self.data.display().to_string()]);
        argv.extend(args[1..].iter().map(|s| s.to_string()));
        let cli = Cli::try_parse_from(argv)?;
        run(&cli.cmd, &Out { json: true }).await
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.work.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let mut config = enroll_server::ServerConfig::new(&data);
    config.bind = "127.0.0.1:0".parse().unwrap();
    let server = enroll_server::start(config).await.unwrap();
    let url = server.base_url();
    let admin = AdminClient::new(
        &url,
        TrustConfig::with_ca(server.ca_cert_pem().as_bytes()).unwrap(),
        server.admin_token().clone(),
        false,
    )
    .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    Env {
        _dir: dir,
        url,
        data,
        admin,
        work,
        server,
    }
}

fn imei(n: u64) -> String {
    let body = format!("35{n:012}");
    let mut sum = 0;
    for (i, c) in body.bytes().rev().enumerate() {
        let mut x = u32::from(c - b'0');
        if i % 2 == 0 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_list_token_qr_and_kme_commands() {
    let e = env().await;
    e.run(&["create", "Warehouse", "--days", "30", "--description", "scanners"])
        .await
        .unwrap();
    e.run(&["list"]).await.unwrap();
    let id = profile_id(&e.admin, "warehouse").await.unwrap();
    let before = e.admin.bulk_profile(&id).await.unwrap().token.unwrap();

    // A streamed upload of 5,000 rows.
    let mut csv = String::from("imei,serial_number,manufacturer,department\n");
    for n in 0..5000 {
        csv.push_str(&format!("{},,,dept-{}\n", imei(n), n % 7));
    }
    let path = e.file("devices.csv", &csv);
    e.run(&["upload", "Warehouse", &path]).await.unwrap();
    assert_eq!(
        e.admin.bulk_profile(&id).await.unwrap().profile.device_count,
        5000
    );
    // A bad file is rejected whole.
    let bad = e.file("bad.csv", &format!("imei\n{}\n12345\n", imei(9999)));
    let err = e.run(&["upload", &id, &bad]).await.unwrap_err();
    assert!(err.to_string().contains("nothing was imported"), "{err}");
    assert_eq!(
        e.admin.bulk_profile(&id).await.unwrap().profile.device_count,
        5000
    );
    // Inventory, template, QR codes.
    let inv = e.work.join("inv.csv").display().to_string();
    e.run(&["inventory", "Warehouse", "--out", &inv]).await.unwrap();
    assert_eq!(std::fs::read_to_string(&inv).unwrap().lines().count(), 5001);
    let tpl = e.work.join("t.csv").display().to_string();
    e.run(&["template", "--out", &tpl]).await.unwrap();
    assert!(std::fs::read_to_string(&tpl).unwrap().starts_with("imei,"));
    let png = e.work.join("qr.png").display().to_string();
    e.run(&["qr", "Warehouse", "--out", &png]).await.unwrap();
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    let svg = e.work.join("qr.svg").display().to_string();
    e.run(&["qr", "Warehouse", "--out", &svg, "--scale", "4"])
        .await
        .unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    e.run(&["provisioning", "Warehouse"]).await.unwrap();
    // Tokens: refresh, extend, out of range.
    e.run(&["token", "Warehouse"]).await.unwrap();
    let after = e.admin.bulk_profile(&id).await.unwrap().token.unwrap();
    assert_ne!(before.expose(), after.expose());
    e.run(&["token", "Warehouse", "--extend", "--days", "999"])
        .await
        .unwrap();
    e.run(&["token", "Warehouse", "--extend", "--never"])
        .await
        .unwrap();
    assert!(e
        .run(&["token", "Warehouse", "--extend", "--days", "5"])
        .await
        .is_err());
    assert_eq!(
        e.admin.bulk_profile(&id).await.unwrap().token.unwrap().expose(),
        after.expose(),
        "extend keeps the token"
    );
    // Devices one by one.
    e.run(&[
        "add-device",
        "Warehouse",
        "--serial",
        "SN1",
        "--manufacturer",
        "Zebra",
        "--attr",
        "dept=x",
    ])
    .await
    .unwrap();
    assert!(e
        .run(&["add-device", "Warehouse", "--serial", "SN2"])
        .await
        .is_err());
    e.run(&["devices", "Warehouse", "--limit", "3"]).await.unwrap();
    let first = e.admin.bulk_devices(&id, 0, 1).await.unwrap()[0].id.to_string();
    e.run(&["delete-devices", "Warehouse", &first]).await.unwrap();
    e.run(&["edit", "Warehouse", "--name", "Depot", "--tokenless", "true"])
        .await
        .unwrap();
    assert!(e.admin.bulk_profile(&id).await.unwrap().token.is_none());

    // Samsung KME.
    e.run(&["kme-enable", "--name", "Knox"]).await.unwrap();
    let kme = e.file(
        "kme.csv",
        &format!("imei,asset\n{},A1\n{},A2\n", imei(70_000), imei(70_001)),
    );
    e.run(&["kme-upload", &kme]).await.unwrap();
    e.run(&["kme-pending"]).await.unwrap();
    let pending = e.work.join("pending.csv").display().to_string();
    e.run(&["kme-pending", "--out", &pending]).await.unwrap();
    assert_eq!(std::fs::read_to_string(&pending).unwrap().lines().count(), 3);
    assert!(e.run(&["kme-approve"]).await.is_err());
    e.run(&["kme-approve", "--all"]).await.unwrap();
    e.run(&["create", "Field", "--kme", "--tokenless"]).await.unwrap();
    let default_id = e
        .admin
        .kme_integration()
        .await
        .unwrap()
        .default_profile_id
        .unwrap();
    let ids: Vec<String> = e
        .admin
        .bulk_devices(&default_id, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    let mut args = vec!["kme-move", default_id.as_str(), "--to", "Field"];
    args.extend(ids.iter().map(String::as_str));
    e.run(&args).await.unwrap();
    let field = profile_id(&e.admin, "Field").await.unwrap();
    assert_eq!(
        e.admin.bulk_profile(&field).await.unwrap().profile.device_count,
        2
    );
    e.run(&["kme-unassign", "Field", &ids[0]]).await.unwrap();
    assert_eq!(
        e.admin.bulk_profile(&field).await.unwrap().profile.device_count,
        1
    );
    e.run(&["kme-status"]).await.unwrap();
    e.run(&["show", "Field"]).await.unwrap();
    e.run(&["delete", "Depot"]).await.unwrap();
    assert!(e.run(&["show", "Depot"]).await.is_err());
    e.server.shutdown().await;
}
