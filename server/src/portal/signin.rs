//! Portal sign-in (seed 003): the e-mail and the invitation's one-time PIN, a password, or
//! directory ("network") credentials. A right PIN for an account without a password leads to
//! "set your password"; sign-out ends the session.

use super::{explain, session_or_new, user_session, COOKIE, USER_IDLE};
use crate::enrollment::EnrollmentService;
use crate::http::{blocking, AppState, Peer};
use crate::users::UserService;
use crate::web::{attr, esc, redirect, session_cookie, Form, Lang, Page, SessionKind};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use enroll_proto::secret::SecretString;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Pin,
    Password,
    Directory,
}

impl Method {
    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("password") => Self::Password,
            Some("directory") => Self::Directory,
            _ => Self::Pin,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Pin => "pin",
            Self::Password => "password",
            Self::Directory => "directory",
        }
    }
}

fn query_value(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.chars().take(254).collect())
}

fn sign_in_form(
    l: Lang,
    csrf: &str,
    method: Method,
    email: &str,
    error: Option<&str>,
    cookie: Option<String>,
) -> Page {
    let mut page = Page::new(l, l.t("Sign in", "Connexion"), "/portal/sign-in");
    if let Some(c) = cookie {
        page.cookies.push(c);
    }
    let enc: String = url::form_urlencoded::byte_serialize(email.as_bytes()).collect();
    let tab = |m: Method, text: &str| {
        format!(
            "<a href=\"/portal/sign-in?user={enc}&amp;method={}\"{} id=\"tab-{}\">{}</a>",
            m.name(),
            if m == method { " class=\"active\"" } else { "" },
            m.name(),
            esc(text)
        )
    };
    let (label, autocomplete, kind, help) = match method {
        Method::Pin => (
            l.t("One-time PIN", "PIN à usage unique"),
            "one-time-code",
            "text\" inputmode=\"numeric",
            l.t(
                "The PIN of your invitation. It works once.",
                "Le PIN de votre invitation. Il ne sert qu'une fois.",
            ),
        ),
        Method::Password => (
            l.t("Password", "Mot de passe"),
            "current-password",
            "password",
            l.t(
                "The password you set for this portal.",
                "Le mot de passe choisi pour ce portail.",
            ),
        ),
        Method::Directory => (
            l.t("Network password", "Mot de passe réseau"),
            "current-password",
            "password",
            l.t(
                "Your company (directory) account: the password you use on your work computer.",
                "Votre compte d'entreprise (annuaire) : le mot de passe de votre poste de travail.",
            ),
        ),
    };
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    page.body = format!(
        "<p class=\"tabs\">{}{}{}</p><div class=\"card\">{err}\
<form method=\"post\" action=\"/portal/sign-in\"><input type=\"hidden\" name=\"csrf\" {}>\
<input type=\"hidden\" name=\"method\" value=\"{}\">\
<label for=\"email\">{}</label><input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"username\" required {}>\
<label for=\"secret\">{label}</label><input type=\"{kind}\" id=\"secret\" name=\"secret\" autocomplete=\"{autocomplete}\" required>\
<p class=\"note\">{help}</p><button type=\"submit\" id=\"submit\">{}</button></form></div>",
        tab(Method::Pin, l.t("One-time PIN", "PIN à usage unique")),
        tab(Method::Password, l.t("Password", "Mot de passe")),
        tab(Method::Directory, l.t("Network credentials", "Identifiants réseau")),
        attr("value", csrf),
        method.name(),
        l.t("E-mail address", "Adresse e-mail"),
        attr("value", email),
        l.t("Sign in", "Se connecter"),
    );
    page
}

pub(super) async fn sign_in_page(State(core): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let l = Lang::of(&headers);
    match session_or_new(&core, &headers) {
        Ok((_, s, cookie)) => {
            let method = Method::parse(query_value(&uri, "method").as_deref());
            let email = query_value(&uri, "user").unwrap_or_default();
            sign_in_form(l, &s.csrf, method, &email, None, cookie).into_response()
        }
        Err(e) => error_page(l, &explain(l, &e), StatusCode::SERVICE_UNAVAILABLE),
    }
}

/// A page with one error message.
pub(crate) fn error_page(l: Lang, message: &str, status: StatusCode) -> Response {
    let mut page = Page::new(
        l,
        l.t("Something went wrong", "Un problème est survenu"),
        "/portal",
    );
    page.status = status;
    page.body = format!(
        "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/portal\">{}</a></p>",
        esc(message),
        l.t("Back to the portal", "Retour au portail")
    );
    page.into_response()
}

/// The refusal of a form whose CSRF token is missing or wrong (or whose session expired).
pub(crate) fn csrf_refused(l: Lang) -> Response {
    error_page(
        l,
        l.t(
            "This form expired or did not come from this site. Open the page again and retry.",
            "Ce formulaire a expiré ou ne vient pas de ce site. Rouvrez la page et réessayez.",
        ),
        StatusCode::FORBIDDEN,
    )
}

pub(super) async fn sign_in(
    State(core): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let l = Lang::of(&headers);
    let Some((anon_id, anon)) = super::session(&core, &headers) else {
        return csrf_refused(l);
    };
    if !anon.csrf_ok(form.get("csrf")) {
        return csrf_refused(l);
    }
    let method = Method::parse(form.get("method"));
    let email = form.get("email").unwrap_or_default().to_string();
    let secret = SecretString::new(form.raw("secret").unwrap_or_default().to_string());
    let who = email.clone();
    let result = blocking(core.clone(), move |s| {
        let svc = EnrollmentService(s);
        match method {
            Method::Pin => svc.portal_pin_sign_in(peer, &who, &secret),
            Method::Password | Method::Directory => svc.portal_password_sign_in(peer, &who, &secret),
        }
    })
    .await;
    let user = match result {
        Ok(u) => u,
        Err(e) => {
            let msg = explain(l, &e);
            let mut page = sign_in_form(l, &anon.csrf, method, &email, Some(&msg), None);
            page.status = StatusCode::UNAUTHORIZED;
            return page.into_response();
        }
    };
    // A new session id on sign-in: the anonymous one is dropped (no session fixation).
    core.web.remove(&anon_id);
    let kind = SessionKind::User {
        user_id: user.id.clone(),
        email: user.email.clone(),
    };
    let (id, _) = match core.web.create(kind, USER_IDLE, core.now()) {
        Ok(x) => x,
        Err(e) => return error_page(l, &explain(l, &e), StatusCode::SERVICE_UNAVAILABLE),
    };
    let needs_password = method == Method::Pin && !user.directory && user.password_hash.is_none();
    let mut resp = redirect(if needs_password {
        "/portal/password"
    } else {
        "/portal"
    });
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&session_cookie(COOKIE, &id, crate::web::MAX_SESSION_AGE))
    {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    resp
}

fn password_form(l: Lang, csrf: &str, error: Option<&str>) -> Page {
    let mut page = Page::new(
        l,
        l.t("Set your password", "Choisissez votre mot de passe"),
        "/portal/password",
    );
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    page.body = format!(
        "<div class=\"card\"><p>{}</p>{err}<form method=\"post\" action=\"/portal/password\">\
<input type=\"hidden\" name=\"csrf\" {}>\
<label for=\"password\">{}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"8\" required>\
<label for=\"confirm\">{}</label><input type=\"password\" id=\"confirm\" name=\"confirm\" autocomplete=\"new-password\" minlength=\"8\" required>\
<button type=\"submit\" id=\"submit\">{}</button></form><p><a href=\"/portal\">{}</a></p></div>",
        l.t(
            "Your one-time PIN worked once. Choose a password (8 characters at least) to sign in to this portal from now on.",
            "Votre PIN à usage unique ne sert qu'une fois. Choisissez un mot de passe (8 caractères au moins) pour vous connecter désormais à ce portail.",
        ),
        attr("value", csrf),
        l.t("New password", "Nouveau mot de passe"),
        l.t("Type it again", "Confirmez-le"),
        l.t("Set password", "Enregistrer le mot de passe"),
        l.t("Later", "Plus tard"),
    );
    page
}

pub(super) async fn password_page(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    match user_session(&core, &headers) {
        Some((_, s, _, _)) => password_form(l, &s.csrf, None).into_response(),
        None => redirect("/portal/sign-in"),
    }
}

pub(super) async fn set_password(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let Some((_, s, user_id, _)) = user_session(&core, &headers) else {
        return csrf_refused(l);
    };
    if !s.csrf_ok(form.get("csrf")) {
        return csrf_refused(l);
    }
    let password = form.raw("password").unwrap_or_default().to_string();
    if form.raw("confirm") != Some(password.as_str()) {
        let msg = l.t(
            "The two passwords differ: type them again.",
            "Les deux mots de passe diffèrent : saisissez-les à nouveau.",
        );
        let mut page = password_form(l, &s.csrf, Some(msg));
        page.status = StatusCode::BAD_REQUEST;
        return page.into_response();
    }
    let secret = SecretString::new(password);
    let result = blocking(core.clone(), move |c| {
        UserService(c).set_first_password(&user_id, &secret)
    })
    .await;
    match result {
        Ok(_) => {
            let mut page = Page::new(l, l.t("Password set", "Mot de passe enregistré"), "/portal");
            page.body = format!(
                "<p class=\"ok\" id=\"password-set\">{}</p><p><a class=\"button\" href=\"/portal\">{}</a></p>",
                l.t(
                    "Your password is set: use it with your e-mail address next time.",
                    "Votre mot de passe est enregistré : utilisez-le avec votre adresse e-mail la prochaine fois.",
                ),
                l.t("Continue", "Continuer"),
            );
            page.into_response()
        }
        Err(e) => {
            let msg = if e.info.code == enroll_proto::ErrorCode::WeakPassword {
                l.t(
                    "The password must be 8 to 1024 characters long.",
                    "Le mot de passe doit compter de 8 à 1024 caractères.",
                )
                .to_string()
            } else {
                explain(l, &e)
            };
            let mut page = password_form(l, &s.csrf, Some(&msg));
            page.status = e.status;
            page.into_response()
        }
    }
}

pub(super) async fn sign_out(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let Some((id, s)) = super::session(&core, &headers) else {
        return redirect("/portal/sign-in");
    };
    if !s.csrf_ok(form.get("csrf")) {
        return csrf_refused(l);
    }
    core.web.remove(&id);
    let mut resp = redirect("/portal/sign-in");
    if let Ok(v) = axum::http::HeaderValue::from_str(&session_cookie(COOKIE, "", 0)) {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    resp
}
