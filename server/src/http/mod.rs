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

/// Runs `f` on the blocking thread pool, once one of the server's turns for blocking work is
/// free (`ServerConfig::blocking_limit`; the request waits as a task, holding no thread). The
/// turn is held until `f` returns, even when the client has gone meanwhile.
pub(crate) async fn blocking<T, F>(core: AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
{
    let turn = match &core.blocking {
        Some(turns) => Some(
            turns
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| ApiError::internal(&e))?,
        ),
        None => None,
    };
    tokio::task::spawn_blocking(move || {
        let out = f(&core);
        drop(turn);
        out
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{App, ServerConfig};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs 12 blocking jobs of 30 ms at once and returns how many ran at the same time, at most.
    async fn peak_concurrency(limit: usize) -> usize {
        let dir = std::env::temp_dir().join(format!("enroll-blocking-{}", uuid::Uuid::new_v4()));
        let mut config = ServerConfig::new(&dir);
        config.blocking_limit = limit;
        let app = App::open(&config, "https://127.0.0.1:8443").unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (core, running, peak) = (app.core.clone(), running.clone(), peak.clone());
            jobs.spawn(blocking(core, move |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }));
        }
        while let Some(r) = jobs.join_next().await {
            r.unwrap().unwrap();
        }
        drop(app);
        let _ = std::fs::remove_dir_all(dir);
        peak.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_work_is_bounded_by_the_limit() {
        assert!(peak_concurrency(3).await <= 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_limit_every_request_takes_a_thread() {
        // The check that the bounded test above could fail: unbounded, more than 3 overlap.
        assert!(peak_concurrency(0).await > 3);
    }
}
