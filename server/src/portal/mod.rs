//! The self-service portal (seed 003): the pages an end user opens from an invitation.
//!
//! - `go.rs`: `/go?user=…`, who the invitation is for and what to do on this device (a phone:
//!   open it in the app through an Android intent URL or an iOS universal link, or get the app
//!   from its store; a computer: sign in here);
//! - `signin.rs`: sign-in with the e-mail and the one-time PIN, a password, or directory
//!   ("network") credentials; after a PIN, a user without a password sets one; sign-out;
//! - `profile.rs`: the portal's home, "Install management profile" (macOS, iOS: the signed
//!   `.mobileconfig`, a countdown of its validity, per-OS steps, a fresh one once expired) and
//!   the QR code for in-app enrollment made for the signed-in user;
//! - `wellknown.rs`: `/.well-known/apple-app-site-association` and `/.well-known/assetlinks.json`,
//!   which let the iOS and Android apps open `/go` links (from the server config's `AppLinks`).
//!
//! The rules are the enrollment and user services' (`EnrollmentService::portal_*`,
//! `UserService::set_first_password`); this module renders them with `crate::web`. Nothing
//! imports it but the crate root.

mod go;
mod profile;
mod signin;
mod wellknown;

use crate::error::ApiError;
use crate::http::{AppState, Route};
use crate::web::{cookie_value, session_cookie, Lang, Session, SessionKind};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use enroll_proto::{DeviceDescriptor, ErrorCode, Platform};

/// Session cookie of the portal.
const COOKIE: &str = "enroll_portal";
/// Idle lifetime of a signed-in portal session, seconds.
const USER_IDLE: i64 = 15 * 60;
/// Idle lifetime of a session that has not signed in, seconds.
const ANON_IDLE: i64 = 30 * 60;

/// The `/go` route (part of the API table: `docs/openapi.json` lists it).
pub(crate) fn table() -> Vec<Route> {
    vec![Route::new("GET", enroll_proto::routes::GO, get(go::go_page))]
}

/// The portal's pages.
pub(crate) fn pages() -> Vec<Route> {
    vec![
        Route::new("GET", "/portal", get(profile::home)),
        Route::new("GET", "/portal/sign-in", get(signin::sign_in_page)),
        Route::new("POST", "/portal/sign-in", post(signin::sign_in)),
        Route::new("GET", "/portal/password", get(signin::password_page)),
        Route::new("POST", "/portal/password", post(signin::set_password)),
        Route::new("POST", "/portal/sign-out", post(signin::sign_out)),
        Route::new("GET", "/portal/profile", get(profile::profile_page)),
        Route::new("POST", "/portal/profile", post(profile::new_profile)),
        Route::new("GET", "/portal/profile/download", get(profile::download)),
        Route::new("GET", "/portal/qr", get(profile::qr_page)),
        Route::new("GET", "/portal/qr.png", get(profile::qr_png)),
        Route::new(
            "GET",
            "/.well-known/apple-app-site-association",
            get(wellknown::apple_app_site_association),
        ),
        Route::new("GET", "/.well-known/assetlinks.json", get(wellknown::assetlinks)),
    ]
}

/// The operating system a browser runs on, from its `User-Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    Android,
    Ios,
    Macos,
    Other,
}

/// The OS and its version (`17.4`, `10.15.7`) a `User-Agent` names.
pub(crate) fn detect(headers: &HeaderMap) -> (Os, String) {
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ua = &ua[..ua.len().min(512)];
    let version_after = |marker: &str, sep: char| -> String {
        ua.split_once(marker)
            .map(|(_, rest)| {
                rest.trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == sep || *c == '.')
                    .collect::<String>()
                    .replace(sep, ".")
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    if ua.contains("Android") {
        (Os::Android, version_after("Android", '.'))
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        (Os::Ios, version_after(" OS ", '_'))
    } else if ua.contains("Macintosh") || ua.contains("Mac OS X") {
        (Os::Macos, version_after("Mac OS X", '_'))
    } else {
        (Os::Other, "unknown".into())
    }
}

/// The device a browser enrolls as through the portal (Apple platforms only).
pub(crate) fn descriptor(os: Os, version: &str, model: &str) -> DeviceDescriptor {
    DeviceDescriptor {
        platform: if os == Os::Ios {
            Platform::Ios
        } else {
            Platform::Macos
        },
        os_version: version.chars().take(32).collect(),
        model: model.into(),
        manufacturer: "Apple".into(),
        serial: None,
        imeis: Vec::new(),
        hardware_id: None,
        agent_version: "portal".into(),
    }
}

/// The portal session of a request: `(cookie value, session)` when it is alive.
pub(crate) fn session(core: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie_value(headers, COOKIE)?;
    let s = core.web.get(&id, core.now())?;
    Some((id, s))
}

/// The signed-in user's session: `(cookie value, session, user id, e-mail)`.
pub(crate) fn user_session(
    core: &AppState,
    headers: &HeaderMap,
) -> Option<(String, Session, String, String)> {
    let (id, s) = session(core, headers)?;
    match &s.kind {
        SessionKind::User { user_id, email } => {
            let (u, e) = (user_id.clone(), email.clone());
            Some((id, s, u, e))
        }
        _ => None,
    }
}

/// The request's session, or a new anonymous one and the cookie that sets it.
pub(crate) fn session_or_new(
    core: &AppState,
    headers: &HeaderMap,
) -> Result<(String, Session, Option<String>), ApiError> {
    if let Some((id, s)) = session(core, headers) {
        return Ok((id, s, None));
    }
    let (id, s) = core.web.create(SessionKind::Anonymous, ANON_IDLE, core.now())?;
    let cookie = session_cookie(COOKIE, &id, crate::web::MAX_SESSION_AGE);
    Ok((id, s, Some(cookie)))
}

/// A service error in the user's language, with the next step.
pub(crate) fn explain(lang: Lang, e: &ApiError) -> String {
    let fr = lang == Lang::Fr;
    match e.info.code {
        ErrorCode::InvalidPin => {
            let left = e.info.attempts_left.unwrap_or(0);
            if fr {
                format!("PIN incorrect : encore {left} essai(s) avant le blocage du PIN.")
            } else {
                format!("Wrong PIN: {left} {} left before the PIN locks.", if left == 1 { "try" } else { "tries" })
            }
        }
        ErrorCode::PinLocked => lang
            .t(
                "Too many wrong PINs: this PIN is locked. Ask your administrator for a new invitation.",
                "Trop de PIN incorrects : ce PIN est bloqué. Demandez une nouvelle invitation à votre administrateur.",
            )
            .into(),
        ErrorCode::PinExpired => lang
            .t(
                "This one-time PIN expired. Ask your administrator for a new invitation.",
                "Ce PIN à usage unique a expiré. Demandez une nouvelle invitation à votre administrateur.",
            )
            .into(),
        ErrorCode::PinUsed => lang
            .t(
                "This one-time PIN was already used. Sign in with your password, or ask for a new invitation.",
                "Ce PIN à usage unique a déjà servi. Connectez-vous avec votre mot de passe, ou demandez une nouvelle invitation.",
            )
            .into(),
        ErrorCode::PasswordAlreadySet => lang
            .t(
                "This account already has a password: sign in with it next time.",
                "Ce compte a déjà un mot de passe : utilisez-le la prochaine fois.",
            )
            .into(),
        ErrorCode::InvalidCredentials => lang
            .t(
                "The e-mail address or the PIN / password is not right. Check them and try again.",
                "L'adresse e-mail ou le PIN / mot de passe est incorrect. Vérifiez-les et réessayez.",
            )
            .into(),
        ErrorCode::RateLimited => {
            let secs = e.info.retry_after_secs.unwrap_or(60);
            if fr {
                format!("Trop de tentatives : réessayez dans {secs} s.")
            } else {
                format!("Too many attempts: try again in {secs} s.")
            }
        }
        ErrorCode::Unavailable => lang
            .t(
                "The directory does not answer right now: try again in a few minutes.",
                "L'annuaire ne répond pas pour l'instant : réessayez dans quelques minutes.",
            )
            .into(),
        _ => e.info.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ua(s: &'static str) -> (Os, String) {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::USER_AGENT, HeaderValue::from_static(s));
        detect(&h)
    }

    #[test]
    fn user_agents() {
        assert_eq!(
            ua("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15"),
            (Os::Ios, "17.4.1".into())
        );
        assert_eq!(
            ua("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"),
            (Os::Macos, "10.15.7".into())
        );
        assert_eq!(
            ua("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36"),
            (Os::Android, "14".into())
        );
        assert_eq!(ua("Mozilla/5.0 (X11; Linux x86_64)").0, Os::Other);
        assert_eq!(ua("").0, Os::Other);
    }
}
