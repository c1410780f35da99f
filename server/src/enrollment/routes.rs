//! HTTP routes of enrollment: the agent's routes (info, enroll, profile, confirm, cancel, first
//! password, check-in, ack, re-enroll) and the CA download (the invitation page `/go` is `crate::portal`'s), and the admin
//! routes of invitations and user tokens.

use super::{limits, validate_idempotency_key, EnrollmentService};
use crate::error::ApiError;
use crate::http::{
    bearer, blocking, image_params, image_reply, json, Admin, ApiJson, ApiResult, AppState, PathParam, Peer,
    Route,
};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use enroll_proto::{
    routes, AckRequest, CancelRequest, CheckinRequest, ConfirmRequest, CreateTokenRequest, EnrollRequest,
    InviteRequest, ReenrollRequest, SetPasswordRequest, IDEMPOTENCY_HEADER, PROFILE_CONTENT_TYPE,
    PROFILE_EXPIRES_HEADER,
};

/// The routes of this domain.
pub(crate) fn table() -> Vec<Route> {
    vec![
        Route::new("GET", routes::INFO, get(info)),
        Route::new("POST", routes::ENROLLMENTS, post(enroll)),
        Route::new("GET", routes::ENROLLMENT_PROFILE, get(profile)),
        Route::new("POST", routes::ENROLLMENT_CANCEL, post(cancel)),
        Route::new("POST", routes::ENROLLMENT_CONFIRM, post(confirm)),
        Route::new("POST", routes::ENROLLMENT_PASSWORD, post(set_password)),
        Route::new("POST", routes::DEVICE_CHECKIN, post(checkin)),
        Route::new("POST", routes::DEVICE_ACK, post(ack)),
        Route::new("POST", routes::DEVICE_REENROLL, post(reenroll)),
        Route::new("POST", routes::ADMIN_INVITATIONS, post(invite)),
        Route::new("POST", routes::ADMIN_TOKENS, post(create_token)),
        Route::new("GET", routes::ADMIN_INVITATION_QR, get(invitation_qr)),
        Route::new("GET", routes::CA_PEM, get(ca_pem)),
    ]
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let v = headers
        .get(IDEMPOTENCY_HEADER)
        .ok_or_else(|| ApiError::bad_request("the idempotency-key header is required"))?;
    let key = v
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid idempotency-key"))?
        .to_string();
    validate_idempotency_key(&key)?;
    Ok(key)
}

async fn info(State(core): State<AppState>) -> Response {
    json(StatusCode::OK, &EnrollmentService(&core).info())
}

async fn enroll(
    State(core): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let (resp, created) = blocking(core, move |s| {
        let keys = limits::keys_of(peer, Some(&req.credential));
        limits::guarded(s, &keys, || EnrollmentService(s).enroll(&key, &req))
    })
    .await?;
    Ok(json(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &resp,
    ))
}

async fn reenroll(
    State(core): State<AppState>,
    Peer(peer): Peer,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReenrollRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let key = idempotency_key(&headers)?;
    let (resp, created) = blocking(core, move |s| {
        let keys = limits::keys_of(peer, None);
        limits::guarded(s, &keys, || {
            EnrollmentService(s).reenroll(&id, Some(&bearer), &key, &req)
        })
    })
    .await?;
    Ok(json(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &resp,
    ))
}

async fn profile(State(core): State<AppState>, PathParam(id): PathParam, headers: HeaderMap) -> ApiResult {
    let bearer = bearer(&headers);
    let (der, expires_at) = blocking(core, move |s| {
        EnrollmentService(s).issue_profile(&id, bearer.as_deref())
    })
    .await?;
    let mut resp = (StatusCode::OK, der).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROFILE_CONTENT_TYPE),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"enroll.mobileconfig\""),
    );
    h.insert(PROFILE_EXPIRES_HEADER, HeaderValue::from(expires_at));
    Ok(resp)
}

async fn confirm(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |s| {
        EnrollmentService(s).confirm(&id, Some(&bearer), &req)
    })
    .await?;
    Ok(json(StatusCode::OK, &resp))
}

/// The first password of a PIN enrollment's user; a wrong bearer counts as a failed guess of
/// the source address (the credential routes' rate limits).
async fn set_password(
    State(core): State<AppState>,
    Peer(peer): Peer,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SetPasswordRequest>,
) -> ApiResult {
    let bearer = bearer(&headers);
    let resp = blocking(core, move |s| {
        let keys = limits::keys_of(peer, None);
        limits::guarded(s, &keys, || {
            EnrollmentService(s).set_enrollment_password(&id, bearer.as_deref(), &req.password)
        })
    })
    .await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn cancel(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CancelRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |s| {
        EnrollmentService(s).cancel(&id, Some(&bearer), &req)
    })
    .await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn checkin(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CheckinRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |s| {
        EnrollmentService(s).checkin(&id, Some(&bearer), &req)
    })
    .await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn ack(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AckRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |s| EnrollmentService(s).ack(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn ca_pem(State(core): State<AppState>) -> Response {
    let mut resp = (StatusCode::OK, core.pki.ca_pem().to_owned()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    resp
}

async fn invite(
    _: Admin,
    State(core): State<AppState>,
    PathParam(email): PathParam,
    ApiJson(req): ApiJson<InviteRequest>,
) -> ApiResult {
    let resp = blocking(core, move |s| EnrollmentService(s).invite(&email, &req)).await?;
    Ok(json(StatusCode::CREATED, &resp))
}

async fn create_token(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult {
    let resp = blocking(core, move |s| EnrollmentService(s).create_token(&req)).await?;
    Ok(json(StatusCode::CREATED, &resp))
}

async fn invitation_qr(
    _: Admin,
    State(core): State<AppState>,
    PathParam(email): PathParam,
    uri: axum::http::Uri,
) -> ApiResult {
    let (format, scale) = image_params(&uri)?;
    let bytes = blocking(core, move |s| {
        EnrollmentService(s).invitation_qr(&email, format, scale)
    })
    .await?;
    Ok(image_reply(bytes, format))
}
