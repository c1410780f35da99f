//! `/go?user=…`: the invitation's landing page. It names the account the invitation is for
//! (the e-mail of the link, so the page reveals nothing a link holder does not know) and what
//! to do on the device that opened it.

use super::{detect, Os};
use crate::http::AppState;
use crate::web::{attr, esc, Lang, Page};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};

/// The `user` of the link (at most 254 characters), if any.
fn invited(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| {
            !v.is_empty()
                && v.chars().count() <= crate::common::MAX_EMAIL_CHARS
                && !v.chars().any(char::is_control)
        })
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The Android intent URL opening the invitation in the app (Chrome falls back to the store).
pub(crate) fn intent_url(base: &str, user: Option<&str>, package: &str, fallback: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let query = user.map(|u| format!("?user={}", enc(u))).unwrap_or_default();
    format!(
        "intent://{rest}/go{query}#Intent;scheme=https;package={package};S.browser_fallback_url={};end",
        enc(fallback)
    )
}

/// The iOS universal link: the app's associated domain, carrying the server and the user.
pub(crate) fn universal_link(link_base: &str, server: &str, user: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(u) = user {
        q.append_pair("user", u);
    }
    q.append_pair("server", server);
    format!("{}/go?{}", link_base.trim_end_matches('/'), q.finish())
}

pub(super) async fn go_page(State(core): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let l = Lang::of(&headers);
    let user = invited(&uri);
    let (os, _) = detect(&headers);
    let here = uri
        .path_and_query()
        .map_or("/go".into(), |p| p.as_str().to_string());
    let mut page = Page::new(l, l.t("Enroll your device", "Inscrire votre appareil"), here);
    let sign_in = match &user {
        Some(u) => format!("/portal/sign-in?user={}", enc(u)),
        None => "/portal/sign-in".into(),
    };
    let mut b = String::new();
    match &user {
        Some(u) => b.push_str(&format!(
            "<p class=\"card\" id=\"invited\">{} <strong>{}</strong>.</p>",
            l.t("This invitation is for", "Cette invitation est destinée à"),
            esc(u)
        )),
        None => b.push_str(&format!(
            "<p class=\"card\">{}</p>",
            l.t(
                "This link does not name an account: sign in with the e-mail address your administrator gave you.",
                "Ce lien ne désigne aucun compte : connectez-vous avec l'adresse e-mail donnée par votre administrateur."
            )
        )),
    }
    let links = &core.app_links;
    match os {
        Os::Android => {
            let intent = intent_url(
                &core.base_url,
                user.as_deref(),
                &links.android_package,
                &links.play_store_url,
            );
            b.push_str(&format!(
                "<h2>{}</h2><p>{}</p><p><a class=\"button\" id=\"open-app\" {}>{}</a> <a class=\"button quiet\" {}>{}</a></p>",
                l.t("On this Android phone or tablet", "Sur ce téléphone ou cette tablette Android"),
                l.t(
                    "Open the invitation in the enrollment app. If the app is not installed yet, Google Play opens: install it, then come back to this link.",
                    "Ouvrez l'invitation dans l'application d'inscription. Si l'application n'est pas encore installée, Google Play s'ouvre : installez-la puis revenez à ce lien."
                ),
                attr("href", &intent),
                l.t("Open in the app", "Ouvrir dans l'application"),
                attr("href", &links.play_store_url),
                l.t("Get the app on Google Play", "Obtenir l'application sur Google Play"),
            ));
        }
        Os::Ios => {
            let base = links.universal_link_base.as_deref().unwrap_or(&core.base_url);
            let link = universal_link(base, &core.base_url, user.as_deref());
            b.push_str(&format!(
                "<h2>{}</h2><p>{}</p><p><a class=\"button\" id=\"open-app\" {}>{}</a> <a class=\"button quiet\" {}>{}</a></p><p>{} <a {}>{}</a></p>",
                l.t("On this iPhone or iPad", "Sur cet iPhone ou cet iPad"),
                l.t(
                    "Open the invitation in the enrollment app, or install the management profile from this page.",
                    "Ouvrez l'invitation dans l'application d'inscription, ou installez le profil de gestion depuis cette page."
                ),
                attr("href", &link),
                l.t("Open in the app", "Ouvrir dans l'application"),
                attr("href", &links.app_store_url),
                l.t("Get the app on the App Store", "Obtenir l'application sur l'App Store"),
                l.t("Without the app:", "Sans l'application :"),
                attr("href", &sign_in),
                l.t("sign in here to install the management profile", "connectez-vous ici pour installer le profil de gestion"),
            ));
        }
        Os::Macos | Os::Other => {
            let what = if os == Os::Macos {
                l.t(
                    "Sign in here, then install the management profile on this Mac.",
                    "Connectez-vous ici, puis installez le profil de gestion sur ce Mac.",
                )
            } else {
                l.t(
                    "Sign in here. To enroll a phone, open this link on the phone, or sign in and scan the portal's QR code with the enrollment app.",
                    "Connectez-vous ici. Pour inscrire un téléphone, ouvrez ce lien sur le téléphone, ou connectez-vous et scannez le code QR du portail avec l'application d'inscription."
                )
            };
            b.push_str(&format!(
                "<h2>{}</h2><p>{what}</p><p><a class=\"button\" id=\"sign-in\" {}>{}</a></p>",
                l.t("On this computer", "Sur cet ordinateur"),
                attr("href", &sign_in),
                l.t("Sign in", "Se connecter"),
            ));
        }
    }
    if matches!(os, Os::Android) {
        b.push_str(&format!(
            "<p class=\"note\">{} <a {}>{}</a></p>",
            l.t("Or, in this browser:", "Ou, dans ce navigateur :"),
            attr("href", &sign_in),
            l.t(
                "sign in to the self-service portal",
                "connectez-vous au portail libre-service"
            ),
        ));
    }
    page.body = b;
    page.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_links_carry_server_and_user() {
        let i = intent_url(
            "https://mdm.example.com:8443",
            Some("a+b@example.com"),
            "com.example.enroll",
            "https://play.google.com/store/apps/details?id=com.example.enroll",
        );
        assert_eq!(
            i,
            "intent://mdm.example.com:8443/go?user=a%2Bb%40example.com#Intent;scheme=https;package=com.example.enroll;\
S.browser_fallback_url=https%3A%2F%2Fplay.google.com%2Fstore%2Fapps%2Fdetails%3Fid%3Dcom.example.enroll;end"
        );
        let u = universal_link(
            "https://app.example.com/",
            "https://mdm.example.com",
            Some("a@example.com"),
        );
        assert_eq!(
            u,
            "https://app.example.com/go?user=a%40example.com&server=https%3A%2F%2Fmdm.example.com"
        );
    }
}
