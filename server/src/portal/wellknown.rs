//! The app-link association files, so that a phone opens invitation links (`/go…`) in the
//! enrollment app instead of the browser: `/.well-known/apple-app-site-association` (iOS
//! universal links, for the app `TEAMID.bundle`) and `/.well-known/assetlinks.json` (Android App
//! Links, for the app's package and signing-certificate fingerprint). Both come from the server
//! config (`AppLinks::apple_app_id`, `AppLinks::android_cert_sha256`), are JSON, answered
//! directly (never a redirect: iOS and Android refuse one), and 404 when not configured.

use crate::error::ApiError;
use crate::http::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The universal-link paths the app handles (the invitation page and its queries).
pub(crate) const LINK_PATHS: &str = "/go*";

fn json_reply(body: &serde_json::Value) -> Response {
    let mut resp = (StatusCode::OK, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(enroll_proto::JSON_CONTENT_TYPE),
    );
    resp
}

/// The `apple-app-site-association` document for `app_id` (both the iOS 13+ `components` and
/// the older `paths` form).
pub(crate) fn apple_association(app_id: &str) -> serde_json::Value {
    serde_json::json!({
        "applinks": {
            "apps": [],
            "details": [{
                "appIDs": [app_id],
                "appID": app_id,
                "components": [{"/": LINK_PATHS, "comment": "enrollment invitations"}],
                "paths": [LINK_PATHS],
            }],
        },
    })
}

/// The Digital Asset Links statement for the app `package` signed with `fingerprint`.
pub(crate) fn android_asset_links(package: &str, fingerprint: &str) -> serde_json::Value {
    serde_json::json!([{
        "relation": ["delegate_permission/common.handle_all_urls"],
        "target": {
            "namespace": "android_app",
            "package_name": package,
            "sha256_cert_fingerprints": [fingerprint],
        },
    }])
}

pub(super) async fn apple_app_site_association(State(core): State<AppState>) -> Response {
    match &core.app_links.apple_app_id {
        Some(id) => json_reply(&apple_association(id)),
        None => {
            ApiError::not_found("no iOS app is configured (enroll server run --apple-app-id)").into_response()
        }
    }
}

pub(super) async fn assetlinks(State(core): State<AppState>) -> Response {
    match &core.app_links.android_cert_sha256 {
        Some(fp) => json_reply(&android_asset_links(&core.app_links.android_package, fp)),
        None => ApiError::not_found(
            "no Android app signing certificate is configured (enroll server run --android-cert-sha256)",
        )
        .into_response(),
    }
}
