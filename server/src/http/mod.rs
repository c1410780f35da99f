//! HTTP layer shared by every domain: router assembly (`router` merges the routes each domain
//! declares in its `routes.rs`), extractors that answer JSON errors ([`ApiJson`], [`PathParam`],
//! [`Admin`], [`CsvUpload`]), replies and query parameters, the middleware that stamps every
//! reply, the reading of request bodies a refusal left unread (`drain.rs`, so that refusals
//! reach HTTP/2 clients), and the listener (`serve.rs`).
//!
//! Handlers only parse and answer; rules live in the domains' services. Blocking work (SQLite,
//! argon2, signing) runs on tokio's blocking pool (`blocking`). This module knows no domain:
//! the crate root hands it the list of routes.

mod drain;
mod extract;
mod middleware;
mod reply;
pub(crate) mod serve;

pub(crate) use extract::bearer;
pub use extract::{Admin, ApiJson, CsvUpload, PathParam, Peer};
pub(crate) use reply::{csv_reply, image_params, image_reply, json, page, query};

use crate::error::ApiError;
use crate::state::Shared;
use axum::http::Method;
use axum::middleware as layers;
use axum::response::Response;
use axum::routing::MethodRouter;
use axum::Router;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The client certificate (DER) the TLS handshake verified, if the client sent one. Every
/// request of a connection carries the same value.
#[derive(Debug, Clone, Default)]
pub struct PeerCert(pub Option<Arc<Vec<u8>>>);

/// The state every handler receives.
pub(crate) type AppState = Arc<Shared>;

/// One route of a domain: (HTTP method, path template) and its handler.
pub(crate) struct Route {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// Path template, from `enroll_proto::routes`.
    pub path: &'static str,
    /// The handler for that method.
    pub handler: MethodRouter<AppState>,
}

impl Route {
    /// A route of `method` on `path` answered by `handler`.
    pub(crate) fn new(method: &'static str, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method,
            path,
            handler,
        }
    }
}

/// Builds the application router over the shared state from every domain's routes.
pub(crate) fn router(core: AppState, routes: Vec<Route>) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for Route {
        path, handler: mr, ..
    } in routes
    {
        let merged = match by_path.remove(path) {
            Some(existing) => existing.merge(mr),
            None => mr,
        };
        by_path.insert(path, merged);
    }
    let mut router = Router::new();
    for (path, mr) in by_path {
        router = router.route(path, mr);
    }
    router
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(layers::from_fn(middleware::log_request))
        .layer(layers::from_fn(drain::drain_unread))
        .layer(layers::map_response(middleware::stamp))
        .with_state(core)
}

/// Runs `f` on the blocking thread pool.
pub(crate) async fn blocking<T, F>(core: AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&core))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

/// What a handler answers.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// Methods used in [`crate::route_table`], for tests that walk it.
pub fn parse_method(m: &str) -> Option<Method> {
    match m {
        "GET" => Some(Method::GET),
        "POST" => Some(Method::POST),
        "PUT" => Some(Method::PUT),
        "PATCH" => Some(Method::PATCH),
        "DELETE" => Some(Method::DELETE),
        _ => None,
    }
}
