//! HTTP routes of Samsung KME (`/admin/kme/...`, and move / unassign of bulk profile devices).

use super::KmeService;
use crate::http::{
    blocking, csv_reply, json, page, Admin, ApiJson, ApiResult, AppState, CsvUpload, PathParam, Route,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use enroll_proto::{routes, DeviceIdsRequest, KmeApproveRequest, KmeIntegrationRequest, MoveDevicesRequest};

/// The routes of this domain.
pub(crate) fn table() -> Vec<Route> {
    vec![
        Route::new("POST", routes::ADMIN_BULK_DEVICES_MOVE, post(move_bulk_devices)),
        Route::new(
            "POST",
            routes::ADMIN_BULK_DEVICES_UNASSIGN,
            post(unassign_bulk_devices),
        ),
        Route::new("GET", routes::ADMIN_KME_INTEGRATION, get(kme_integration)),
        Route::new("POST", routes::ADMIN_KME_INTEGRATION, post(enable_kme)),
        Route::new("GET", routes::ADMIN_KME_UPLOADS, get(kme_uploads)),
        Route::new("GET", routes::ADMIN_KME_UPLOADS_CSV, get(export_kme_csv)),
        Route::new("POST", routes::ADMIN_KME_UPLOADS_CSV, post(import_kme_csv)),
        Route::new("POST", routes::ADMIN_KME_APPROVE, post(kme_approve)),
    ]
}

async fn move_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<MoveDevicesRequest>,
) -> ApiResult {
    let resp = blocking(core, move |s| KmeService(s).move_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn unassign_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<DeviceIdsRequest>,
) -> ApiResult {
    let resp = blocking(core, move |s| KmeService(s).unassign_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn kme_integration(_: Admin, State(core): State<AppState>) -> ApiResult {
    let view = blocking(core, |s| KmeService(s).kme_integration()).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn enable_kme(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<KmeIntegrationRequest>,
) -> ApiResult {
    let view = blocking(core, move |s| KmeService(s).enable_kme(&req)).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn kme_uploads(_: Admin, State(core): State<AppState>, uri: axum::http::Uri) -> ApiResult {
    let (offset, limit) = page(&uri)?;
    let list = blocking(core, move |s| KmeService(s).kme_uploads(offset, limit)).await?;
    Ok(json(StatusCode::OK, &list))
}

async fn export_kme_csv(_: Admin, State(core): State<AppState>) -> ApiResult {
    let bytes = blocking(core, |s| KmeService(s).export_kme_csv()).await?;
    Ok(csv_reply(bytes, "kme-unapproved-devices.csv"))
}

async fn import_kme_csv(_: Admin, State(core): State<AppState>, upload: CsvUpload) -> ApiResult {
    let report = blocking(core, move |s| KmeService(s).import_kme_csv(&upload.path)).await?;
    Ok(json(StatusCode::OK, &report))
}

async fn kme_approve(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<KmeApproveRequest>,
) -> ApiResult {
    let resp = blocking(core, move |s| KmeService(s).kme_approve(&req)).await?;
    Ok(json(StatusCode::OK, &resp))
}
