//! The signed-in user's pages: the portal's home, "Install management profile" (macOS and
//! iOS: the signed `.mobileconfig` as `application/x-apple-aspen-config`, a countdown of its
//! validity, the install steps of each OS, a fresh profile once it expired) and the QR code
//! for in-app enrollment (the invitation link with an enrollment token of this user).

use super::signin::{csrf_refused, error_page};
use super::{descriptor, detect, explain, user_session, Os};
use crate::enrollment::EnrollmentService;
use crate::http::{blocking, AppState};
use crate::web::{attr, esc, fmt_time, redirect, Form, Lang, Page, Session};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use enroll_proto::PROFILE_CONTENT_TYPE;

/// Session values of these pages.
const ENROLLMENT: &str = "enrollment";
const PROFILE: &str = "profile";
const PROFILE_EXPIRES: &str = "profile_expires";
const APP_LINK: &str = "app_link";

fn nav(l: Lang) -> Vec<(String, String)> {
    vec![
        ("/portal".into(), l.t("Portal", "Portail").into()),
        (
            "/portal/profile".into(),
            l.t("Management profile", "Profil de gestion").into(),
        ),
        ("/portal/qr".into(), l.t("QR code", "Code QR").into()),
    ]
}

fn sign_out_form(l: Lang, s: &Session) -> String {
    format!(
        "<form method=\"post\" action=\"/portal/sign-out\" class=\"inline\">{}<button class=\"quiet\" type=\"submit\" id=\"sign-out\">{}</button></form>",
        s.csrf_field(),
        l.t("Sign out", "Se déconnecter")
    )
}

fn expires_of(s: &Session) -> Option<i64> {
    s.data
        .get(PROFILE_EXPIRES)
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(i64::from_be_bytes)
}

pub(super) async fn home(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let Some((_, s, _, email)) = user_session(&core, &headers) else {
        return redirect("/portal/sign-in");
    };
    let (os, _) = detect(&headers);
    let mut page = Page::new(l, l.t("Self-service portal", "Portail libre-service"), "/portal");
    page.nav = nav(l);
    let apple = format!(
        "<div class=\"card\"><h2>{}</h2><p>{}</p><a class=\"button\" href=\"/portal/profile\" id=\"go-profile\">{}</a></div>",
        l.t("This Mac, iPhone or iPad", "Ce Mac, cet iPhone ou cet iPad"),
        l.t(
            "Download and install the management profile on this device.",
            "Téléchargez et installez le profil de gestion sur cet appareil.",
        ),
        l.t("Install management profile", "Installer le profil de gestion"),
    );
    let phone = format!(
        "<div class=\"card\"><h2>{}</h2><p>{}</p><a class=\"button\" href=\"/portal/qr\" id=\"go-qr\">{}</a></div>",
        l.t("A phone with the enrollment app", "Un téléphone avec l'application d'inscription"),
        l.t(
            "Show a QR code made for you, and scan it with the app on the phone to enroll.",
            "Affichez un code QR fait pour vous, et scannez-le avec l'application du téléphone pour l'inscrire.",
        ),
        l.t("Show the QR code", "Afficher le code QR"),
    );
    let (first, second) = if matches!(os, Os::Macos | Os::Ios) {
        (apple, phone)
    } else {
        (phone, apple)
    };
    page.body = format!(
        "<p>{} <strong id=\"who\">{}</strong>. {}</p>{first}{second}",
        l.t("Signed in as", "Connecté en tant que"),
        esc(&email),
        sign_out_form(l, &s)
    );
    page.into_response()
}

fn steps(l: Lang) -> String {
    let mac = [
        l.t("Download the profile below (Safari asks whether to allow the download: allow it).", "Téléchargez le profil ci-dessous (Safari demande d'autoriser le téléchargement : autorisez-le)."),
        l.t("Open System Settings › Privacy & Security › Profiles (macOS 13 and later; System Preferences › Profiles before).", "Ouvrez Réglages Système › Confidentialité et sécurité › Profils (macOS 13 et suivants ; Préférences Système › Profils avant)."),
        l.t("Double-click the downloaded profile, then Install, and type your Mac password.", "Double-cliquez sur le profil téléchargé, puis Installer, et saisissez le mot de passe du Mac."),
    ];
    let ios = [
        l.t("Download the profile below and tap Allow.", "Téléchargez le profil ci-dessous et touchez Autoriser."),
        l.t("Open Settings: tap Profile Downloaded at the top (or General › VPN & Device Management).", "Ouvrez Réglages : touchez Profil téléchargé en haut (ou Général › VPN et gestion de l'appareil)."),
        l.t("Tap Install, type the device passcode, then Install again and Trust.", "Touchez Installer, saisissez le code de l'appareil, puis Installer encore et Faire confiance."),
    ];
    let list = |items: &[&str]| {
        items
            .iter()
            .map(|i| format!("<li>{}</li>", esc(i)))
            .collect::<String>()
    };
    format!(
        "<div class=\"card\" id=\"steps-macos\"><h2>macOS</h2><ol class=\"steps\">{}</ol></div>\
<div class=\"card\" id=\"steps-ios\"><h2>iOS, iPadOS</h2><ol class=\"steps\">{}</ol></div>",
        list(&mac),
        list(&ios)
    )
}

pub(super) async fn profile_page(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let Some((_, s, _, _)) = user_session(&core, &headers) else {
        return redirect("/portal/sign-in");
    };
    let (os, _) = detect(&headers);
    let now = core.now();
    let mut page = Page::new(
        l,
        l.t("Install management profile", "Installer le profil de gestion"),
        "/portal/profile",
    );
    page.nav = nav(l);
    let platform_choice = if matches!(os, Os::Macos | Os::Ios) {
        String::new()
    } else {
        format!(
            "<label for=\"platform\">{}</label><select id=\"platform\" name=\"platform\"><option value=\"macos\">macOS</option><option value=\"ios\">iOS, iPadOS</option></select>",
            l.t("For", "Pour")
        )
    };
    let new_form = |label: &str, id: &str| {
        format!(
            "<form method=\"post\" action=\"/portal/profile\">{}{platform_choice}<button type=\"submit\" id=\"{id}\">{}</button></form>",
            s.csrf_field(),
            esc(label)
        )
    };
    let validity = core.profile_validity;
    let span = match (l, validity >= 120) {
        (Lang::En, true) => format!("{} minutes", validity / 60),
        (Lang::Fr, true) => format!("{} minutes", validity / 60),
        (Lang::En, false) => format!("{validity} seconds"),
        (Lang::Fr, false) => format!("{validity} secondes"),
    };
    let mut b = format!(
        "<p>{}</p>",
        esc(&match l {
            Lang::En => format!("The profile is signed by this server and valid for {span}: install it as soon as it is downloaded."),
            Lang::Fr => format!("Le profil est signé par ce serveur et valable {span} : installez-le dès son téléchargement."),
        })
    );
    match expires_of(&s) {
        Some(expires) if expires > now => {
            b.push_str(&format!(
                "<div class=\"card\" id=\"countdown\" data-expires=\"{expires}\" data-now=\"{now}\">\
<div data-while-valid><p>{}</p><p class=\"countdown\"><span class=\"remaining\" id=\"remaining\">{}:{:02}</span></p>\
<p class=\"note\">{} {}</p><a class=\"button\" id=\"download\" href=\"/portal/profile/download\" download=\"enroll.mobileconfig\">{}</a></div>\
<div data-once-expired hidden id=\"expired\"><p class=\"error\">{}</p>{}</div></div>",
                l.t("Your profile is ready. Time left to install it:", "Votre profil est prêt. Temps restant pour l'installer :"),
                (expires - now) / 60,
                (expires - now) % 60,
                l.t("Valid until", "Valable jusqu'au"),
                fmt_time(expires),
                l.t("Download the profile", "Télécharger le profil"),
                l.t("This profile expired: get a fresh one.", "Ce profil a expiré : obtenez-en un nouveau."),
                new_form(l.t("Get a fresh profile", "Obtenir un nouveau profil"), "fresh"),
            ));
        }
        Some(_) => b.push_str(&format!(
            "<div class=\"card\" id=\"expired\"><p class=\"error\">{}</p>{}</div>",
            l.t(
                "Your last profile expired: get a fresh one.",
                "Votre dernier profil a expiré : obtenez-en un nouveau."
            ),
            new_form(l.t("Get a fresh profile", "Obtenir un nouveau profil"), "fresh"),
        )),
        None => b.push_str(&format!(
            "<div class=\"card\">{}</div>",
            new_form(l.t("Prepare my profile", "Préparer mon profil"), "prepare")
        )),
    }
    b.push_str(&steps(l));
    page.body = b;
    page.into_response()
}

pub(super) async fn new_profile(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let Some((id, s, user_id, _)) = user_session(&core, &headers) else {
        return csrf_refused(l);
    };
    if !s.csrf_ok(form.get("csrf")) {
        return csrf_refused(l);
    }
    let (mut os, version) = detect(&headers);
    if !matches!(os, Os::Macos | Os::Ios) {
        os = if form.get("platform") == Some("ios") {
            Os::Ios
        } else {
            Os::Macos
        };
    }
    let model = if os == Os::Ios { "iPhone" } else { "Mac" };
    let device = descriptor(os, &version, model);
    let previous = s
        .data
        .get(ENROLLMENT)
        .and_then(|v| String::from_utf8(v.clone()).ok());
    let result = blocking(core.clone(), move |c| {
        EnrollmentService(c).portal_profile(&user_id, &device, previous.as_deref())
    })
    .await;
    match result {
        Ok(p) => {
            core.web.put(&id, ENROLLMENT, p.enrollment_id.into_bytes());
            core.web.put(&id, PROFILE, p.signed);
            core.web
                .put(&id, PROFILE_EXPIRES, p.expires_at.to_be_bytes().to_vec());
            redirect("/portal/profile")
        }
        Err(e) => error_page(l, &explain(l, &e), e.status),
    }
}

pub(super) async fn download(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let Some((_, s, _, _)) = user_session(&core, &headers) else {
        return redirect("/portal/sign-in");
    };
    let (Some(bytes), Some(expires)) = (s.data.get(PROFILE), expires_of(&s)) else {
        return redirect("/portal/profile");
    };
    if expires <= core.now() {
        return error_page(
            l,
            l.t(
                "This profile expired: open “Install management profile” and get a fresh one.",
                "Ce profil a expiré : ouvrez « Installer le profil de gestion » et obtenez-en un nouveau.",
            ),
            StatusCode::GONE,
        );
    }
    let mut resp = (StatusCode::OK, bytes.clone()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROFILE_CONTENT_TYPE),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"enroll.mobileconfig\""),
    );
    h.insert(enroll_proto::PROFILE_EXPIRES_HEADER, HeaderValue::from(expires));
    resp
}

/// The session's in-app link, made on first use.
async fn app_link(
    core: &AppState,
    id: &str,
    s: &Session,
    user_id: String,
) -> Result<String, crate::error::ApiError> {
    if let Some(link) = s
        .data
        .get(APP_LINK)
        .and_then(|v| String::from_utf8(v.clone()).ok())
    {
        return Ok(link);
    }
    let (link, _) = blocking(core.clone(), move |c| {
        EnrollmentService(c).portal_app_link(&user_id)
    })
    .await?;
    let link = link.expose().to_string();
    core.web.put(id, APP_LINK, link.clone().into_bytes());
    Ok(link)
}

pub(super) async fn qr_page(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let Some((id, s, user_id, _)) = user_session(&core, &headers) else {
        return redirect("/portal/sign-in");
    };
    let link = match app_link(&core, &id, &s, user_id).await {
        Ok(l) => l,
        Err(e) => return error_page(l, &explain(l, &e), e.status),
    };
    let (os, _) = detect(&headers);
    let mut page = Page::new(
        l,
        l.t(
            "Enroll a phone with the app",
            "Inscrire un téléphone avec l'application",
        ),
        "/portal/qr",
    );
    page.nav = nav(l);
    let open = if matches!(os, Os::Android | Os::Ios) {
        format!(
            "<p>{} <a {} id=\"open-link\">{}</a></p>",
            l.t("On this phone:", "Sur ce téléphone :"),
            attr("href", &link),
            l.t("open the link in the app", "ouvrez le lien dans l'application")
        )
    } else {
        String::new()
    };
    page.body = format!(
        "<div class=\"card\"><p>{}</p><img class=\"qr\" id=\"qr\" src=\"/portal/qr.png\" alt=\"{}\" width=\"320\" height=\"320\">{open}\
<p class=\"note\">{}</p></div>",
        l.t(
            "Open the enrollment app on the phone, choose “Scan a QR code” and point the camera at this code. It enrolls the phone for you.",
            "Ouvrez l'application d'inscription sur le téléphone, choisissez « Scanner un code QR » et visez ce code. Il inscrit le téléphone à votre nom.",
        ),
        esc(l.t("Enrollment QR code", "Code QR d'inscription")),
        esc(&match l {
            Lang::En => format!("The code holds a personal enrollment token valid {} days: do not share it.", crate::enrollment::PORTAL_QR_TOKEN_DAYS),
            Lang::Fr => format!("Le code contient un jeton d'inscription personnel valable {} jours : ne le partagez pas.", crate::enrollment::PORTAL_QR_TOKEN_DAYS),
        }),
    );
    page.into_response()
}

pub(super) async fn qr_png(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let Some((id, s, user_id, _)) = user_session(&core, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let link = match app_link(&core, &id, &s, user_id).await {
        Ok(l) => l,
        Err(e) => return error_page(l, &explain(l, &e), e.status),
    };
    match crate::qr::render(&link, crate::qr::ImageFormat::Png, crate::qr::DEFAULT_SCALE) {
        Ok(png) => {
            let mut resp = (StatusCode::OK, png).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            resp
        }
        Err(e) => error_page(l, &e.to_string(), StatusCode::INTERNAL_SERVER_ERROR),
    }
}
