//! HTTP routes of user accounts (admin).

use super::UserService;
use crate::http::{blocking, json, Admin, ApiJson, ApiResult, AppState, Route};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use enroll_proto::{routes, CreateUserRequest};

/// The routes of this domain.
pub(crate) fn table() -> Vec<Route> {
    vec![
        Route::new("POST", routes::ADMIN_USERS, post(create_user)),
        Route::new("GET", routes::ADMIN_USERS, get(list_users)),
    ]
}

async fn create_user(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult {
    let user = blocking(core, move |s| UserService(s).create_user(&req)).await?;
    Ok(json(StatusCode::CREATED, &user))
}

async fn list_users(_: Admin, State(core): State<AppState>) -> ApiResult {
    let users = blocking(core, |s| UserService(s).list_users()).await?;
    Ok(json(StatusCode::OK, &users))
}
