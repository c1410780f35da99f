//! The static files of the pages, compiled into the binary: `/assets/app.css` and
//! `/assets/app.js` (the only script any page loads; no inline script, no CDN).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

fn asset(body: &'static str, mime: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    super::html::secure_headers(h);
    resp
}

/// `GET /assets/app.css`.
pub(crate) async fn app_css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// `GET /assets/app.js`.
pub(crate) async fn app_js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}
