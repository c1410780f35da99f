//! HTTPS for the device mode: reqwest over rustls (ring), trusting only the configured roots,
//! optionally presenting the enrollment's client certificate (mutual TLS for OMA-DM); replies
//! bounded in size, no redirects, https only.

use crate::{Result, WsimError};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;

/// Largest reply read.
const MAX_REPLY_BYTES: usize = 512 * 1024;

fn transport(step: &'static str, e: impl ToString) -> WsimError {
    WsimError::Transport {
        step,
        message: e.to_string(),
    }
}

/// A client trusting `roots`, presenting `(certificate DER, PKCS #8 key)` when given.
pub(crate) fn client(roots: &[Vec<u8>], identity: Option<(Vec<u8>, Vec<u8>)>) -> Result<reqwest::Client> {
    let step = "tls";
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(CertificateDer::from(r.clone()))
            .map_err(|e| transport(step, e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| transport(step, e))?
        .with_root_certificates(store);
    let tls = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(cert)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .map_err(|e| transport(step, e))?,
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .user_agent("Windows Enrollment Client (enroll-wsim)")
        .build()
        .map_err(|e| transport(step, e))
}

async fn read(resp: reqwest::Response, step: &'static str) -> Result<(reqwest::StatusCode, String)> {
    let status = resp.status();
    if resp.content_length().is_some_and(|l| l > MAX_REPLY_BYTES as u64) {
        return Err(transport(step, "reply too large"));
    }
    let bytes = resp.bytes().await.map_err(|e| transport(step, e))?;
    if bytes.len() > MAX_REPLY_BYTES {
        return Err(transport(step, "reply too large"));
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

pub(crate) async fn get_ok(client: &reqwest::Client, url: &str, step: &'static str) -> Result<()> {
    let resp = client.get(url).send().await.map_err(|e| transport(step, e))?;
    if !resp.status().is_success() {
        return Err(WsimError::Refused {
            step,
            message: format!("GET {url}: HTTP {}", resp.status()),
        });
    }
    Ok(())
}

/// Posts a SOAP envelope; a fault becomes [`WsimError::Refused`] with its subcode and reason.
pub(crate) async fn post_soap(
    client: &reqwest::Client,
    url: &str,
    body: String,
    step: &'static str,
) -> Result<String> {
    let resp = client
        .post(url)
        .header("content-type", "application/soap+xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .map_err(|e| transport(step, e))?;
    let (status, text) = read(resp, step).await?;
    if !status.is_success() {
        let reason = enroll_wmdm::soap::Envelope::parse(&text)
            .ok()
            .and_then(|e| e.body().and_then(enroll_wmdm::soap::read_fault))
            .map(|f| format!("{} fault: {}", f.subcode, f.reason))
            .unwrap_or_else(|| format!("HTTP {status}"));
        return Err(WsimError::Refused {
            step,
            message: reason,
        });
    }
    Ok(text)
}

/// Posts a SyncML message.
pub(crate) async fn post_syncml(
    client: &reqwest::Client,
    url: &str,
    body: String,
    step: &'static str,
) -> Result<String> {
    let resp = client
        .post(url)
        .header("content-type", enroll_wmdm::syncml::CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .map_err(|e| transport(step, e))?;
    let (status, text) = read(resp, step).await?;
    if !status.is_success() {
        return Err(WsimError::Refused {
            step,
            message: format!("HTTP {status}: {}", json_message(&text)),
        });
    }
    Ok(text)
}

fn json_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// Redeems the Entra bulk token: (access token, Entra device id).
pub(crate) async fn redeem(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    device_key: &str,
    device_name: &str,
) -> Result<(String, String)> {
    let step = "entra token";
    let body =
        serde_json::json!({ "bulk_token": token, "device_key": device_key, "device_name": device_name });
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| transport(step, e))?;
    let (status, text) = read(resp, step).await?;
    if !status.is_success() {
        return Err(WsimError::Refused {
            step,
            message: format!("HTTP {status}: {}", json_message(&text)),
        });
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| transport(step, e))?;
    match (v["access_token"].as_str(), v["device_id"].as_str()) {
        (Some(a), Some(d)) => Ok((a.to_owned(), d.to_owned())),
        _ => Err(transport(step, "the token reply lacks access_token or device_id")),
    }
}
