//! QR codes for enrollment: invitation URLs and bulk profiles' Android provisioning JSON, as
//! PNG or SVG.
//!
//! Symbols use error correction level M, a 4-module quiet zone and square modules of `scale`
//! pixels (default 8). The payloads are exactly the formats `enroll_proto::payload::parse_payload`
//! reads: an invitation URL (`{base}/go?user=…`) or an Android Enterprise provisioning JSON
//! whose `PROVISIONING_ADMIN_EXTRAS_BUNDLE` carries `enroll.SERVER_URL`,
//! `enroll.ENROLLMENT_TOKEN` (absent for tokenless profiles), `enroll.PROFILE_ID`,
//! `enroll.attr.<name>` and the product-specific keys. The same bundle on its own is the
//! Samsung KME "Custom JSON" (DPC extras).

use enroll_proto::BulkProfileConfig;
use qrcode::{Color, EcLevel, QrCode};
use serde_json::{Map, Value};

/// Quiet zone around the symbol, in modules (the QR specification's minimum).
pub const QUIET_ZONE: usize = 4;
/// Default module size, in pixels.
pub const DEFAULT_SCALE: u32 = 8;
/// Accepted module sizes, in pixels.
pub const SCALE_RANGE: std::ops::RangeInclusive<u32> = 2..=32;
/// Largest payload encoded (byte mode, version 40, level M holds 2,331 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 2331;

/// Prefix of Android provisioning extras.
pub const ANDROID_EXTRA: &str = "android.app.extra.";

/// Image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG, 8-bit grayscale.
    Png,
    /// SVG, one path.
    Svg,
}

impl ImageFormat {
    /// Parses `png` or `svg`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "png" => Some(Self::Png),
            "svg" => Some(Self::Svg),
            _ => None,
        }
    }

    /// The `Content-Type` of the image.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Svg => "image/svg+xml",
        }
    }
}

/// Why a QR code could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The payload does not fit in a QR code.
    #[error("the payload is {0} bytes: too large for a QR code (at most {MAX_PAYLOAD_BYTES})")]
    TooLarge(usize),
    /// The encoder refused the data.
    #[error("QR encoding failed: {0}")]
    Encode(String),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// The modules of a symbol with its quiet zone: `size × size`, `true` = dark.
fn modules(text: &str) -> Result<(Vec<bool>, usize), QrError> {
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(QrError::TooLarge(text.len()));
    }
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| QrError::Encode(e.to_string()))?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET_ZONE;
    let mut out = vec![false; size * size];
    for y in 0..width {
        for x in 0..width {
            if colors.get(y * width + x) == Some(&Color::Dark) {
                out[(y + QUIET_ZONE) * size + x + QUIET_ZONE] = true;
            }
        }
    }
    Ok((out, size))
}

/// Renders `text` as a QR code image.
pub fn render(text: &str, format: ImageFormat, scale: u32) -> Result<Vec<u8>, QrError> {
    let scale = scale.clamp(*SCALE_RANGE.start(), *SCALE_RANGE.end());
    let (dark, size) = modules(text)?;
    match format {
        ImageFormat::Png => png(&dark, size, scale as usize),
        ImageFormat::Svg => Ok(svg(&dark, size, scale as usize).into_bytes()),
    }
}

fn png(dark: &[bool], size: usize, scale: usize) -> Result<Vec<u8>, QrError> {
    let px = size * scale;
    let dim = u32::try_from(px).map_err(|_| QrError::Png("image too large".into()))?;
    let mut pixels = Vec::with_capacity(px * px);
    for y in 0..size {
        let row: Vec<u8> = (0..size)
            .flat_map(|x| {
                let v = if dark[y * size + x] { 0u8 } else { 255u8 };
                std::iter::repeat_n(v, scale)
            })
            .collect();
        for _ in 0..scale {
            pixels.extend_from_slice(&row);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, dim, dim);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Balanced);
        let mut writer = encoder.write_header().map_err(|e| QrError::Png(e.to_string()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| QrError::Png(e.to_string()))?;
        writer.finish().map_err(|e| QrError::Png(e.to_string()))?;
    }
    Ok(out)
}

fn svg(dark: &[bool], size: usize, scale: usize) -> String {
    let px = size * scale;
    let mut path = String::new();
    for y in 0..size {
        let mut x = 0;
        while x < size {
            if dark[y * size + x] {
                let start = x;
                while x < size && dark[y * size + x] {
                    x += 1;
                }
                path.push_str(&format!("M{start},{y}h{}v1h-{}z", x - start, x - start));
            } else {
                x += 1;
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{px}\" height=\"{px}\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n"
    )
}

/// The signing-certificate checksum of [`DpcSettings::default`]: a placeholder that matches no
/// real APK (`enroll server bulk qr` warns while a code carries it).
pub const PLACEHOLDER_SIGNATURE_CHECKSUM: &str = "I8Q4bC4G5g2p1QeF6KZ0zH7nS3xWvYtR9uJ2mLkAaBc";

/// Default DPC admin receiver component.
pub const DEFAULT_DPC_COMPONENT: &str = "com.enroll.agent/.AdminReceiver";

/// Where the server serves the DPC package it was given (`ServerConfig::dpc_package`), and the
/// default download location of provisioning payloads (`{base}` + this path).
pub const DPC_PACKAGE_PATH: &str = enroll_proto::routes::DPC_PACKAGE;

/// The device policy controller (DPC) named in provisioning payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpcSettings {
    /// Admin receiver component, `package/.Receiver`.
    pub component: String,
    /// Where the DPC APK is downloaded (https); default `{base}/dpc/enroll-agent.apk`.
    pub download_url: Option<String>,
    /// URL-safe base64 (no padding) of the SHA-256 of the APK's signing certificate.
    pub signature_checksum: String,
    /// URL-safe base64 (no padding) of the SHA-256 of the APK file itself
    /// (`PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM`); set when the server serves the package.
    pub package_checksum: Option<String>,
}

impl Default for DpcSettings {
    fn default() -> Self {
        Self {
            component: DEFAULT_DPC_COMPONENT.into(),
            download_url: None,
            // A placeholder: set the real certificate digest of the published agent APK.
            signature_checksum: PLACEHOLDER_SIGNATURE_CHECKSUM.into(),
            package_checksum: None,
        }
    }
}

/// What a profile's payloads carry. `Debug` hides the token.
#[derive(Clone)]
pub struct PayloadParams<'a> {
    /// Server base URL.
    pub server_url: &'a str,
    /// The profile.
    pub profile_id: &'a str,
    /// Its current token (`None`: tokenless).
    pub token: Option<&'a str>,
    /// Its configuration.
    pub config: &'a BulkProfileConfig,
    /// The DPC.
    pub dpc: &'a DpcSettings,
}

impl std::fmt::Debug for PayloadParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadParams")
            .field("server_url", &self.server_url)
            .field("profile_id", &self.profile_id)
            .field("token", &self.token.map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// The admin extras bundle (also the Samsung KME DPC extras).
pub fn admin_extras(p: &PayloadParams<'_>) -> Value {
    let mut m = Map::new();
    m.insert("enroll.SERVER_URL".into(), Value::from(p.server_url));
    if let Some(t) = p.token {
        m.insert("enroll.ENROLLMENT_TOKEN".into(), Value::from(t));
    }
    m.insert("enroll.PROFILE_ID".into(), Value::from(p.profile_id));
    for (k, v) in &p.config.attributes {
        m.insert(format!("enroll.attr.{k}"), Value::from(v.as_str()));
    }
    for (k, v) in &p.config.product_keys {
        m.insert(k.clone(), Value::from(v.as_str()));
    }
    Value::Object(m)
}

/// The Android Enterprise QR provisioning JSON.
pub fn android_provisioning(p: &PayloadParams<'_>) -> Value {
    let mut m = Map::new();
    let key = |name: &str| format!("{ANDROID_EXTRA}{name}");
    m.insert(
        key("PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME"),
        Value::from(p.dpc.component.as_str()),
    );
    let download = p
        .dpc
        .download_url
        .clone()
        .unwrap_or_else(|| format!("{}{DPC_PACKAGE_PATH}", p.server_url));
    m.insert(
        key("PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION"),
        Value::from(download),
    );
    // Android needs one of the two checksums; the placeholder is left out when the file's own
    // checksum is known.
    if p.dpc.package_checksum.is_none() || p.dpc.signature_checksum != PLACEHOLDER_SIGNATURE_CHECKSUM {
        m.insert(
            key("PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM"),
            Value::from(p.dpc.signature_checksum.as_str()),
        );
    }
    if let Some(sum) = &p.dpc.package_checksum {
        m.insert(
            key("PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM"),
            Value::from(sum.as_str()),
        );
    }
    let sys = &p.config.system_extras;
    m.insert(
        key("PROVISIONING_LEAVE_ALL_SYSTEM_APPS_ENABLED"),
        Value::from(sys.leave_all_system_apps_enabled.unwrap_or(true)),
    );
    if let Some(v) = sys.skip_encryption {
        m.insert(key("PROVISIONING_SKIP_ENCRYPTION"), Value::from(v));
    }
    if let Some(v) = sys.skip_education_screens {
        m.insert(key("PROVISIONING_SKIP_EDUCATION_SCREENS"), Value::from(v));
    }
    if let Some(v) = &sys.locale {
        m.insert(key("PROVISIONING_LOCALE"), Value::from(v.as_str()));
    }
    if let Some(v) = &sys.time_zone {
        m.insert(key("PROVISIONING_TIME_ZONE"), Value::from(v.as_str()));
    }
    for (k, v) in &p.config.custom_system_keys {
        m.insert(k.clone(), v.clone());
    }
    m.insert(key("PROVISIONING_ADMIN_EXTRAS_BUNDLE"), admin_extras(p));
    Value::Object(m)
}

/// Android extras the server sets itself (not allowed as custom system keys).
pub const MANAGED_SYSTEM_KEYS: [&str; 9] = [
    "PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME",
    "PROVISIONING_DEVICE_ADMIN_PACKAGE_NAME",
    "PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION",
    "PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM",
    "PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM",
    "PROVISIONING_ADMIN_EXTRAS_BUNDLE",
    "PROVISIONING_LEAVE_ALL_SYSTEM_APPS_ENABLED",
    "PROVISIONING_SKIP_ENCRYPTION",
    "PROVISIONING_SKIP_EDUCATION_SCREENS",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_and_png_have_a_quiet_zone() {
        let svg =
            String::from_utf8(render("https://x.example/go?user=a", ImageFormat::Svg, 4).unwrap()).unwrap();
        assert!(svg.starts_with("<?xml"));
        assert!(
            svg.contains("M4,4h7v1h-7z"),
            "finder pattern starts after the quiet zone"
        );
        let png = render("hello", ImageFormat::Png, 2).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(matches!(
            render(&"x".repeat(MAX_PAYLOAD_BYTES + 1), ImageFormat::Png, 2),
            Err(QrError::TooLarge(_))
        ));
        assert_eq!(ImageFormat::parse("gif"), None);
    }

    #[test]
    fn default_checksum_is_32_bytes() {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(DpcSettings::default().signature_checksum)
            .unwrap();
        assert_eq!(bytes.len(), 32);
    }
}
