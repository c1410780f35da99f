//! HTTP routes of bulk enrollment (`/admin/bulk/...`, except move and unassign: `crate::kme`).

use super::BulkService;
use crate::error::ApiError;
use crate::http::{
    blocking, csv_reply, image_params, image_reply, json, page, query, Admin, ApiJson, ApiResult, AppState,
    CsvUpload, PathParam, Route,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use enroll_proto::{
    routes, AddBulkDevicesRequest, BulkTokenRequest, CreateBulkProfileRequest, DeviceIdsRequest,
    EditBulkDevicesRequest, UpdateBulkProfileRequest,
};

/// The routes of this domain.
pub(crate) fn table() -> Vec<Route> {
    vec![
        Route::new("GET", routes::ADMIN_BULK_TEMPLATE, get(bulk_template)),
        Route::new("GET", routes::ADMIN_BULK_PROFILES, get(list_bulk_profiles)),
        Route::new("POST", routes::ADMIN_BULK_PROFILES, post(create_bulk_profile)),
        Route::new("GET", routes::ADMIN_BULK_PROFILE, get(bulk_profile)),
        Route::new("PATCH", routes::ADMIN_BULK_PROFILE, patch(update_bulk_profile)),
        Route::new("DELETE", routes::ADMIN_BULK_PROFILE, delete(delete_bulk_profile)),
        Route::new("POST", routes::ADMIN_BULK_TOKEN, post(bulk_token)),
        Route::new("GET", routes::ADMIN_BULK_DEVICES, get(list_bulk_devices)),
        Route::new("POST", routes::ADMIN_BULK_DEVICES, post(add_bulk_devices)),
        Route::new("PATCH", routes::ADMIN_BULK_DEVICES, patch(edit_bulk_devices)),
        Route::new("GET", routes::ADMIN_BULK_DEVICES_CSV, get(export_bulk_csv)),
        Route::new("POST", routes::ADMIN_BULK_DEVICES_CSV, post(import_bulk_csv)),
        Route::new(
            "POST",
            routes::ADMIN_BULK_DEVICES_DELETE,
            post(delete_bulk_devices),
        ),
        Route::new("GET", routes::ADMIN_BULK_PROVISIONING, get(bulk_provisioning)),
        Route::new("GET", routes::ADMIN_BULK_QR, get(bulk_qr)),
        Route::new("GET", routes::DPC_PACKAGE, get(dpc_package)),
    ]
}

/// `GET /dpc/enroll-agent.apk`: the DPC package devices download during QR provisioning.
async fn dpc_package(State(core): State<AppState>) -> ApiResult {
    match &core.dpc_package {
        Some(bytes) => {
            let mut resp = (StatusCode::OK, bytes.to_vec()).into_response();
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/vnd.android.package-archive"),
            );
            Ok(resp)
        }
        None => Err(ApiError::not_found(
            "this server serves no DPC package: start it with `--dpc-apk FILE`, or give the devices another \
             download location with `--dpc-download-url`",
        )),
    }
}

async fn bulk_template(_: Admin) -> Response {
    csv_reply(super::template(), "bulk-enrollment-template.csv")
}

async fn list_bulk_profiles(_: Admin, State(core): State<AppState>) -> ApiResult {
    let list = blocking(core, |s| BulkService(s).list_bulk_profiles()).await?;
    Ok(json(StatusCode::OK, &list))
}

async fn create_bulk_profile(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<CreateBulkProfileRequest>,
) -> ApiResult {
    let detail = blocking(core, move |s| BulkService(s).create_bulk_profile(&req)).await?;
    Ok(json(StatusCode::CREATED, &detail))
}

async fn bulk_profile(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let detail = blocking(core, move |s| BulkService(s).bulk_profile(&id)).await?;
    Ok(json(StatusCode::OK, &detail))
}

async fn update_bulk_profile(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<UpdateBulkProfileRequest>,
) -> ApiResult {
    let detail = blocking(core, move |s| BulkService(s).update_bulk_profile(&id, &req)).await?;
    Ok(json(StatusCode::OK, &detail))
}

async fn delete_bulk_profile(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    blocking(core, move |s| BulkService(s).delete_bulk_profile(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn bulk_token(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<BulkTokenRequest>,
) -> ApiResult {
    let resp = blocking(core, move |s| BulkService(s).bulk_token(&id, &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn list_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    uri: axum::http::Uri,
) -> ApiResult {
    let (offset, limit) = page(&uri)?;
    let list = blocking(core, move |s| {
        BulkService(s).list_bulk_devices(&id, offset, limit)
    })
    .await?;
    Ok(json(StatusCode::OK, &list))
}

async fn add_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<AddBulkDevicesRequest>,
) -> ApiResult {
    let report = blocking(core, move |s| BulkService(s).add_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &report))
}

async fn edit_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<EditBulkDevicesRequest>,
) -> ApiResult {
    let list = blocking(core, move |s| BulkService(s).edit_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &list))
}

async fn export_bulk_csv(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let bytes = blocking(core, move |s| BulkService(s).export_bulk_csv(&id)).await?;
    Ok(csv_reply(bytes, "bulk-enrollment-inventory.csv"))
}

async fn import_bulk_csv(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    uri: axum::http::Uri,
    upload: CsvUpload,
) -> ApiResult {
    let q = query(&uri, &["mode", "delimiter"])?;
    let replace = match q.get("mode").map(String::as_str) {
        None | Some("append") => false,
        Some("replace") => true,
        Some(_) => return Err(ApiError::bad_request("mode must be append or replace")),
    };
    let delimiter = match q.get("delimiter").map(String::as_str) {
        None | Some("auto") => None,
        Some("," | "comma") => Some(b','),
        Some(";" | "semicolon") => Some(b';'),
        Some("\t" | "tab") => Some(b'\t'),
        Some(_) => {
            return Err(ApiError::bad_request(
                "delimiter must be auto, comma (,), semicolon (;) or tab",
            ))
        }
    };
    // The import runs to its end even when the client goes away meanwhile (the blocking task is
    // not cancelled); it logs `CSV imported` (`bulk::inventory`) either way.
    let report = blocking(core, move |s| {
        BulkService(s).import_bulk_csv(&id, &upload.path, replace, delimiter)
    })
    .await?;
    Ok(json(StatusCode::OK, &report))
}

async fn delete_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<DeviceIdsRequest>,
) -> ApiResult {
    let resp = blocking(core, move |s| BulkService(s).delete_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn bulk_provisioning(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let resp = blocking(core, move |s| BulkService(s).bulk_provisioning(&id)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn bulk_qr(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    uri: axum::http::Uri,
) -> ApiResult {
    let (format, scale) = image_params(&uri)?;
    let bytes = blocking(core, move |s| BulkService(s).bulk_qr(&id, format, scale)).await?;
    Ok(image_reply(bytes, format))
}
