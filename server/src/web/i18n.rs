//! Languages of the pages: English and French. A page's language is the `enroll_lang` cookie
//! (set by the switch in every page header, `GET /lang/{en|fr}?back=/path`), else the first of
//! `Accept-Language` (by weight) that we speak, else English.

use super::html::redirect;
use super::session::cookie_value;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};

/// Cookie holding the chosen language.
const LANG_COOKIE: &str = "enroll_lang";

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The BCP 47 code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }

    /// The English or the French text.
    pub(crate) fn t<'a>(self, en: &'a str, fr: &'a str) -> &'a str {
        match self {
            Self::En => en,
            Self::Fr => fr,
        }
    }

    fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Self::En),
            "fr" => Some(Self::Fr),
            _ => None,
        }
    }

    /// The language of a request.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        if let Some(l) = cookie_value(headers, LANG_COOKIE).and_then(|v| Self::parse(&v)) {
            return l;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::from_accept_language)
            .unwrap_or(Self::En)
    }

    /// The preferred language of an `Accept-Language` value we speak (at most 32 entries read).
    pub(crate) fn from_accept_language(value: &str) -> Option<Self> {
        let mut best: Option<(u32, Self)> = None;
        for item in value.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Self::parse) else {
                continue;
            };
            let mut weight = 1000;
            for p in parts {
                if let Some(q) = p.trim().strip_prefix("q=") {
                    weight = q
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|w| (0.0..=1.0).contains(w))
                        .map_or(0, |w| (w * 1000.0) as u32);
                }
            }
            if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map(|(_, l)| l)
    }
}

/// `GET /lang/en?back=/path`: English from now on, back to the page (a path of this server).
pub(crate) async fn lang_en(uri: Uri) -> Response {
    switch(Lang::En, &uri)
}

/// `GET /lang/fr?back=/path`: French from now on, back to the page (a path of this server).
pub(crate) async fn lang_fr(uri: Uri) -> Response {
    switch(Lang::Fr, &uri)
}

/// A local path to come back to: starts with one `/`, no scheme, no backslash.
fn safe_back(uri: &Uri) -> String {
    let back = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "back")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let ok = back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && back.len() <= 2048
        && !back.chars().any(char::is_control);
    if ok {
        back
    } else {
        "/go".into()
    }
}

fn switch(lang: Lang, uri: &Uri) -> Response {
    let mut resp = redirect(&safe_back(uri)).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; Secure; SameSite=Lax",
        lang.code()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_by_weight() {
        assert_eq!(
            Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"),
            Some(Lang::Fr)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE, en;q=0.5, fr;q=0.7"),
            Some(Lang::Fr)
        );
        assert_eq!(Lang::from_accept_language("en-GB;q=0.9, fr;q=0"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de, es"), None);
        assert_eq!(Lang::from_accept_language("fr;q=abc, en;q=0.1"), Some(Lang::En));
    }

    #[test]
    fn the_switch_goes_back_to_local_paths_only() {
        let back = |q: &str| safe_back(&format!("/lang/fr?{q}").parse::<Uri>().unwrap());
        assert_eq!(back("back=%2Fportal%3Fx%3D1"), "/portal?x=1");
        assert_eq!(back("back=%2F%2Fevil.example"), "/go");
        assert_eq!(back("back=https%3A%2F%2Fevil.example"), "/go");
        assert_eq!(back("back=%2F%5Cevil.example"), "/go");
        assert_eq!(back(""), "/go");
    }
}
