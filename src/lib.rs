//! Settee: a CouchDB-compatible document database server.
//!
//! Layers, top to bottom: [`http`] (actix handlers), [`couch`] (the pure
//! document and revision model), [`storage`] (sled). [`Server::start`]
//! wires them together; the binary and the integration tests both use it.

pub mod auth;
pub mod config;
pub mod couch;
pub mod error;
pub mod fauxton;
pub mod http;
pub mod ini;
pub mod logging;
pub mod metrics;
pub mod service;
pub mod settings;
pub mod storage;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::web;

use crate::config::Config;
use crate::http::AppState;
use crate::storage::Store;

/// A running Settee server.
pub struct Server {
    addr: SocketAddr,
    /// The HTTPS listener, when `[ssl]` has a certificate and key.
    tls_addr: Option<SocketAddr>,
    server: actix_server::Server,
    store: Arc<Store>,
}

impl Server {
    /// Loads the settings, opens storage, binds the listeners and starts
    /// serving (`http::serve`).
    pub async fn start(config: Config) -> std::io::Result<Server> {
        let settings = Arc::new(settings::Runtime::start(&config)?);
        let snapshot = settings.snapshot();
        let setting = |section: &str, key: &str| snapshot.get(section, key).unwrap_or("");
        let bind = setting("chttpd", "bind_address").to_string();
        let port: u16 = setting("chttpd", "port").parse().map_err(|_| {
            std::io::Error::other(format!(
                "[chttpd] port: not a port number: {:?}",
                setting("chttpd", "port")
            ))
        })?;
        let data_dir = std::path::PathBuf::from(setting("couchdb", "database_dir"));
        let store = Store::open(&data_dir, config.in_memory, config.cache_mb)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let uuid = store
            .server_uuid()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        settings
            .set_default("couchdb", "uuid", &uuid)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let auth_settings = &snapshot.auth.settings;
        service::users::ensure_db(&store, &auth_settings.authentication_db)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let tls = match &auth_settings.tls {
            Some(t) => Some((t.port, http::tls::server_config(&t.cert_file, &t.key_file)?)),
            None => None,
        };
        let listen = http::serve::Listen {
            bind: bind.clone(),
            port,
            tls,
            workers,
        };
        let listening_store = Arc::clone(&store);
        settings.listen(Box::new(move |old, new| {
            if old.log_level != new.log_level || std::ptr::eq(old, new) {
                logging::apply_level(new.log_level.as_deref());
            }
            listening_store.set_default_security(new.default_security);
        }));
        let state = web::Data::new(AppState {
            store: Arc::clone(&store),
            config,
            uuid,
            settings: Arc::clone(&settings),
            docs: service::Service::new(Arc::clone(&store), Arc::clone(&settings)),
            user_docs: http::auth::UserDocs::default(),
        });
        let listening = http::serve::start(state, listen)?;
        let addr = listening
            .http
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("no listening address"))?;
        let tls_addr = listening.https.first().copied();
        if addr.port() != port {
            // `--port 0`: the port the system chose is the one to show
            settings
                .set_command_line("chttpd", "port", &addr.port().to_string())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        let server = listening.server;
        Ok(Server {
            addr,
            tls_addr,
            server,
            store,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://ADDR:PORT`, when HTTPS is configured.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_addr.map(|a| format!("https://{a}"))
    }

    /// Serves until the process is stopped, then flushes storage.
    pub async fn wait(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = self.server;
        let stop = async move {
            let _ = tokio::signal::ctrl_c().await;
            handle.stop(true).await;
        };
        let (res, _) = futures::join!(server, stop);
        let _ = self.store.commit().sync().await;
        res
    }

    /// A handle to stop the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Runs the server on the current actix system until stopped.
    pub fn into_future(self) -> actix_web::dev::Server {
        self.server
    }
}
