//! The listeners: binds the HTTP socket (and the HTTPS one from `[ssl]`)
//! and serves every accepted connection with actix-http, its stream
//! wrapped in a [`Wire`] so that request lines CouchDB takes parse (see
//! [`super::wire`]). This is what `actix_web::HttpServer` would do, with
//! the wrapping that `HttpServer` has no place for.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::{Duration, Instant};

use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol};
use actix_server::GracefulShutdownSignal;
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt as _};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::body::BoxBody;
use actix_web::dev::{AppConfig, Service as _, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App};
use futures::future::{ready, Either};
use tokio::io::{AsyncRead, AsyncWrite};

use super::wire::{self, Wire};
use super::AppState;

/// Pending connections the kernel queues per listener.
const BACKLOG: u32 = 1024;

/// How long an idle keep-alive connection is kept open.
const KEEP_ALIVE: Duration = Duration::from_secs(300);

/// What to listen on.
pub struct Listen {
    pub bind: String,
    pub port: u16,
    /// The HTTPS port and its TLS configuration.
    pub tls: Option<(u16, rustls::ServerConfig)>,
    pub workers: usize,
}

/// The started server and the addresses it listens on.
pub struct Listening {
    pub server: actix_server::Server,
    pub http: Vec<SocketAddr>,
    pub https: Vec<SocketAddr>,
}

/// Binds the listeners and starts the workers (OS signals are left to
/// the caller; stop through the server's handle).
pub fn start(state: web::Data<AppState>, listen: Listen) -> io::Result<Listening> {
    let mut builder = actix_server::Server::build()
        .workers(listen.workers)
        .backlog(BACKLOG)
        .disable_signals();
    let shutdown = builder.graceful_shutdown_signal();
    let mut http = Vec::new();
    for lst in bind((listen.bind.as_str(), listen.port))? {
        let addr = lst.local_addr()?;
        http.push(addr);
        let (state, shutdown) = (state.clone(), shutdown.clone());
        builder = builder.listen(format!("settee-http-{addr}"), lst, move || {
            let http = http_service(state.clone(), addr, false, shutdown.clone());
            fn_service(|io: TcpStream| async move {
                let peer = io.peer_addr().ok();
                Ok((Wire::new(io), Protocol::Http1, peer))
            })
            .and_then(http)
        })?;
    }
    let mut https = Vec::new();
    if let Some((port, mut tls)) = listen.tls {
        // HTTP/1.1 only, as actix-web's `bind_rustls_0_23` without `http2`.
        tls.alpn_protocols.insert(0, b"http/1.1".to_vec());
        for lst in bind((listen.bind.as_str(), port))? {
            let addr = lst.local_addr()?;
            https.push(addr);
            let (state, shutdown, tls) = (state.clone(), shutdown.clone(), tls.clone());
            builder = builder.listen(format!("settee-https-{addr}"), lst, move || {
                let http = http_service(state.clone(), addr, true, shutdown.clone());
                // A failed or timed-out handshake just drops the connection.
                Acceptor::new(tls.clone())
                    .map_err(|_| ())
                    .and_then(fn_service(|io: TlsStream<TcpStream>| async move {
                        let peer = io.get_ref().0.peer_addr().ok();
                        Ok((Wire::new(io), Protocol::Http1, peer))
                    }))
                    .and_then(http.map_err(|_| ()))
            })?;
        }
    }
    Ok(Listening {
        server: builder.run(),
        http,
        https,
    })
}

/// actix-http over a wrapped stream, serving the App with the settings
/// `HttpServer` used: default keep-alive and request timeout, 1 s to
/// flush before closing, and no half-closed connections (a client that
/// closes its side has gone: its response is dropped at once, so an idle
/// `_changes` feed ends when its listener leaves).
fn http_service<T>(
    state: web::Data<AppState>,
    addr: SocketAddr,
    secure: bool,
    shutdown: GracefulShutdownSignal,
) -> impl ServiceFactory<
    (Wire<T>, Protocol, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let host = addr.to_string();
    // `AppConfig` has no public constructor besides this one, which
    // actix-test uses; `secure` makes `connection_info().scheme()` say
    // "https" (Location headers, Secure cookies), as `HttpServer` does.
    let app = map_config(
        app(state).into_factory().map_err(|e| e.error_response()),
        move |()| AppConfig::__priv_test_new(secure, host.clone(), addr),
    );
    HttpService::build()
        .graceful_shutdown_signal(move || {
            let signal = shutdown.clone();
            async move { signal.notified().await }
        })
        .client_disconnect_timeout(Duration::from_secs(1))
        // Idle keep-alive connections stay open as long as CouchDB keeps
        // them (mochiweb: minutes, not actix's 5 s): CouchDB's replicator
        // pools connections for up to 90 s and does not retry its
        // `_session` login on one that closed under it.
        .keep_alive(KEEP_ALIVE)
        .h1_allow_half_closed(false)
        .local_addr(addr)
        .finish(app)
}

/// The App: Settee's dispatch behind one middleware that answers the
/// requests standing for refused request lines ([`wire::refused`]),
/// applies `X-HTTP-Method-Override`, and logs and counts every request
/// (`_stats`: methods and status codes).
fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = std::sync::Arc::clone(state.store.metrics());
    App::new()
        .wrap_fn(move |mut req, srv| {
            let started = Instant::now();
            let metrics = std::sync::Arc::clone(&metrics);
            let method = req.method().clone();
            let (path, call) = match wire::refused(req.headers()).map(str::to_string) {
                Some(reason) => {
                    let res = super::refused_request_line(req.request(), &reason);
                    let refused = Either::Left(ready(Ok(req.into_response(res))));
                    ("(refused request line)".to_string(), refused)
                }
                None => {
                    let path = req.path().to_string();
                    super::method_override(&mut req);
                    (path, Either::Right(srv.call(req)))
                }
            };
            async move {
                let res = call.await?;
                let status = res.status().as_u16();
                metrics.http.request(method.as_str(), status);
                super::log_request(&method, &path, status, started);
                Ok(res)
            }
        })
        .configure(super::configure(state))
}

/// Binds every address `addr` resolves to, as `HttpServer::bind` does
/// (address reuse, [`BACKLOG`]); an error only when none could be bound.
fn bind(addr: impl ToSocketAddrs) -> io::Result<Vec<TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut listeners = Vec::new();
    let mut last_error = None;
    for addr in addr.to_socket_addrs()? {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .and_then(|socket| {
                socket.set_reuse_address(true)?;
                socket.bind(&addr.into())?;
                socket.listen(BACKLOG as i32)?;
                Ok(socket)
            });
        match socket {
            Ok(socket) => listeners.push(TcpListener::from(socket)),
            Err(e) => last_error = Some(e),
        }
    }
    if listeners.is_empty() {
        return Err(last_error.unwrap_or_else(|| io::Error::other("no address to bind")));
    }
    Ok(listeners)
}
