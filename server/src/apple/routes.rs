//! HTTP routes of the Apple domain: SCEP at `/scep` (outside `/api/v1`: the profile's SCEP
//! `URL`). Replies are SCEP's own media types, not JSON, except for requests that cannot be
//! understood at all (400 with the usual JSON error).

use super::scep::CA_CAPS;
use super::AppleService;
use crate::error::ApiError;
use crate::http::{blocking, ApiResult, AppState, Route};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use enroll_proto::routes;

/// Standard base64, padding optional (GET messages are often sent unpadded).
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Largest SCEP request (a PKIMessage holds one CSR and one certificate).
const SCEP_BODY_LIMIT: usize = 64 * 1024;

/// The routes of this domain.
pub(crate) fn table() -> Vec<Route> {
    vec![
        Route::new("GET", routes::SCEP, get(scep_get)),
        Route::new(
            "POST",
            routes::SCEP,
            post(scep_post).layer(DefaultBodyLimit::max(SCEP_BODY_LIMIT)),
        ),
    ]
}

/// `operation` and `message` from the query string.
fn scep_query(uri: &Uri) -> (Option<String>, Option<String>) {
    let (mut op, mut message) = (None, None);
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "operation" => op = Some(v.into_owned()),
            "message" => message = Some(v.into_owned()),
            _ => {}
        }
    }
    (op, message)
}

fn typed(content_type: &'static str, body: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn pki_operation(core: AppState, body: Vec<u8>) -> ApiResult {
    let rep = blocking(core, move |s| AppleService(s).pki_operation(&body)).await?;
    Ok(typed("application/x-pki-message", rep))
}

async fn scep_get(State(core): State<AppState>, uri: Uri) -> ApiResult {
    let (op, message) = scep_query(&uri);
    match op.as_deref() {
        Some("GetCACaps") => Ok(typed("text/plain", CA_CAPS.as_bytes().to_vec())),
        Some("GetCACert") => Ok(typed(
            "application/x-x509-ca-cert",
            core.pki.scep_ca().cert_der().to_vec(),
        )),
        Some("PKIOperation") => {
            let text = message.ok_or_else(|| ApiError::bad_request("message is required"))?;
            if text.len() > SCEP_BODY_LIMIT * 2 {
                return Err(ApiError::bad_request("message is too large"));
            }
            // Form decoding turns an unescaped '+' into a space; line breaks are tolerated.
            let cleaned: String = text
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n'))
                .map(|c| if c == ' ' { '+' } else { c })
                .collect();
            let body = LENIENT_B64
                .decode(cleaned.trim_end_matches('='))
                .map_err(|_| ApiError::bad_request("message is not base64"))?;
            pki_operation(core, body).await
        }
        _ => Err(ApiError::bad_request(
            "operation must be GetCACaps, GetCACert or PKIOperation",
        )),
    }
}

async fn scep_post(State(core): State<AppState>, uri: Uri, body: Bytes) -> ApiResult {
    let (op, _) = scep_query(&uri);
    if op.as_deref() != Some("PKIOperation") {
        return Err(ApiError::bad_request("POST is for operation=PKIOperation"));
    }
    pki_operation(core, body.to_vec()).await
}
