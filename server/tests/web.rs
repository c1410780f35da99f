//! The portal and the console through the real router: sessions in cookies, CSRF refusals,
//! session expiry and sign-out, the Content-Security-Policy of every page, French pages, the
//! seed 003 portal flow (PIN with tries left, first password, signed profile) and the portal's
//! QR code read back by the agent's own scanner and payload parser, then used to enroll; and,
//! over a real TLS server, the console's Apple MDM section (a command queued from the page and
//! answered by the device simulator) and Windows Assign to user (a bulk-enrolled PC assigned, a
//! user-enrolled PC refused with the service's message), both behind the CSRF check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Harness, Reply};
use serde_json::json;

const MAC_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15";

/// A browser: its cookie jar (name → value) and user agent.
struct Browser<'a> {
    h: &'a Harness,
    cookies: std::collections::BTreeMap<String, String>,
    ua: &'static str,
    lang: &'static str,
}

impl<'a> Browser<'a> {
    fn new(h: &'a Harness) -> Self {
        Self {
            h,
            cookies: Default::default(),
            ua: MAC_UA,
            lang: "en-US,en;q=0.9",
        }
    }

    fn keep_cookies(&mut self, r: &Reply) {
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Reply {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", self.ua)
            .header("accept-language", self.lang);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            b = b.header("cookie", jar.join("; "));
        }
        let req = match form {
            Some(fields) => {
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                b.header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(body))
            }
            None => b.body(Body::empty()),
        }
        .unwrap();
        let r = self.h.raw(req).await;
        self.keep_cookies(&r);
        r
    }

    async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, path, Some(form)).await
    }
}

/// The CSRF token of the first form of a page.
fn csrf_of(r: &Reply) -> String {
    let text = r.text();
    let at = text.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    text[at..].split('"').next().unwrap().to_string()
}

fn location(r: &Reply) -> String {
    r.headers["location"].to_str().unwrap().to_string()
}

fn assert_strict_csp(r: &Reply) {
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!r.text().contains("<script>"), "no inline script");
    assert!(!r.text().contains(" style=\""), "no inline style");
}

fn decode_qr(png: &[u8]) -> String {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .to_luma8();
    let (w, hgt) = img.dimensions();
    let frame = enroll_core::qr::LumaFrame::new(img.as_raw(), w, hgt, w).unwrap();
    let found = enroll_core::qr::QrScanner::new().scan(&frame);
    assert_eq!(found.len(), 1, "one QR code in the image");
    found[0].text.clone()
}

/// Signs in with a fresh PIN of `email`.
async fn pin_sign_in(b: &mut Browser<'_>, email: &str) -> Reply {
    let pin = b.h.invite_pin(email).await;
    let page = b.get(&format!("/portal/sign-in?user={email}")).await;
    let csrf = csrf_of(&page);
    b.post(
        "/portal/sign-in",
        &[
            ("csrf", &csrf),
            ("method", "pin"),
            ("email", email),
            ("secret", &pin),
        ],
    )
    .await
}

#[tokio::test]
async fn go_names_the_invited_user_and_offers_the_app_on_phones() {
    let h = Harness::new();
    let mut b = Browser::new(&h);
    let r = b.get("/go?user=alice%40example.com").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_strict_csp(&r);
    assert!(r
        .text()
        .contains("This invitation is for <strong>alice@example.com</strong>"));
    assert!(r
        .text()
        .contains("href=\"/portal/sign-in?user=alice%40example.com\""));
    b.ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126 Mobile";
    let r = b.get("/go?user=alice%40example.com").await;
    let text = r.text();
    assert!(text.contains("href=\"intent://"), "{text}");
    assert!(text.contains("/go?user=alice%40example.com#Intent;scheme=https;package=com.example.enroll;S.browser_fallback_url=https%3A%2F%2Fplay.google.com"));
    b.ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15";
    let text = b.get("/go?user=alice%40example.com").await.text();
    assert!(
        text.contains("/go?user=alice%40example.com&amp;server=https"),
        "{text}"
    );
    assert!(text.contains("apps.apple.com"));
    // Markup in the link is text.
    let text = b.get("/go?user=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await.text();
    assert!(text.contains("&lt;script&gt;") && !text.contains("<script>alert"));
}

#[tokio::test]
async fn app_association_files_are_served_from_the_config_and_404_without_it() {
    let plain = Harness::new();
    let mut b = Browser::new(&plain);
    for path in [
        "/.well-known/apple-app-site-association",
        "/.well-known/assetlinks.json",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: not configured");
    }
    let h = Harness::with(|c| {
        c.app_links.apple_app_id = Some("ABCDE12345.com.example.enroll".into());
        c.app_links.android_package = "com.example.agent".into();
        c.app_links.android_cert_sha256 = enroll_server::normalize_cert_sha256(&"ab".repeat(32));
    });
    let mut b = Browser::new(&h);
    let r = b.get("/.well-known/apple-app-site-association").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("location").is_none());
    assert_eq!(r.headers["content-type"], "application/json");
    let aasa: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let details = &aasa["applinks"]["details"][0];
    assert_eq!(details["appIDs"], json!(["ABCDE12345.com.example.enroll"]));
    assert_eq!(details["components"][0]["/"], "/go*");
    assert_eq!(details["paths"], json!(["/go*"]));
    let r = b.get("/.well-known/assetlinks.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let links: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        links[0]["relation"],
        json!(["delegate_permission/common.handle_all_urls"])
    );
    assert_eq!(links[0]["target"]["namespace"], "android_app");
    assert_eq!(links[0]["target"]["package_name"], "com.example.agent");
    let fp = links[0]["target"]["sha256_cert_fingerprints"][0]
        .as_str()
        .unwrap();
    assert_eq!(fp.len(), 95, "{fp}");
    assert!(
        fp.starts_with("AB:AB:") && !fp.contains(char::is_lowercase),
        "{fp}"
    );
}

#[tokio::test]
async fn pages_speak_french_by_accept_language_and_by_the_switch() {
    let h = Harness::new();
    let mut b = Browser::new(&h);
    b.lang = "fr-FR,fr;q=0.9,en;q=0.5";
    let r = b.get("/go?user=a%40b.example").await;
    assert_eq!(r.headers["content-language"], "fr");
    assert!(r.text().contains("<html lang=\"fr\">"));
    assert!(r.text().contains("Cette invitation est destinée à"));
    assert!(r.text().contains("Se connecter"));
    // The switch: English from now on, back to the same page.
    let r = b.get("/lang/en?back=%2Fgo%3Fuser%3Da%2540b.example").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/go?user=a%40b.example");
    let r = b.get("/go?user=a%40b.example").await;
    assert!(r.text().contains("This invitation is for"));
    // And the switch never sends elsewhere.
    let r = b.get("/lang/fr?back=https%3A%2F%2Fevil.example%2F").await;
    assert_eq!(location(&r), "/go");
}

#[tokio::test]
async fn portal_pin_tries_left_first_password_and_profile() {
    let h = Harness::new();
    h.create_user("alice@example.com", None, false).await;
    let pin = h.invite_pin("alice@example.com").await;
    let mut b = Browser::new(&h);
    let page = b.get("/portal/sign-in?user=alice%40example.com").await;
    assert_strict_csp(&page);
    let cookie = page.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let csrf = csrf_of(&page);
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    let r = b
        .post(
            "/portal/sign-in",
            &[
                ("csrf", &csrf),
                ("method", "pin"),
                ("email", "alice@example.com"),
                ("secret", wrong),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("Wrong PIN: 4 tries left"), "{}", r.text());
    let r = b
        .post(
            "/portal/sign-in",
            &[
                ("csrf", &csrf),
                ("method", "pin"),
                ("email", "alice@example.com"),
                ("secret", &pin),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(location(&r), "/portal/password", "no password yet: set one");
    let page = b.get("/portal/password").await;
    let csrf2 = csrf_of(&page);
    assert_ne!(csrf, csrf2, "a new session on sign-in");
    let r = b
        .post(
            "/portal/password",
            &[("csrf", &csrf2), ("password", "short"), ("confirm", "short")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = b
        .post(
            "/portal/password",
            &[
                ("csrf", &csrf2),
                ("password", "correct horse"),
                ("confirm", "correct horse"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("password-set"));
    // The password now signs in through the API.
    let users = h.admin(Method::GET, "/api/v1/admin/users", None).await.json();
    assert_eq!(users[0]["has_password"], true);

    // The management profile: prepared, counted down, downloaded, expired, fresh.
    let page = b.get("/portal/profile").await;
    assert!(page.text().contains("steps-macos") && page.text().contains("steps-ios"));
    let r = b.post("/portal/profile", &[("csrf", &csrf2)]).await;
    assert_eq!(location(&r), "/portal/profile", "{}", r.text());
    let page = b.get("/portal/profile").await;
    let text = page.text();
    assert!(
        text.contains("data-expires=\"") && text.contains("5:00"),
        "{text}"
    );
    let r = b.get("/portal/profile/download").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-apple-aspen-config");
    assert!(r.body.len() > 500 && r.body[0] == 0x30, "a DER CMS SignedData");
    let pending = h
        .admin(Method::GET, "/api/v1/admin/enrollments/pending", None)
        .await
        .json();
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["user"], "alice@example.com");
    h.clock.advance(301);
    assert_eq!(b.get("/portal/profile/download").await.status, StatusCode::GONE);
    assert!(b.get("/portal/profile").await.text().contains("id=\"fresh\""));
    let r = b.post("/portal/profile", &[("csrf", &csrf2)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/portal/profile/download").await.status, StatusCode::OK);
    let pending = h
        .admin(Method::GET, "/api/v1/admin/enrollments/pending", None)
        .await
        .json();
    assert_eq!(
        pending.as_array().unwrap().len(),
        1,
        "the fresh profile reuses the enrollment"
    );
}

#[tokio::test]
async fn portal_password_and_directory_sign_in() {
    let h = Harness::new();
    h.create_user("bob@example.com", Some("bob password"), false)
        .await;
    h.create_user("dir@example.com", Some("network pw"), true).await;
    let mut b = Browser::new(&h);
    let csrf = csrf_of(&b.get("/portal/sign-in?method=password").await);
    let r = b
        .post(
            "/portal/sign-in",
            &[
                ("csrf", &csrf),
                ("method", "password"),
                ("email", "bob@example.com"),
                ("secret", "nope"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("is not right"));
    let r = b
        .post(
            "/portal/sign-in",
            &[
                ("csrf", &csrf),
                ("method", "password"),
                ("email", "bob@example.com"),
                ("secret", "bob password"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/portal");
    assert!(b.get("/portal").await.text().contains("bob@example.com"));
    let mut d = Browser::new(&h);
    let csrf = csrf_of(&d.get("/portal/sign-in?method=directory").await);
    let r = d
        .post(
            "/portal/sign-in",
            &[
                ("csrf", &csrf),
                ("method", "directory"),
                ("email", "dir@example.com"),
                ("secret", "network pw"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/portal");
}

#[tokio::test]
async fn portal_qr_code_is_read_by_the_agent_and_enrolls_for_the_user() {
    use enroll_core::qr::{parse_payload, EnrollmentIntent, PayloadOptions};
    let h = Harness::new();
    h.create_user("carol@example.com", None, false).await;
    let mut b = Browser::new(&h);
    pin_sign_in(&mut b, "carol@example.com").await;
    let page = b.get("/portal/qr").await;
    assert!(page.text().contains("src=\"/portal/qr.png\""));
    let png = b.get("/portal/qr.png").await;
    assert_eq!(png.headers["content-type"], "image/png");
    let text = decode_qr(&png.body);
    let intent = parse_payload(&text, &PayloadOptions::default()).unwrap();
    let EnrollmentIntent::Invitation(inv) = intent else {
        panic!("an invitation link: {text}")
    };
    assert_eq!(inv.user_hint.as_deref(), Some("carol@example.com"));
    assert_eq!(inv.server_base.as_str().trim_end_matches('/'), h.app.base_url());
    let token = inv.token.expect("a token").expose().to_string();
    // The same code on a second view (one token per session).
    assert_eq!(decode_qr(&b.get("/portal/qr.png").await.body), text);
    // The token enrolls a phone for carol.
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": {"kind": "token", "token": token},
                    "device": {"platform": "android", "os_version": "14", "model": "Pixel 8", "manufacturer": "Google"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["user"], "carol@example.com");
}

#[tokio::test]
async fn portal_forms_refuse_a_missing_or_foreign_csrf_token() {
    let h = Harness::new();
    h.create_user("dave@example.com", Some("dave password"), false)
        .await;
    let mut b = Browser::new(&h);
    let csrf = csrf_of(&b.get("/portal/sign-in").await);
    let mut other = Browser::new(&h);
    let foreign = csrf_of(&other.get("/portal/sign-in").await);
    for token in ["", "x", foreign.as_str()] {
        let r = b
            .post(
                "/portal/sign-in",
                &[
                    ("csrf", token),
                    ("method", "password"),
                    ("email", "dave@example.com"),
                    ("secret", "dave password"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    // No session cookie at all (a cross-site post: SameSite=Strict leaves it behind).
    let mut stranger = Browser::new(&h);
    let r = stranger
        .post(
            "/portal/sign-in",
            &[
                ("csrf", &csrf),
                ("method", "password"),
                ("email", "dave@example.com"),
                ("secret", "dave password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A body that is not a form.
    let r = b.send(Method::POST, "/portal/sign-in", None).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn portal_sessions_expire_and_sign_out() {
    let h = Harness::new();
    h.create_user("erin@example.com", Some("erin password"), false)
        .await;
    let mut b = Browser::new(&h);
    let csrf = csrf_of(&b.get("/portal/sign-in").await);
    b.post(
        "/portal/sign-in",
        &[
            ("csrf", &csrf),
            ("method", "password"),
            ("email", "erin@example.com"),
            ("secret", "erin password"),
        ],
    )
    .await;
    assert_eq!(b.get("/portal").await.status, StatusCode::OK);
    h.clock.advance(15 * 60 + 1);
    let r = b.get("/portal").await;
    assert_eq!(location(&r), "/portal/sign-in", "idle for 15 minutes: signed out");
    let csrf = csrf_of(&b.get("/portal/sign-in").await);
    b.post(
        "/portal/sign-in",
        &[
            ("csrf", &csrf),
            ("method", "password"),
            ("email", "erin@example.com"),
            ("secret", "erin password"),
        ],
    )
    .await;
    let home = b.get("/portal").await;
    assert_eq!(home.status, StatusCode::OK);
    let saved = b.cookies.clone();
    let r = b.post("/portal/sign-out", &[("csrf", &csrf_of(&home))]).await;
    assert_eq!(location(&r), "/portal/sign-in");
    assert!(!b.cookies.contains_key("enroll_portal"), "the cookie is deleted");
    // The old cookie is dead on the server too.
    b.cookies = saved;
    assert_eq!(location(&b.get("/portal").await), "/portal/sign-in");
}

#[tokio::test]
async fn assets_are_served_from_the_server() {
    let h = Harness::new();
    let mut b = Browser::new(&h);
    let js = b.get("/assets/app.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert!(js.text().contains("x-csrf-token"));
    let css = b.get("/assets/app.css").await;
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert!(css.text().contains("@media (max-width"));
}

/// Signs the browser in to the console; returns the admin session's CSRF token.
async fn console_sign_in(b: &mut Browser<'_>) -> String {
    let page = b.get("/console/sign-in").await;
    let csrf = csrf_of(&page);
    let admin = b.h.admin.clone();
    let r = b
        .post("/console/sign-in", &[("csrf", &csrf), ("token", &admin)])
        .await;
    assert_eq!(location(&r), "/console", "{}", r.text());
    let cookie = r.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("enroll_console=") && cookie.contains("HttpOnly; Secure; SameSite=Strict"),
        "{cookie}"
    );
    csrf_of(&b.get("/console").await)
}

#[tokio::test]
async fn console_sign_in_refuses_a_wrong_credential_and_pages_need_a_session() {
    let h = Harness::new();
    let mut b = Browser::new(&h);
    for page in [
        "/console",
        "/console/users",
        "/console/devices",
        "/console/bulk",
        "/console/kme",
        "/console/pending",
    ] {
        assert_eq!(location(&b.get(page).await), "/console/sign-in", "{page}");
    }
    let page = b.get("/console/sign-in").await;
    assert_strict_csp(&page);
    let csrf = csrf_of(&page);
    let r = b
        .post(
            "/console/sign-in",
            &[("csrf", &csrf), ("token", "adm_not_the_token")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("not the admin credential"));
    assert!(!b.cookies.is_empty());
    // The bearer token of the API is no console session.
    let auth = format!("Bearer {}", h.admin);
    let r = h
        .call(Method::GET, "/console/users", &[("authorization", &auth)], None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let csrf = console_sign_in(&mut b).await;
    let r = b.get("/console/users").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_strict_csp(&r);
    assert!(!csrf.is_empty());
}

#[tokio::test]
async fn console_forms_and_uploads_refuse_a_missing_or_wrong_csrf_token() {
    let h = Harness::new();
    let mut b = Browser::new(&h);
    let csrf = console_sign_in(&mut b).await;
    let mut other = Browser::new(&h);
    let foreign = console_sign_in(&mut other).await;
    for token in ["", "nope", foreign.as_str()] {
        let r = b
            .post(
                "/console/users",
                &[
                    ("csrf", token),
                    ("email", "mallory@example.com"),
                    ("display_name", "M"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    assert_eq!(
        h.admin(Method::GET, "/api/v1/admin/users", None).await.json(),
        json!([]),
        "nothing created"
    );
    // A right token creates the user.
    let r = b
        .post(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("email", "ok@example.com"),
                ("display_name", "OK"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/console/users");
    assert!(b
        .get("/console/users")
        .await
        .text()
        .contains("User created: ok@example.com"));
    // The upload script's header.
    let r = b
        .post("/console/bulk", &[("csrf", &csrf), ("name", "P"), ("days", "7")])
        .await;
    let profile = location(&r);
    let upload = |token: Option<String>| {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{profile}/csv"))
            .header("content-type", "text/csv")
            .header(
                "cookie",
                b.cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.body(Body::from("imei\n123456789012345\n")).unwrap()
    };
    assert_eq!(h.raw(upload(None)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.raw(upload(Some(foreign.clone()))).await.status,
        StatusCode::FORBIDDEN
    );
    let r = h.raw(upload(Some(csrf.clone()))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let report = r.json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["errors"][0]["line"], 2, "{report}");
    assert!(r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'self'"));
}

#[tokio::test]
async fn console_sessions_expire_and_sign_out() {
    let h = Harness::new();
    let mut b = Browser::new(&h);
    let csrf = console_sign_in(&mut b).await;
    h.clock.advance(29 * 60);
    assert_eq!(
        b.get("/console").await.status,
        StatusCode::OK,
        "used within 30 minutes"
    );
    h.clock.advance(30 * 60 + 1);
    assert_eq!(
        location(&b.get("/console").await),
        "/console/sign-in",
        "idle 30 minutes"
    );
    let r = b
        .post("/console/users", &[("csrf", &csrf), ("email", "x@example.com")])
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "an expired session posts nothing"
    );
    // Eight hours at most, however busy.
    let csrf = console_sign_in(&mut b).await;
    for _ in 0..16 {
        h.clock.advance(29 * 60);
        b.get("/console").await;
    }
    h.clock.advance(20 * 60);
    assert_eq!(
        location(&b.get("/console").await),
        "/console/sign-in",
        "8 hours at most"
    );
    // Sign-out kills the session on the server.
    let csrf2 = console_sign_in(&mut b).await;
    assert_ne!(csrf, csrf2);
    let saved = b.cookies.clone();
    let r = b.post("/console/sign-out", &[("csrf", &csrf2)]).await;
    assert_eq!(location(&r), "/console/sign-in");
    b.cookies = saved;
    assert_eq!(location(&b.get("/console").await), "/console/sign-in");
}

#[tokio::test]
async fn console_pages_speak_french_and_show_the_invitation_once() {
    let h = Harness::new();
    h.create_user("zoe@example.com", None, false).await;
    let mut b = Browser::new(&h);
    b.lang = "fr";
    let csrf = console_sign_in(&mut b).await;
    let r = b.get("/console/users").await;
    assert!(r.text().contains("<html lang=\"fr\">") && r.text().contains("Utilisateurs et invitations"));
    let r = b
        .post(
            "/console/users/invite",
            &[("csrf", &csrf), ("email", "zoe@example.com"), ("with_pin", "1")],
        )
        .await;
    let text = r.text();
    assert!(
        text.contains("PIN à usage unique") && text.contains("id=\"pin\">"),
        "{text}"
    );
    let pin = text
        .split("id=\"pin\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    // The PIN works once in the portal.
    let mut u = Browser::new(&h);
    let c = csrf_of(&u.get("/portal/sign-in").await);
    let r = u
        .post(
            "/portal/sign-in",
            &[
                ("csrf", &c),
                ("method", "pin"),
                ("email", "zoe@example.com"),
                ("secret", &pin),
            ],
        )
        .await;
    assert_eq!(location(&r), "/portal/password");
    // The users page never shows it again.
    assert!(!b.get("/console/users").await.text().contains(&pin));
    // Device pages, KME and bulk pages render in French too.
    assert!(b.get("/console/kme").await.text().contains("Activer Samsung KME"));
    assert!(b
        .get("/console/bulk")
        .await
        .text()
        .contains("Profils d&#39;inscription en masse"));
    assert!(b.get("/console/devices").await.text().contains("Appareils"));
}

fn imei(n: u64) -> String {
    let body = format!("35{n:012}");
    let mut sum = 0;
    for (i, c) in body.bytes().rev().enumerate() {
        let mut x = u32::from(c - b'0');
        if i % 2 == 0 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[tokio::test]
async fn console_bulk_devices_configuration_token_and_kme_go_through_the_services() {
    let h = Harness::new();
    h.create_user("ops@example.com", None, false).await;
    let mut b = Browser::new(&h);
    let csrf = console_sign_in(&mut b).await;
    let r = b
        .post(
            "/console/bulk",
            &[("csrf", &csrf), ("name", "Shop"), ("days", "3")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "3 days is refused by the bulk rules"
    );
    assert!(r.text().contains("7"), "{}", r.text());
    let r = b
        .post(
            "/console/bulk",
            &[("csrf", &csrf), ("name", "Shop"), ("days", "7")],
        )
        .await;
    let page = location(&r);
    let id = page.rsplit('/').next().unwrap().to_string();
    let api_devices = format!("/api/v1/admin/bulk/profiles/{id}/devices");
    // Add, edit, delete a device.
    let one = imei(11);
    let r = b
        .post(
            &format!("{page}/devices"),
            &[
                ("csrf", &csrf),
                ("imei", &one),
                ("attributes", "site=Lyon\nfloor=2"),
            ],
        )
        .await;
    assert_eq!(location(&r), page, "{}", r.text());
    let r = b
        .post(&format!("{page}/devices"), &[("csrf", &csrf), ("imei", "123")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a bad IMEI is refused");
    let list = h.admin(Method::GET, &api_devices, None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["attributes"]["floor"], "2");
    let dev = list[0]["id"].to_string();
    let two = imei(12);
    b.post(
        &format!("{page}/devices/edit"),
        &[
            ("csrf", &csrf),
            ("id", &dev),
            ("imei", &two),
            ("attributes", "site=Paris"),
        ],
    )
    .await;
    let list = h.admin(Method::GET, &api_devices, None).await.json();
    assert_eq!(
        (list[0]["imei"].as_str(), list[0]["attributes"]["site"].as_str()),
        (Some(two.as_str()), Some("Paris"))
    );
    let inv = b.get(&format!("{page}/devices.csv")).await;
    assert_eq!(
        inv.headers["content-disposition"],
        "attachment; filename=\"bulk-devices.csv\""
    );
    assert!(inv.text().contains(&two));
    let r = b
        .post(
            &format!("{page}/devices/selected"),
            &[("csrf", &csrf), ("op", "delete"), ("device", &dev)],
        )
        .await;
    assert_eq!(location(&r), page);
    assert_eq!(h.admin(Method::GET, &api_devices, None).await.json(), json!([]));
    // Configuration and token.
    b.post(
        &format!("{page}/config"),
        &[
            ("csrf", &csrf),
            ("name", "Shop floor"),
            ("description", "Till tablets"),
            ("user", "ops@example.com"),
            ("product_keys", "enroll.KIOSK=true"),
            ("attributes", "site=Lyon"),
            ("locale", "fr_FR"),
            ("time_zone", "Europe/Paris"),
        ],
    )
    .await;
    let d = h
        .admin(Method::GET, &format!("/api/v1/admin/bulk/profiles/{id}"), None)
        .await
        .json();
    assert_eq!(d["profile"]["name"], "Shop floor");
    assert_eq!(d["profile"]["user"], "ops@example.com");
    assert_eq!(d["config"]["product_keys"]["enroll.KIOSK"], "true");
    assert_eq!(d["config"]["system_extras"]["time_zone"], "Europe/Paris");
    let old = d["token"].clone();
    b.post(
        &format!("{page}/token"),
        &[("csrf", &csrf), ("action", "extend"), ("never", "1")],
    )
    .await;
    let d = h
        .admin(Method::GET, &format!("/api/v1/admin/bulk/profiles/{id}"), None)
        .await
        .json();
    assert_eq!(
        (d["token"].clone(), d["token_expires_at"].clone()),
        (old.clone(), json!(null)),
        "extended, never expires"
    );
    assert!(b.get(&page).await.text().contains("never"));
    b.post(
        &format!("{page}/token"),
        &[("csrf", &csrf), ("action", "refresh"), ("days", "999")],
    )
    .await;
    let d = h
        .admin(Method::GET, &format!("/api/v1/admin/bulk/profiles/{id}"), None)
        .await
        .json();
    assert_ne!(d["token"], old, "refreshed");
    let svg = b.get(&format!("{page}/qr.svg")).await;
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    assert!(b
        .get("/console/bulk/template.csv")
        .await
        .text()
        .starts_with("imei,"));

    // KME: on, upload, approve all, move, unassign.
    b.post("/console/kme/enable", &[("csrf", &csrf), ("name", "Samsung KME")])
        .await;
    let csv = format!("imei\n{}\n{}\n", imei(70), imei(71));
    let upload = Request::builder()
        .method(Method::POST)
        .uri("/console/kme/csv")
        .header("content-type", "text/csv")
        .header("x-csrf-token", &csrf)
        .header(
            "cookie",
            b.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .body(Body::from(csv))
        .unwrap();
    let r = h.raw(upload).await;
    assert_eq!(r.json()["imported"], 2, "{}", r.text());
    assert!(b
        .get("/console/kme")
        .await
        .text()
        .contains("id=\"pending-approval\">Waiting for approval: 2"));
    let unapproved = b.get("/console/kme/unapproved.csv").await;
    assert!(unapproved.text().contains(&imei(71)));
    b.post("/console/kme/approve", &[("csrf", &csrf), ("scope", "all")])
        .await;
    assert!(b
        .get("/console/kme")
        .await
        .text()
        .contains("Waiting for approval: 0"));
    let r = b
        .post(
            "/console/bulk",
            &[("csrf", &csrf), ("name", "Field"), ("kind", "kme"), ("days", "7")],
        )
        .await;
    let field = location(&r).rsplit('/').next().unwrap().to_string();
    let profiles = h
        .admin(Method::GET, "/api/v1/admin/bulk/profiles", None)
        .await
        .json();
    let default = profiles
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["default_kme"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let in_default = h
        .admin(
            Method::GET,
            &format!("/api/v1/admin/bulk/profiles/{default}/devices"),
            None,
        )
        .await
        .json();
    let ids: Vec<String> = in_default
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let r = b
        .post(
            &format!("/console/bulk/{default}/devices/selected"),
            &[
                ("csrf", &csrf),
                ("op", "move"),
                ("to_profile", &field),
                ("device", &ids[0]),
                ("device", &ids[1]),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(b
        .get(&format!("/console/bulk/{default}"))
        .await
        .text()
        .contains("2 device(s) changed"));
    b.post(
        &format!("/console/bulk/{field}/devices/selected"),
        &[("csrf", &csrf), ("op", "unassign"), ("device", &ids[0])],
    )
    .await;
    let field_devices = h
        .admin(
            Method::GET,
            &format!("/api/v1/admin/bulk/profiles/{field}/devices"),
            None,
        )
        .await
        .json();
    assert_eq!(
        field_devices.as_array().unwrap().len(),
        1,
        "one moved back by unassign"
    );
    assert!(b
        .get(&format!("/console/bulk/{field}"))
        .await
        .text()
        .contains("id=\"sync-status\""));
}

#[test]
fn app_links_are_checked_at_start_up() {
    let dir = common::temp_dir("links");
    let bad = |tweak: &dyn Fn(&mut enroll_server::ServerConfig)| {
        let mut c = enroll_server::ServerConfig::new(&dir);
        tweak(&mut c);
        enroll_server::App::open(&c, "https://localhost:8443").is_err()
    };
    assert!(bad(&|c| c.app_links.android_package = "com.x;S.evil=1".into()));
    assert!(bad(
        &|c| c.app_links.play_store_url = "http://play.example/app".into()
    ));
    assert!(bad(
        &|c| c.app_links.universal_link_base = Some("javascript:alert(1)".into())
    ));
    assert!(!bad(
        &|c| c.app_links.universal_link_base = Some("https://app.example.com".into())
    ));
    assert!(bad(
        &|c| c.app_links.apple_app_id = Some("com.example.enroll".into())
    ));
    assert!(bad(
        &|c| c.app_links.apple_app_id = Some("abcde12345.com.x\"}".into())
    ));
    assert!(bad(&|c| c.app_links.android_cert_sha256 = Some("ab:cd".into())));
    assert!(bad(&|c| c.app_links.android_cert_sha256 = Some("ab".repeat(32))));
    assert!(!bad(
        &|c| c.app_links.apple_app_id = Some("ABCDE12345.com.example.enroll".into())
    ));
    assert_eq!(
        enroll_server::normalize_cert_sha256(&"0f".repeat(32)).unwrap(),
        ["0F"; 32].join(":")
    );
    assert_eq!(enroll_server::normalize_cert_sha256("not hex at all"), None);
    let _ = std::fs::remove_dir_all(&dir);
}

// --- Device pages of the MDM platforms, over a real TLS server on loopback -------------------

#[path = "windows/main_helpers.rs"]
mod windows_helpers;

/// A browser over HTTPS: redirects not followed, cookies kept by hand.
struct TlsBrowser {
    http: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
    lang: &'static str,
}

struct TlsReply {
    status: u16,
    location: String,
    text: String,
}

impl TlsBrowser {
    fn new(env: &windows_helpers::Env) -> Self {
        let mut store = rustls::RootCertStore::empty();
        store
            .add(rustls_pki_types::CertificateDer::from(env.server.ca_cert_der()))
            .unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
        Self {
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: env.base.clone(),
            cookies: Default::default(),
            lang: "en",
        }
    }

    async fn send(&mut self, path: &str, form: Option<&[(&str, &str)]>) -> TlsReply {
        let url = format!("{}{path}", self.base);
        let mut req = match form {
            Some(f) => self
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(f)
                        .finish(),
                ),
            None => self.http.get(url),
        };
        req = req.header("accept-language", self.lang);
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !jar.is_empty() {
            req = req.header("cookie", jar.join("; "));
        }
        let r = req.send().await.unwrap();
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.insert(k.to_string(), val.to_string());
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        TlsReply {
            status,
            location,
            text: r.text().await.unwrap(),
        }
    }

    /// Signs in with the admin credential; the CSRF token of the session.
    async fn sign_in(&mut self, admin: &str) -> String {
        let page = self.send("/console/sign-in", None).await;
        let csrf = csrf_in(&page.text);
        let r = self
            .send("/console/sign-in", Some(&[("csrf", &csrf), ("token", admin)]))
            .await;
        assert_eq!(r.location, "/console", "{}", r.text);
        csrf_in(&self.send("/console", None).await.text)
    }
}

fn csrf_in(text: &str) -> String {
    let at = text.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    text[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_queues_an_apple_mdm_command_the_simulator_answers() {
    use enroll_core::client::{ClientConfig, ProtocolClient};
    use enroll_core::tls::TrustConfig;
    use enroll_sim::fleet::ProfileSource;
    use enroll_sim::server::ServerProfiles;
    use enroll_sim::{
        ApplePlatform, DeviceIdentity, EnrollmentProfile, HttpConfig, SimulatedDevice, Transport,
    };

    let env = windows_helpers::start("console-apple").await;
    env.user("mac@example.com", "Mac-pass-1").await;
    let (s, v) = env
        .post(
            "/api/v1/admin/tokens",
            json!({"user": "mac@example.com", "never_expires": true}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{v}");
    let trust = TrustConfig::with_ca(env.server.ca_cert_pem().as_bytes()).unwrap();
    let transport = Transport::new(HttpConfig {
        trust: trust.clone(),
        ..HttpConfig::default()
    });
    let client = ProtocolClient::new(
        &env.base,
        ClientConfig {
            trust,
            ..ClientConfig::default()
        },
        std::sync::Arc::new(enroll_core::platform::SystemClock),
    )
    .unwrap();
    let source = ServerProfiles::new(
        client,
        enroll_proto::CredentialWire::Token {
            token: enroll_proto::secret::SecretString::new(v["token"].as_str().unwrap().to_owned()),
        },
        ApplePlatform::Ios,
    );
    let identity = DeviceIdentity::simulated(0, ApplePlatform::Ios);
    let bytes = source.profile(0, &identity).await.unwrap();
    let profile = EnrollmentProfile::parse(&bytes, &[env.server.ca_cert_der()]).unwrap();
    let mut device = SimulatedDevice::enroll(transport, std::sync::Arc::new(profile), identity)
        .await
        .unwrap();
    let udid = device.state.identity.udid.clone();
    let list = env.get("/api/v1/admin/devices").await;
    let id = list.as_array().unwrap()[0]["id"].as_str().unwrap().to_owned();

    let mut b = TlsBrowser::new(&env);
    let csrf = b.sign_in(&env.admin).await;
    let page = b.send(&format!("/console/devices/{id}"), None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains(&format!("<span id=\"udid\">{udid}</span>")),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(&device.state.identity.serial_number),
        "the last DeviceInformation is shown"
    );
    assert!(page.text.contains("<table id=\"commands\">"));
    let form = format!("/console/devices/{id}/mdm-command");
    // CSRF: a missing or wrong token queues nothing.
    for token in ["", "nope"] {
        let r = b
            .send(&form, Some(&[("csrf", token), ("request_type", "SecurityInfo")]))
            .await;
        assert_eq!(r.status, 403, "token {token:?}");
    }
    let before = env.get(&format!("/api/v1/admin/devices/{id}/commands")).await;
    assert_eq!(
        before.as_array().unwrap().len(),
        1,
        "only the enrollment's DeviceInformation"
    );
    // A right token queues it; the page lists it, queued.
    let r = b
        .send(&form, Some(&[("csrf", &csrf), ("request_type", "SecurityInfo")]))
        .await;
    assert_eq!(r.location, format!("/console/devices/{id}"), "{}", r.text);
    let page = b.send(&r.location, None).await;
    assert!(
        page.text.contains("Command queued: SecurityInfo"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("<td>SecurityInfo</td><td>admin</td><td><span class=\"state\">queued</span>"),
        "{}",
        page.text
    );
    // The simulator answers at its next poll; the page shows the result.
    let outcome = device.poll().await.unwrap();
    assert_eq!(outcome.commands, 1);
    let page = b.send(&format!("/console/devices/{id}"), None).await;
    assert!(
        page.text
            .contains("<td>SecurityInfo</td><td>admin</td><td><span class=\"state\">acknowledged</span>"),
        "{}",
        page.text
    );
    assert!(page.text.contains("SecurityInfo"), "the answer's keys");
    // A command the form does not offer is refused by name; the page speaks French too.
    let r = b
        .send(&form, Some(&[("csrf", &csrf), ("request_type", "EraseDevice")]))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("request_type must be"), "{}", r.text);
    b.lang = "fr";
    let page = b.send(&format!("/console/devices/{id}"), None).await;
    assert!(page.text.contains("Envoyer une commande MDM"), "{}", page.text);
    assert!(page.text.contains("Commandes MDM (les plus récentes d'abord)"));
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_assigns_a_bulk_enrolled_windows_device_and_shows_the_refusal_for_others() {
    use enroll_wsim::Credential;
    const BULK: &str = "windows-bulkenroll-user1@abc.com";
    const PW: &str = "Bulk-pass-1";
    let env = windows_helpers::start("console-windows").await;
    env.user(BULK, PW).await;
    env.user("alice@abc.com", "Alice-pass-1").await;
    env.user("bob@abc.com", "Bob-pass-1").await;
    let package = env.package(BULK, PW).await;
    let mut bulk = env.device(Credential::Package(package.clone()));
    bulk.run(&windows_helpers::quiet).await.unwrap();
    let mut own = package.clone();
    own.enrollment.upn = "bob@abc.com".into();
    own.enrollment.secret = "Bob-pass-1".into();
    let mut d = env.device(Credential::Package(own));
    d.run(&windows_helpers::quiet).await.unwrap();
    let list = env.windows_devices().await;
    let id_of = |bulk: bool| {
        list.iter().find(|v| v["bulk_enrolled"] == bulk).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (bulk_id, own_id) = (id_of(true), id_of(false));

    let mut b = TlsBrowser::new(&env);
    let csrf = b.sign_in(&env.admin).await;
    let page = b.send(&format!("/console/devices/{bulk_id}"), None).await;
    assert!(
        page.text
            .contains(&format!("<span id=\"bulk-owner\">{BULK}</span>")),
        "{}",
        page.text
    );
    assert!(page.text.contains("id=\"assign\""));
    let form = format!("/console/devices/{bulk_id}/assign");
    // CSRF: refused, the owner unchanged.
    for token in ["", "nope"] {
        let r = b
            .send(&form, Some(&[("csrf", token), ("user", "alice@abc.com")]))
            .await;
        assert_eq!(r.status, 403, "token {token:?}");
    }
    let owner =
        |list: &[serde_json::Value], id: &str| list.iter().find(|v| v["id"] == id).unwrap()["user"].clone();
    assert_eq!(owner(&env.windows_devices().await, &bulk_id), BULK);
    // Assigned: the owner changes, the page says so.
    let r = b
        .send(&form, Some(&[("csrf", &csrf), ("user", "alice@abc.com")]))
        .await;
    assert_eq!(r.location, format!("/console/devices/{bulk_id}"), "{}", r.text);
    let page = b.send(&r.location, None).await;
    assert!(page.text.contains("Assigned to alice@abc.com"), "{}", page.text);
    assert!(page.text.contains("alice@abc.com"));
    assert_eq!(owner(&env.windows_devices().await, &bulk_id), "alice@abc.com");
    // A device its user enrolled: no form, and a forged post gets the service's refusal.
    let page = b.send(&format!("/console/devices/{own_id}"), None).await;
    assert!(page.text.contains("id=\"not-bulk\"") && !page.text.contains("id=\"assign\""));
    let r = b
        .send(
            &format!("/console/devices/{own_id}/assign"),
            Some(&[("csrf", &csrf), ("user", "alice@abc.com")]),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.text.contains("only available for bulk-enrolled devices"),
        "{}",
        r.text
    );
    assert_eq!(owner(&env.windows_devices().await, &own_id), "bob@abc.com");
    b.lang = "fr";
    let page = b.send(&format!("/console/devices/{own_id}"), None).await;
    assert!(
        page.text
            .contains("l'attribution n'existe que pour les appareils inscrits en masse"),
        "{}",
        page.text
    );
    env.server.shutdown().await;
}
