//! HTML: escaping, the page frame (header, language switch, navigation) and the security
//! headers every page carries.

use super::i18n::Lang;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every page: only this server's own scripts, styles and
/// images (QR codes are same-origin PNGs), no plugins, no framing, forms post here only.
pub(crate) const CSP: &str = "default-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; \
                              frame-ancestors 'none'; form-action 'self'";

/// Escapes text for an HTML element or a double-quoted attribute.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `name="value"` with the value escaped.
pub(crate) fn attr(name: &str, value: &str) -> String {
    format!("{name}=\"{}\"", esc(value))
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn fmt_time(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => secs.to_string(),
    }
}

/// A `303 See Other` to a path of this server.
pub(crate) fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// One page: its language, title, navigation and body (already HTML).
pub(crate) struct Page {
    /// Language of the page.
    pub lang: Lang,
    /// Title (text).
    pub title: String,
    /// Navigation links (href, text), shown in the header.
    pub nav: Vec<(String, String)>,
    /// The page path, for the language switch to come back to.
    pub here: String,
    /// The body (HTML).
    pub body: String,
    /// Status code (200 unless set).
    pub status: StatusCode,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
}

impl Page {
    /// A page with no navigation.
    pub(crate) fn new(lang: Lang, title: impl Into<String>, here: impl Into<String>) -> Self {
        Self {
            lang,
            title: title.into(),
            nav: Vec::new(),
            here: here.into(),
            body: String::new(),
            status: StatusCode::OK,
            cookies: Vec::new(),
        }
    }

    /// The full document.
    pub(crate) fn html(&self) -> String {
        let l = self.lang;
        let back: String = url::form_urlencoded::byte_serialize(self.here.as_bytes()).collect();
        let other = match l {
            Lang::En => format!("<a href=\"/lang/fr?back={back}\" lang=\"fr\" hreflang=\"fr\">Français</a>"),
            Lang::Fr => format!("<a href=\"/lang/en?back={back}\" lang=\"en\" hreflang=\"en\">English</a>"),
        };
        let nav: String = self
            .nav
            .iter()
            .map(|(href, text)| format!("<a {}>{}</a>", attr("href", href), esc(text)))
            .collect::<Vec<_>>()
            .join(" ");
        format!(
            "<!doctype html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><link rel=\"stylesheet\" href=\"/assets/app.css\">\
<script src=\"/assets/app.js\" defer></script></head>\n<body>\
<header><nav>{nav}</nav><span class=\"lang\">{other}</span></header>\n<main>\n<h1>{title}</h1>\n{body}\n</main></body></html>\n",
            code = l.code(),
            title = esc(&self.title),
            body = self.body,
        )
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.html()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        secure_headers(h);
        h.insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(self.lang.code()),
        );
        h.insert(header::VARY, HeaderValue::from_static("accept-language, cookie"));
        for c in &self.cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// The headers of every web reply: CSP, no framing, no referrer.
pub(crate) fn secure_headers(h: &mut axum::http::HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(attr("value", "\"><script>"), "value=\"&quot;&gt;&lt;script&gt;\"");
    }

    #[test]
    fn times_are_dates() {
        assert_eq!(fmt_time(1_750_000_000), "2025-06-15 15:06 UTC");
    }
}
