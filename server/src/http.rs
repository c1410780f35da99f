//! HTTP layer: the route table, handlers, extractors that answer JSON errors, and the
//! middleware that stamps every reply.
//!
//! Handlers only parse and answer; rules live in `service`. Blocking work (SQLite, argon2,
//! signing) runs on tokio's blocking pool.

use crate::error::ApiError;
use crate::service::Core;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use enroll_core::protocol::{
    routes, AckRequest, CancelRequest, CheckinRequest, ConfirmRequest, CreateTokenRequest, CreateUserRequest,
    DeviceAction, EnrollRequest, ErrorCode, InviteRequest, ReenrollRequest, IDEMPOTENCY_HEADER,
    JSON_CONTENT_TYPE, MAX_BODY_BYTES, PROFILE_CONTENT_TYPE, PROFILE_EXPIRES_HEADER, PROTOCOL_HEADER,
    PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

type AppState = Arc<Core>;

/// Every route the server answers, as (HTTP method, path template). The router is built from
/// this table and `docs/openapi.json` must list exactly the same pairs (a test checks both).
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GET", routes::INFO),
        ("POST", routes::ENROLLMENTS),
        ("GET", routes::ENROLLMENT_PROFILE),
        ("POST", routes::ENROLLMENT_CANCEL),
        ("POST", routes::ENROLLMENT_CONFIRM),
        ("POST", routes::DEVICE_CHECKIN),
        ("POST", routes::DEVICE_ACK),
        ("POST", routes::DEVICE_REENROLL),
        ("POST", routes::ADMIN_USERS),
        ("GET", routes::ADMIN_USERS),
        ("POST", routes::ADMIN_INVITATIONS),
        ("POST", routes::ADMIN_TOKENS),
        ("GET", routes::ADMIN_DEVICES),
        ("GET", routes::ADMIN_DEVICE),
        ("POST", routes::ADMIN_DEVICE_RETIRE),
        ("POST", routes::ADMIN_DEVICE_WIPE),
        ("POST", routes::ADMIN_DEVICE_RESET),
        ("GET", routes::ADMIN_PENDING),
        ("GET", routes::GO),
        ("GET", routes::CA_PEM),
    ]
}

/// The handler of one (method, path) of [`route_table`].
fn method_router(method: &str, path: &str) -> Option<MethodRouter<AppState>> {
    let r = match (method, path) {
        ("GET", routes::INFO) => get(info),
        ("POST", routes::ENROLLMENTS) => post(enroll),
        ("GET", routes::ENROLLMENT_PROFILE) => get(profile),
        ("POST", routes::ENROLLMENT_CANCEL) => post(cancel),
        ("POST", routes::ENROLLMENT_CONFIRM) => post(confirm),
        ("POST", routes::DEVICE_CHECKIN) => post(checkin),
        ("POST", routes::DEVICE_ACK) => post(ack),
        ("POST", routes::DEVICE_REENROLL) => post(reenroll),
        ("POST", routes::ADMIN_USERS) => post(create_user),
        ("GET", routes::ADMIN_USERS) => get(list_users),
        ("POST", routes::ADMIN_INVITATIONS) => post(invite),
        ("POST", routes::ADMIN_TOKENS) => post(create_token),
        ("GET", routes::ADMIN_DEVICES) => get(list_devices),
        ("GET", routes::ADMIN_DEVICE) => get(device_detail),
        ("POST", routes::ADMIN_DEVICE_RETIRE) => post(retire),
        ("POST", routes::ADMIN_DEVICE_WIPE) => post(wipe),
        ("POST", routes::ADMIN_DEVICE_RESET) => post(reset),
        ("GET", routes::ADMIN_PENDING) => get(pending),
        ("GET", routes::GO) => get(go_page),
        ("GET", routes::CA_PEM) => get(ca_pem),
        _ => return None,
    };
    Some(r)
}

/// Builds the application router over the shared state.
pub(crate) fn router(core: AppState) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for (method, path) in route_table() {
        match method_router(method, path) {
            Some(mr) => {
                let merged = match by_path.remove(path) {
                    Some(existing) => existing.merge(mr),
                    None => mr,
                };
                by_path.insert(path, merged);
            }
            None => tracing::error!(method, path, "route without handler"),
        }
    }
    let mut router = Router::new();
    for (path, mr) in by_path {
        router = router.route(path, mr);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .layer(middleware::map_response(stamp))
        .with_state(core)
}

// ---------------------------------------------------------------------------------------------
// middleware and fallbacks

async fn stamp(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    // The route template, never the concrete path or query (they may carry identifiers).
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        %method,
        route = route.as_deref().unwrap_or("<unmatched>"),
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::bad_request("method not allowed on this route").with_status(StatusCode::METHOD_NOT_ALLOWED)
}

// ---------------------------------------------------------------------------------------------
// extractors

/// A JSON body, limited to `MAX_BODY_BYTES`; every failure is a JSON error (`payload_too_large`
/// or `bad_request`), never a plain-text rejection.
pub struct ApiJson<T>(pub T);

fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = e.source();
    }
    false
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|e| {
                let inner = e.into_inner();
                if is_length_limit(inner.as_ref()) {
                    too_large()
                } else {
                    ApiError::bad_request("could not read the request body")
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("a JSON body is required"));
        }
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            // serde's messages can quote input values (maybe secrets): keep only safe parts.
            let msg = e.to_string();
            let detail = if msg.starts_with("missing field") || msg.starts_with("unknown field") {
                msg.split(" at line").next().unwrap_or("invalid JSON").to_string()
            } else {
                match e.classify() {
                    serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                        "malformed JSON".into()
                    }
                    _ => "JSON does not match the expected shape".into(),
                }
            };
            ApiError::bad_request(format!("{detail} (line {}, column {})", e.line(), e.column()))
        })
    }
}

/// The single `{id}` / `{email}` path parameter, percent-decoded.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|_| ApiError::bad_request("invalid path parameter"))
    }
}

/// Proof that the request carries the admin token (`Authorization: Bearer <admin token>`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.admin_ok(bearer(&parts.headers).as_deref()) {
            Ok(Admin)
        } else {
            Err(ApiError::new(ErrorCode::Unauthorized, "admin token required"))
        }
    }
}

/// The `Authorization: Bearer` value, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = rest.trim();
        (!token.is_empty()).then(|| token.to_string())
    } else {
        None
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let v = headers
        .get(IDEMPOTENCY_HEADER)
        .ok_or_else(|| ApiError::bad_request("the idempotency-key header is required"))?;
    let key = v
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid idempotency-key"))?
        .to_string();
    crate::service::validate_idempotency_key(&key)?;
    Ok(key)
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut resp = (status, bytes).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
            resp
        }
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

async fn blocking<T, F>(core: AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Core) -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&core))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

type ApiResult = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------------
// public and device handlers

async fn info(State(core): State<AppState>) -> Response {
    json(StatusCode::OK, &core.info())
}

async fn enroll(
    State(core): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let (resp, created) = blocking(core, move |c| c.enroll(&key, &req)).await?;
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
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReenrollRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let key = idempotency_key(&headers)?;
    let (resp, created) = blocking(core, move |c| c.reenroll(&id, Some(&bearer), &key, &req)).await?;
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
    let (der, expires_at) = blocking(core, move |c| c.issue_profile(&id, bearer.as_deref())).await?;
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
    let resp = blocking(core, move |c| c.confirm(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn cancel(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CancelRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |c| c.cancel(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn checkin(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CheckinRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |c| c.checkin(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn ack(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AckRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |c| c.ack(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

const GO_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Enroll your device</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 2em auto; padding: 0 1em">
<h1>Enroll your device</h1>
<p>Open this link <strong>on the device you want to enroll</strong>, in the enrollment app.
If you received it on a computer, type the address into the browser of your phone or tablet.</p>
<p>Sign in with your e-mail address and the one-time PIN or the password from your invitation
(directory accounts use their network credentials). The app then downloads a management profile:
install it within a few minutes, before it expires.</p>
<p lang="fr">Ouvrez ce lien <strong>sur l'appareil à inscrire</strong>, dans l'application d'inscription,
puis installez le profil de gestion dans les minutes qui suivent.</p>
</body></html>
"#;

async fn go_page() -> Response {
    let mut resp = (StatusCode::OK, GO_PAGE).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    resp
}

async fn ca_pem(State(core): State<AppState>) -> Response {
    let mut resp = (StatusCode::OK, core.pki.ca_pem().to_owned()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    resp
}

// ---------------------------------------------------------------------------------------------
// admin handlers

async fn create_user(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult {
    let user = blocking(core, move |c| c.create_user(&req)).await?;
    Ok(json(StatusCode::CREATED, &user))
}

async fn list_users(_: Admin, State(core): State<AppState>) -> ApiResult {
    let users = blocking(core, |c| c.list_users()).await?;
    Ok(json(StatusCode::OK, &users))
}

async fn invite(
    _: Admin,
    State(core): State<AppState>,
    PathParam(email): PathParam,
    ApiJson(req): ApiJson<InviteRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.invite(&email, &req)).await?;
    Ok(json(StatusCode::CREATED, &resp))
}

async fn create_token(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.create_token(&req)).await?;
    Ok(json(StatusCode::CREATED, &resp))
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
    let devices = blocking(core, move |c| c.list_devices(archived)).await?;
    Ok(json(StatusCode::OK, &devices))
}

async fn device_detail(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let detail = blocking(core, move |c| c.device_detail(&id)).await?;
    Ok(json(StatusCode::OK, &detail))
}

async fn action(core: AppState, id: String, action: DeviceAction) -> ApiResult {
    let view = blocking(core, move |c| c.device_action(&id, action)).await?;
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
    let list = blocking(core, |c| c.pending_installs()).await?;
    Ok(json(StatusCode::OK, &list))
}

/// Methods used in [`route_table`], for tests that walk it.
pub fn parse_method(m: &str) -> Option<Method> {
    match m {
        "GET" => Some(Method::GET),
        "POST" => Some(Method::POST),
        _ => None,
    }
}
