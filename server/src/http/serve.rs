//! The listener: TLS (rustls with the ring provider) or loopback-only plain HTTP, HTTP/1.1 and
//! HTTP/2 through hyper-util, with graceful shutdown.
//!
//! TLS asks for a client certificate without requiring one: a certificate chaining to the root
//! CA or the device-identity (SCEP) CA is verified during the handshake (one we did not issue
//! ends the handshake), and its DER reaches the handlers as [`super::PeerCert`]. Only routes
//! that need it (Windows OMA-DM management) look at it; every other client sends none.

use crate::{App, ServerConfig, ServerError};
use enroll_proto::secret::SecretString;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A server that is listening. Dropping it without [`RunningServer::shutdown`] leaves the
/// listener task running until the runtime stops.
pub struct RunningServer {
    app: App,
    local_addr: SocketAddr,
    base_url: String,
    shutdown_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

/// What the listener counted since it started (benchmarks count round trips with it).
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
}

/// A snapshot of the listener's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// TCP connections accepted (each one TLS handshake unless `insecure_http`).
    pub connections: u64,
    /// HTTP requests received (each one round trip), every route and status.
    pub requests: u64,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `https://<local address>` (or `http://` with `insecure_http`), no trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The CA certificate, PEM.
    pub fn ca_cert_pem(&self) -> String {
        self.app.pki().ca_pem().to_owned()
    }

    /// The CA certificate, DER.
    pub fn ca_cert_der(&self) -> Vec<u8> {
        self.app.pki().ca_der().to_vec()
    }

    /// SHA-256 fingerprint of the CA certificate, upper-case hex pairs joined by `:`.
    pub fn ca_fingerprint(&self) -> String {
        self.app.pki().ca_fingerprint()
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &SecretString {
        self.app.admin_token()
    }

    /// The application behind the listener.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Connections and requests counted since start.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.counters.connections.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, lets open connections finish (5 s at most) and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        let _ = self.task.await;
    }
}

pub(crate) async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let listener = TcpListener::bind(config.bind).await?;
    let local_addr = listener.local_addr()?;
    let scheme = if config.insecure_http { "http" } else { "https" };
    let base_url = format!("{scheme}://{local_addr}");
    let app = {
        let config = config.clone();
        let base_url = base_url.clone();
        tokio::task::spawn_blocking(move || App::open(&config, &base_url))
            .await
            .map_err(|e| ServerError::Config(format!("start-up task failed: {e}")))??
    };
    let acceptor = if config.insecure_http {
        tracing::warn!(%local_addr, "serving plain HTTP on loopback (insecure_http)");
        None
    } else {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_client_cert_verifier(client_verifier(&app, provider_for_verifier())?)
            .with_single_cert(app.pki().server_cert_chain(), app.pki().server_key())
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Some(TlsAcceptor::from(Arc::new(tls)))
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let router = app.router();
    let counters = Arc::new(Counters::default());
    let task = tokio::spawn(serve_loop(
        listener,
        acceptor,
        router,
        shutdown_rx,
        counters.clone(),
    ));
    tracing::info!(%local_addr, %base_url, "enrollment server listening");
    Ok(RunningServer {
        app,
        local_addr,
        base_url,
        shutdown_tx,
        task,
        counters,
    })
}

fn provider_for_verifier() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Optional client certificates: verified against the root CA and the device-identity CA.
fn client_verifier(
    app: &App,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, ServerError> {
    let mut roots = rustls::RootCertStore::empty();
    for der in [app.pki().ca_der(), app.pki().scep_ca().cert_der()] {
        roots
            .add(rustls_pki_types::CertificateDer::from(der.to_vec()))
            .map_err(|e| ServerError::Tls(e.to_string()))?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| ServerError::Tls(e.to_string()))
}

async fn serve_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: axum::Router,
    mut shutdown_rx: watch::Receiver<bool>,
    counters: Arc<Counters>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown_rx.changed() => break,
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        // Replies go out as soon as they are written (no Nagle wait for the client's ACK).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "TCP_NODELAY refused");
        }
        let per_request = counters.clone();
        let router = router.clone();
        // The peer address (rate limits per source address) and certificate for the handlers.
        let service_for = move |cert: super::PeerCert| {
            TowerToHyperService::new(tower::ServiceExt::map_request(
                router,
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    per_request.requests.fetch_add(1, Ordering::Relaxed);
                    req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    req.extensions_mut().insert(cert.clone());
                    req
                },
            ))
        };
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            match acceptor {
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let cert = super::PeerCert(
                        tls.get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|c| Arc::new(c.as_ref().to_vec())),
                    );
                    let service = service_for(cert);
                    let conn = builder.serve_connection(TokioIo::new(tls), service).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                None => {
                    let service = service_for(super::PeerCert(None));
                    let conn = builder.serve_connection(TokioIo::new(tcp), service).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("connections still open at shutdown"),
    }
}
