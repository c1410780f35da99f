//! The web layer shared by the self-service portal (`crate::portal`) and the admin console
//! (`crate::console`): server-rendered HTML pages, sessions, CSRF tokens, forms, English and
//! French, and the static CSS and JavaScript.
//!
//! - `html.rs`: escaping, the page frame and its headers (a strict Content-Security-Policy:
//!   `default-src 'self'`, no inline script or style, no framing);
//! - `session.rs`: sessions in memory (cookie `HttpOnly; Secure; SameSite=Strict`, the id kept
//!   only as its SHA-256), idle and absolute lifetimes, one CSRF token per session;
//! - `form.rs`: `application/x-www-form-urlencoded` bodies, at most 64 KiB;
//! - `i18n.rs`: the language of a page (the `enroll_lang` cookie set by the switch, else
//!   `Accept-Language`);
//! - `assets.rs`: `/assets/app.css` and `/assets/app.js`, compiled into the binary.
//!
//! Like every shared layer it knows no domain: the portal and the console call the domain
//! services and render their answers with these pieces.

mod assets;
mod form;
mod html;
mod i18n;
mod session;

pub(crate) use assets::{app_css, app_js};
pub(crate) use form::Form;
pub(crate) use html::{attr, esc, fmt_time, redirect, secure_headers, Page};
pub(crate) use i18n::{lang_en, lang_fr, Lang};
pub(crate) use session::{
    cookie_value, session_cookie, Session, SessionKind, Sessions, MAX_AGE as MAX_SESSION_AGE,
};

/// Where the phone apps are: the links `/go` offers on a phone (server config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLinks {
    /// Android package of the enrollment app (the target of the Android intent URL).
    pub android_package: String,
    /// Google Play page of the app (the intent's fallback).
    pub play_store_url: String,
    /// App Store page of the app.
    pub app_store_url: String,
    /// Base of the iOS universal link (an associated domain of the app); `None`: the server's
    /// public URL.
    pub universal_link_base: Option<String>,
    /// The iOS app, `TEAMID.bundle.id`, served in `/.well-known/apple-app-site-association`;
    /// `None`: that file answers 404.
    pub apple_app_id: Option<String>,
    /// SHA-256 fingerprint of the Android app's signing certificate (`AB:CD:…`, 32 bytes),
    /// served with `android_package` in `/.well-known/assetlinks.json`; `None`: 404.
    pub android_cert_sha256: Option<String>,
}

/// `TEAMID.bundle.id`: a 10-character team id (upper-case letters and digits), a dot, and a
/// bundle id (letters, digits, `.` and `-`).
pub fn is_apple_app_id(id: &str) -> bool {
    let Some((team, bundle)) = id.split_once('.') else {
        return false;
    };
    team.len() == 10
        && team.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && !bundle.is_empty()
        && bundle.len() <= 255
        && bundle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// A SHA-256 certificate fingerprint in the form Android's `assetlinks.json` wants
/// (`AB:CD:…`, 32 upper-case hex pairs) from hex with or without colons; `None` when it is not one.
pub fn normalize_cert_sha256(text: &str) -> Option<String> {
    let hex: String = text.trim().chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let upper = hex.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..32).filter_map(|i| upper.get(i * 2..i * 2 + 2)).collect();
    Some(pairs.join(":"))
}

impl Default for AppLinks {
    fn default() -> Self {
        Self {
            android_package: "com.example.enroll".into(),
            play_store_url: "https://play.google.com/store/apps/details?id=com.example.enroll".into(),
            app_store_url: "https://apps.apple.com/app/id0000000000".into(),
            universal_link_base: None,
            apple_app_id: None,
            android_cert_sha256: None,
        }
    }
}
