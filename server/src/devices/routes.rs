//! HTTP routes of the device registry (admin): listing, detail, retire / wipe / reset, pending
//! installs.

use super::DeviceService;
use crate::error::ApiError;
use crate::http::{blocking, json, Admin, ApiResult, AppState, PathParam, Route};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use enroll_proto::{routes, DeviceAction};

/// The routes of this domain.
pub(crate) fn table() -> Vec<Route> {
    vec![
        Route::new("GET", routes::ADMIN_DEVICES, get(list_devices)),
        Route::new("GET", routes::ADMIN_DEVICE, get(device_detail)),
        Route::new("POST", routes::ADMIN_DEVICE_RETIRE, post(retire)),
        Route::new("POST", routes::ADMIN_DEVICE_WIPE, post(wipe)),
        Route::new("POST", routes::ADMIN_DEVICE_RESET, post(reset)),
        Route::new("GET", routes::ADMIN_PENDING, get(pending)),
    ]
}

/// Reads `include_archived` from the query string (`true`/`1`/`false`/`0`).
fn include_archived(uri: &axum::http::Uri) -> Result<bool, ApiError> {
    let mut value = false;
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k == "include_archived" {
            value = match v.as_ref() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(ApiError::bad_request("include_archived must be true or false")),
            };
        }
    }
    Ok(value)
}

async fn list_devices(_: Admin, State(core): State<AppState>, uri: axum::http::Uri) -> ApiResult {
    let archived = include_archived(&uri)?;
    let devices = blocking(core, move |s| DeviceService(s).list_devices(archived)).await?;
    Ok(json(StatusCode::OK, &devices))
}

async fn device_detail(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let detail = blocking(core, move |s| DeviceService(s).device_detail(&id)).await?;
    Ok(json(StatusCode::OK, &detail))
}

async fn action(core: AppState, id: String, action: DeviceAction) -> ApiResult {
    let view = blocking(core, move |s| DeviceService(s).device_action(&id, action)).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn retire(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    action(core, id, DeviceAction::Retire).await
}

async fn wipe(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    action(core, id, DeviceAction::Wipe).await
}

async fn reset(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    action(core, id, DeviceAction::Reset).await
}

async fn pending(_: Admin, State(core): State<AppState>) -> ApiResult {
    let list = blocking(core, |s| DeviceService(s).pending_installs()).await?;
    Ok(json(StatusCode::OK, &list))
}
