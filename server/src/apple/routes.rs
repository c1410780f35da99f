//! HTTP routes of the Apple domain, outside `/api/v1` (the URLs the profile names): SCEP at
//! `/scep`, the MDM check-in at `/mdm/checkin` and the command channel at `/mdm/server` (PUT or
//! POST); and the administrator's command routes under `/api/v1/admin/devices/{id}/`.
//!
//! Replies are the protocols' own media types; refusals are the usual JSON errors (400, 403
//! `com.apple.unrecognized.device`, 413). Each route has its own body limit: 64 KiB for SCEP
//! and check-ins, [`MDM_SERVER_BODY_LIMIT`] (4 MiB) for the command channel, whose
//! `ProfileList` answers can be megabytes; the admin JSON keeps the 64 KiB of every JSON route.

use super::checkin::CheckinReply;
use super::scep::CA_CAPS;
use super::{AppleService, MDM_SERVER_BODY_LIMIT};
use crate::error::ApiError;
use crate::http::{blocking, json, Admin, ApiJson, ApiResult, AppState, PathParam, Route};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use enroll_mdm::checkin::MAX_CHECKIN_BYTES;
use enroll_mdm::mdm_signature::MDM_SIGNATURE_HEADER;
use enroll_proto::{routes, ErrorCode, QueueCommandRequest};

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
        Route::new("PUT", routes::MDM_CHECKIN, put(checkin)),
        Route::new("POST", routes::MDM_CHECKIN, post(checkin)),
        Route::new("PUT", routes::MDM_SERVER, put(command_channel)),
        Route::new("POST", routes::MDM_SERVER, post(command_channel)),
        Route::new("POST", routes::ADMIN_DEVICE_COMMANDS, post(queue_command)),
        Route::new("GET", routes::ADMIN_DEVICE_COMMANDS, get(list_commands)),
        Route::new("GET", routes::ADMIN_DEVICE_MDM, get(mdm_view)),
    ]
}

/// The request body, at most `limit` bytes (413 `payload_too_large` beyond, declared or not).
async fn limited_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    Ok(bytes.to_vec())
}

fn signature(headers: &HeaderMap) -> Option<String> {
    headers
        .get(MDM_SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn checkin(State(core): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult {
    let body = limited_body(&headers, body, MAX_CHECKIN_BYTES).await?;
    let sig = signature(&headers);
    let reply = blocking(core, move |s| AppleService(s).checkin(sig.as_deref(), &body)).await?;
    Ok(match reply {
        CheckinReply::Ok => StatusCode::OK.into_response(),
        CheckinReply::Gone => StatusCode::GONE.into_response(),
    })
}

async fn command_channel(State(core): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult {
    let body = limited_body(&headers, body, MDM_SERVER_BODY_LIMIT).await?;
    let sig = signature(&headers);
    let next = blocking(core, move |s| {
        AppleService(s).command_report(sig.as_deref(), &body)
    })
    .await?;
    Ok(match next {
        Some(cmd) => typed("application/xml; charset=utf-8", cmd),
        None => StatusCode::OK.into_response(),
    })
}

async fn queue_command(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<QueueCommandRequest>,
) -> ApiResult {
    let pusher = core.pusher.clone();
    let (view, target) = blocking(core, move |s| AppleService(s).queue_command(&id, &req)).await?;
    if let Some(target) = target {
        // A failed push is not a failed queue: the device finds the command when it polls.
        if let Err(e) = pusher.push(&target).await {
            tracing::warn!(error = %e, provider = pusher.name(), "push not delivered");
        }
    }
    Ok(json(StatusCode::CREATED, &view))
}

async fn list_commands(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let list = blocking(core, move |s| AppleService(s).list_commands(&id)).await?;
    Ok(json(StatusCode::OK, &list))
}

async fn mdm_view(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let view = blocking(core, move |s| AppleService(s).mdm_view(&id)).await?;
    Ok(json(StatusCode::OK, &view))
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
