//! The size floor of the mobile library: uniffi, tokio, rustls (ring) and reqwest with one
//! async GET, plus (by feature) rxing's QR decoder, plist and webpki-roots, each behind one
//! export so that the linker keeps it. See `scripts/mobile-size.sh --floor`.

uniffi::setup_scaffolding!();

use std::sync::OnceLock;

static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();

/// Why a fetch failed.
#[derive(Debug, uniffi::Error)]
pub enum FloorError {
    /// Anything.
    Failed {
        /// What happened.
        detail: String,
    },
}

impl std::fmt::Display for FloorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FloorError::Failed { detail } => f.write_str(detail),
        }
    }
}

impl std::error::Error for FloorError {}

fn failed(e: impl std::fmt::Display) -> FloorError {
    FloorError::Failed {
        detail: e.to_string(),
    }
}

/// GETs `url` over HTTPS (no trusted roots: the floor only needs the code linked).
#[uniffi::export]
pub async fn fetch(url: String) -> Result<String, FloorError> {
    let runtime = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or_else(|| failed("no runtime"))?;
    let task = runtime.spawn(async move {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(failed)?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build()
            .map_err(failed)?;
        let response = client.get(url).send().await.map_err(failed)?;
        response.text().await.map_err(failed)
    });
    task.await.map_err(failed)?
}

/// Decodes a QR code in a luma frame.
#[cfg(feature = "qr")]
#[uniffi::export]
pub fn scan(luma: Vec<u8>, width: u32, height: u32) -> Option<String> {
    let mut hints = rxing::DecodeHints::default().with(rxing::DecodeHintValue::TryHarder(true));
    rxing::helpers::detect_in_luma_with_hints(
        luma,
        width,
        height,
        Some(rxing::BarcodeFormat::QR_CODE),
        &mut hints,
    )
    .ok()
    .map(|r| r.getText().to_owned())
}

/// Counts the top-level keys of a plist.
#[cfg(feature = "plist")]
#[uniffi::export]
pub fn plist_keys(data: Vec<u8>) -> u32 {
    plist::Value::from_reader(std::io::Cursor::new(data))
        .ok()
        .and_then(|v| {
            v.as_dictionary()
                .map(|d| u32::try_from(d.len()).unwrap_or(u32::MAX))
        })
        .unwrap_or(0)
}

/// Sums the subject lengths of the public roots.
#[cfg(feature = "roots")]
#[uniffi::export]
pub fn roots() -> u32 {
    webpki_roots::TLS_SERVER_ROOTS
        .iter()
        .map(|r| u32::try_from(r.subject.len()).unwrap_or(0))
        .sum()
}
