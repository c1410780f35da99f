//! The admin console: the administrator's pages over the domain services.
//!
//! - this file: sign-in with the admin credential (the `admin-token` of the data directory)
//!   into a session cookie (`HttpOnly; Secure; SameSite=Strict`, 30 minutes idle, 8 hours at
//!   most), the CSRF check of every form, sign-out, the dashboard, the page frame;
//! - `people.rs`: users and invitations (the URL and PIN shown once), devices with their states,
//!   history and archived entries, retire / wipe / reset, pending installs;
//! - `bulk.rs`: bulk profiles: create, CSV upload (progress bar, every bad line listed), token
//!   refresh / extend 7–999 days / never, QR code shown and downloadable, inventory download,
//!   add / edit / delete / move / unassign devices, edit configuration;
//! - `mdm.rs`: a device page's Apple MDM section (enrollment, last `DeviceInformation`, queue a
//!   command, its commands and results) and Windows section (bulk owner, Assign to user);
//! - `kme.rs`: Samsung KME: enable, reseller uploads, approve all or selected, the unapproved as
//!   CSV, sync status.
//!
//! Rules stay in the services (`UserService`, `EnrollmentService`, `DeviceService`,
//! `BulkService`, `KmeService`, `AppleService`, `WindowsService`); a page only parses a form, calls one service and renders the
//! answer or its error. Nothing imports this module but the crate root.

mod bulk;
mod kme;
mod mdm;
mod people;

use crate::error::ApiError;
use crate::http::{AppState, Peer, Route};
use crate::ratelimit::Key;
use crate::web::{attr, cookie_value, esc, redirect, session_cookie, Form, Lang, Page, Session, SessionKind};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use enroll_proto::secret::SecretString;

/// Session cookie of the console.
const COOKIE: &str = "enroll_console";
/// Idle lifetime of an admin session, seconds.
pub(crate) const ADMIN_IDLE: i64 = 30 * 60;
/// Idle lifetime of the sign-in form's session, seconds.
const ANON_IDLE: i64 = 30 * 60;
/// Session value: a message shown once on the next page.
const FLASH: &str = "flash";

/// The console's pages.
pub(crate) fn pages() -> Vec<Route> {
    let mut all = vec![
        Route::new("GET", "/console", get(dashboard)),
        Route::new("GET", "/console/sign-in", get(sign_in_page)),
        Route::new("POST", "/console/sign-in", post(sign_in)),
        Route::new("POST", "/console/sign-out", post(sign_out)),
    ];
    all.extend(people::pages());
    all.extend(bulk::pages());
    all.extend(kme::pages());
    all.extend(mdm::pages());
    all
}

/// An admin session: its cookie value and state.
pub(crate) struct Adm {
    id: String,
    s: Session,
}

impl Adm {
    /// The hidden CSRF field.
    pub(crate) fn csrf(&self) -> String {
        self.s.csrf_field()
    }
}

fn session(core: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie_value(headers, COOKIE)?;
    let s = core.web.get(&id, core.now())?;
    Some((id, s))
}

/// The admin session of a GET, or the sign-in page to go to.
// The error is the reply itself, returned once per request: boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub(crate) fn admin(core: &AppState, headers: &HeaderMap) -> Result<Adm, Response> {
    match session(core, headers) {
        Some((id, s)) if s.kind == SessionKind::Admin => Ok(Adm { id, s }),
        _ => Err(redirect("/console/sign-in")),
    }
}

/// The admin session of a form post whose CSRF token (field `csrf`, or header
/// `x-csrf-token` for the upload script) matches; otherwise a 403 page.
#[allow(clippy::result_large_err)]
pub(crate) fn admin_post(core: &AppState, headers: &HeaderMap, form: Option<&Form>) -> Result<Adm, Response> {
    let l = Lang::of(headers);
    let refused = || {
        message_page(
            l,
            l.t("Refused", "Refusé"),
            l.t(
                "This form expired or did not come from this console (CSRF check). Open the page again and retry; sign in again if asked.",
                "Ce formulaire a expiré ou ne vient pas de cette console (contrôle CSRF). Rouvrez la page et réessayez ; reconnectez-vous si demandé.",
            ),
            StatusCode::FORBIDDEN,
        )
    };
    let Some((id, s)) = session(core, headers).filter(|(_, s)| s.kind == SessionKind::Admin) else {
        return Err(refused());
    };
    let token = match form {
        Some(f) => f.get("csrf").map(str::to_string),
        None => headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    if !s.csrf_ok(token.as_deref()) {
        return Err(refused());
    }
    Ok(Adm { id, s })
}

/// A message for the next page of this session.
pub(crate) fn flash(core: &AppState, adm: &Adm, text: &str) {
    core.web.put(&adm.id, FLASH, text.as_bytes().to_vec());
}

/// The console frame: navigation, the one-time message, the sign-out button.
pub(crate) fn frame(core: &AppState, adm: &Adm, l: Lang, title: &str, here: &str, body: String) -> Page {
    let mut page = Page::new(l, title, here);
    page.nav = vec![
        ("/console".into(), l.t("Console", "Console").into()),
        ("/console/users".into(), l.t("Users", "Utilisateurs").into()),
        ("/console/devices".into(), l.t("Devices", "Appareils").into()),
        (
            "/console/pending".into(),
            l.t("Pending installs", "Installations en attente").into(),
        ),
        (
            "/console/bulk".into(),
            l.t("Bulk profiles", "Profils en masse").into(),
        ),
        ("/console/kme".into(), "Samsung KME".into()),
    ];
    let flash = core
        .web
        .take(&adm.id, FLASH)
        .and_then(|v| String::from_utf8(v).ok())
        .map(|m| format!("<p class=\"ok\" id=\"flash\" role=\"status\">{}</p>", esc(&m)))
        .unwrap_or_default();
    page.body = format!(
        "{flash}{body}<form method=\"post\" action=\"/console/sign-out\">{}<button class=\"quiet\" type=\"submit\" id=\"sign-out\">{}</button></form>",
        adm.csrf(),
        l.t("Sign out", "Se déconnecter")
    );
    page
}

/// A page with one message.
pub(crate) fn message_page(l: Lang, title: &str, message: &str, status: StatusCode) -> Response {
    let mut page = Page::new(l, title, "/console");
    page.status = status;
    page.body = format!(
        "<p class=\"error\" role=\"alert\" id=\"error\">{}</p><p><a href=\"/console\">{}</a></p>",
        esc(message),
        l.t("Back to the console", "Retour à la console")
    );
    page.into_response()
}

/// A service error as a page (its message names the next step).
pub(crate) fn error_page(l: Lang, e: &ApiError) -> Response {
    message_page(l, l.t("Not done", "Non effectué"), &e.info.message, e.status)
}

/// A download of `bytes` as `filename`.
pub(crate) fn download(bytes: Vec<u8>, mime: &'static str, filename: &str) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// An image shown in a page (`Content-Disposition: inline`).
pub(crate) fn image(bytes: Vec<u8>, format: crate::qr::ImageFormat) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    resp
}

fn sign_in_form(l: Lang, csrf: &str, error: Option<&str>, cookie: Option<String>) -> Page {
    let mut page = Page::new(
        l,
        l.t("Console sign-in", "Connexion à la console"),
        "/console/sign-in",
    );
    if let Some(c) = cookie {
        page.cookies.push(c);
    }
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    page.body = format!(
        "<div class=\"card\">{err}<form method=\"post\" action=\"/console/sign-in\"><input type=\"hidden\" name=\"csrf\" {}>\
<label for=\"token\">{}</label><input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"current-password\" required>\
<p class=\"note\">{}</p><button type=\"submit\" id=\"submit\">{}</button></form></div>",
        attr("value", csrf),
        l.t("Admin credential", "Identifiant d'administration"),
        l.t(
            "The content of the admin-token file in the server's data directory.",
            "Le contenu du fichier admin-token du répertoire de données du serveur.",
        ),
        l.t("Sign in", "Se connecter"),
    );
    page
}

async fn sign_in_page(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    if let Some((_, s)) = session(&core, &headers) {
        if s.kind == SessionKind::Admin {
            return redirect("/console");
        }
        return sign_in_form(l, &s.csrf, None, None).into_response();
    }
    match core.web.create(SessionKind::Anonymous, ANON_IDLE, core.now()) {
        Ok((id, s)) => {
            let cookie = session_cookie(COOKIE, &id, crate::web::MAX_SESSION_AGE);
            sign_in_form(l, &s.csrf, None, Some(cookie)).into_response()
        }
        Err(e) => error_page(l, &e),
    }
}

async fn sign_in(State(core): State<AppState>, Peer(peer): Peer, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let Some((anon_id, anon)) = session(&core, &headers) else {
        return message_page(
            l,
            l.t("Refused", "Refusé"),
            l.t(
                "Open the sign-in page again and retry.",
                "Rouvrez la page de connexion et réessayez.",
            ),
            StatusCode::FORBIDDEN,
        );
    };
    if !anon.csrf_ok(form.get("csrf")) {
        return message_page(
            l,
            l.t("Refused", "Refusé"),
            l.t(
                "Open the sign-in page again and retry.",
                "Rouvrez la page de connexion et réessayez.",
            ),
            StatusCode::FORBIDDEN,
        );
    }
    let keys = [Key::Source(peer)];
    let now = core.now();
    if let Err(e) = core.rate_limits.check(&keys, now) {
        let msg = match l {
            Lang::En => format!(
                "Too many attempts: try again in {} s.",
                e.info.retry_after_secs.unwrap_or(60)
            ),
            Lang::Fr => format!(
                "Trop de tentatives : réessayez dans {} s.",
                e.info.retry_after_secs.unwrap_or(60)
            ),
        };
        let mut page = sign_in_form(l, &anon.csrf, Some(&msg), None);
        page.status = StatusCode::TOO_MANY_REQUESTS;
        return page.into_response();
    }
    let token = SecretString::new(form.raw("token").unwrap_or_default().trim().to_string());
    if !core.admin_ok(Some(token.expose())) {
        core.rate_limits.failure(&keys, now);
        let mut page = sign_in_form(
            l,
            &anon.csrf,
            Some(l.t(
                "This is not the admin credential. Copy it again from the admin-token file.",
                "Ce n'est pas l'identifiant d'administration. Copiez-le à nouveau depuis le fichier admin-token.",
            )),
            None,
        );
        page.status = StatusCode::UNAUTHORIZED;
        return page.into_response();
    }
    core.rate_limits.success(&keys);
    core.web.remove(&anon_id);
    match core.web.create(SessionKind::Admin, ADMIN_IDLE, now) {
        Ok((id, _)) => {
            tracing::info!("console sign-in");
            let mut resp = redirect("/console");
            if let Ok(v) = HeaderValue::from_str(&session_cookie(COOKIE, &id, crate::web::MAX_SESSION_AGE)) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => error_page(l, &e),
    }
}

async fn sign_out(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let adm = match admin_post(&core, &headers, Some(&form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    core.web.remove(&adm.id);
    let mut resp = redirect("/console/sign-in");
    if let Ok(v) = HeaderValue::from_str(&session_cookie(COOKIE, "", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn dashboard(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin(&core, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let counts = crate::http::blocking(core.clone(), |s| {
        Ok((
            crate::users::UserService(s).list_users()?.len(),
            crate::devices::DeviceService(s).list_devices(false)?.len(),
            crate::devices::DeviceService(s).pending_installs()?.len(),
            crate::bulk::BulkService(s).list_bulk_profiles()?.len(),
        ))
    })
    .await;
    let (users, devices, pending, profiles) = match counts {
        Ok(c) => c,
        Err(e) => return error_page(l, &e),
    };
    let card = |href: &str, n: usize, text: &str| {
        format!(
            "<a class=\"card button quiet\" href=\"{href}\"><strong>{n}</strong> {}</a> ",
            esc(text)
        )
    };
    let body = format!(
        "<p>{}</p><p>{}{}{}{}</p>",
        esc(&core.name),
        card("/console/users", users, l.t("users", "utilisateurs")),
        card("/console/devices", devices, l.t("devices", "appareils")),
        card(
            "/console/pending",
            pending,
            l.t("pending installs", "installations en attente")
        ),
        card(
            "/console/bulk",
            profiles,
            l.t("bulk profiles", "profils en masse")
        ),
    );
    frame(
        &core,
        &adm,
        l,
        l.t("Admin console", "Console d'administration"),
        "/console",
        body,
    )
    .into_response()
}

/// The admin session of a script's upload: the session cookie and the `x-csrf-token` header,
/// checked before the body is read.
pub(crate) struct AdminXhr;

impl axum::extract::FromRequestParts<AppState> for AdminXhr {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        admin_post(state, &parts.headers, None).map(|_| AdminXhr)
    }
}

/// The JSON reply of an upload: `ok`, a message, the bad lines.
pub(crate) fn upload_reply(l: Lang, result: Result<enroll_proto::ImportReport, ApiError>) -> Response {
    let (status, body) = match result {
        Ok(r) => {
            let msg = match l {
                Lang::En => format!("{} device(s) imported, {} row(s) skipped.", r.imported, r.skipped),
                Lang::Fr => format!(
                    "{} appareil(s) importé(s), {} ligne(s) ignorée(s).",
                    r.imported, r.skipped
                ),
            };
            (
                StatusCode::OK,
                serde_json::json!({"ok": true, "message": msg, "imported": r.imported, "errors": []}),
            )
        }
        Err(e) => {
            let (errors, count) = e
                .report
                .as_ref()
                .map(|r| (r.errors.clone(), r.error_count))
                .unwrap_or_default();
            let msg = if count > 0 {
                match l {
                    Lang::En => format!("{count} line(s) rejected: nothing was imported. Fix them and upload the whole file again."),
                    Lang::Fr => format!("{count} ligne(s) refusée(s) : rien n'a été importé. Corrigez-les et téléversez à nouveau tout le fichier."),
                }
            } else {
                e.info.message.clone()
            };
            (
                e.status,
                serde_json::json!({"ok": false, "message": msg, "errors": errors, "error_count": count}),
            )
        }
    };
    let mut resp = crate::http::json(status, &body);
    crate::web::secure_headers(resp.headers_mut());
    resp
}
