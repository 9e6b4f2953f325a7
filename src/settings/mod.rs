//! Runtime configuration, as CouchDB's `config` application keeps it: one
//! store of settings (sections → keys → values) that `/_node/{node}/_config`
//! reads and changes, and that every part of Settee reads through a typed
//! [`Snapshot`].
//!
//! - [`store`]: the values in layers (built-in defaults, the ini file,
//!   the command line) and the ini file changes are persisted to;
//! - [`snapshot`]: the typed settings, rebuilt on every change and
//!   swapped in atomically (`ArcSwap`), so requests read them without a lock;
//! - [`Runtime`]: both, the uuid generator, and the listeners that apply a
//!   change elsewhere (the log filter, the `_security` of new databases).
//!
//! Changes are serialised by one mutex; reads never wait for it.

pub mod snapshot;
pub mod store;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::couch::uuids::{self, Generator};
use crate::error::{Error, Result};
use crate::ini::Sections;
pub use snapshot::Snapshot;
use snapshot::{BuildContext, DEFAULT_NODE_NAME};
use store::ConfigStore;

/// Called after every change with the old and the new settings.
pub type Listener = Box<dyn Fn(&Snapshot, &Snapshot) + Send + Sync>;

/// The settings of a running server.
pub struct Runtime {
    current: ArcSwap<Snapshot>,
    store: Mutex<ConfigStore>,
    ctx: BuildContext,
    uuids: Mutex<Generator>,
    listeners: Mutex<Vec<Listener>>,
}

fn set(values: &mut Sections, section: &str, key: &str, value: &str) {
    values
        .entry(section.to_string())
        .or_default()
        .insert(key.to_string(), value.to_string());
}

/// The values Settee starts with when neither the file nor the command
/// line sets them: those of CouchDB's `default.ini` that Settee uses,
/// and Settee's own.
fn defaults() -> Sections {
    let mut d = Sections::new();
    set(&mut d, "chttpd", "bind_address", "127.0.0.1");
    set(&mut d, "chttpd", "port", "5984");
    set(&mut d, "couchdb", "database_dir", "./data");
    set(&mut d, "chttpd_auth", "hash_algorithms", "sha256, sha");
    set(&mut d, "vendor", "name", "Settee");
    set(&mut d, "vendor", "version", env!("CARGO_PKG_VERSION"));
    set(&mut d, "settee", "node_name", DEFAULT_NODE_NAME);
    d
}

/// The values the command line (and `SETTEE_*` variables) set.
fn command_line(config: &Config) -> Sections {
    let mut c = Sections::new();
    if let Some(bind) = &config.bind {
        set(&mut c, "chttpd", "bind_address", bind);
    }
    if let Some(port) = config.port {
        set(&mut c, "chttpd", "port", &port.to_string());
    }
    if let Some(dir) = &config.data_dir {
        set(&mut c, "couchdb", "database_dir", &dir.to_string_lossy());
    }
    if let Some(n) = config.max_document_size {
        set(&mut c, "couchdb", "max_document_size", &n.to_string());
    }
    if let Some(n) = config.max_http_request_size {
        set(&mut c, "chttpd", "max_http_request_size", &n.to_string());
    }
    if let Some(name) = &config.node_name {
        set(&mut c, "settee", "node_name", name);
    }
    c
}

impl Runtime {
    /// Loads the settings of a server from its defaults, `--config` file
    /// and command line; refuses a server without admins unless
    /// `--admin-party` is given.
    pub fn start(config: &Config) -> std::io::Result<Runtime> {
        let store = ConfigStore::open(
            defaults(),
            command_line(config),
            &config.admins,
            config.config_file.clone(),
        )
        .map_err(std::io::Error::other)?;
        let ctx = BuildContext {
            admin_party: config.admin_party,
            fallback_secret: crate::auth::settings::random_secret(),
        };
        let snapshot =
            Snapshot::build(store.values().clone(), &ctx, None).map_err(std::io::Error::other)?;
        snapshot
            .auth
            .settings
            .require_admins()
            .map_err(std::io::Error::other)?;
        if snapshot.auth.settings.admin_party() {
            tracing::warn!(
                "ADMIN PARTY: no server admin is configured and --admin-party was given; \
                 every request, from anyone, is a server admin"
            );
        } else if config.admin_party {
            tracing::warn!("--admin-party ignored: server admins are configured");
        }
        let generator = Generator::new(
            &snapshot.uuid_algorithm,
            uuids::now_micros(),
            &mut rand::thread_rng(),
        );
        Ok(Runtime {
            current: ArcSwap::from_pointee(snapshot),
            store: Mutex::new(store),
            ctx,
            uuids: Mutex::new(generator),
            listeners: Mutex::new(Vec::new()),
        })
    }

    /// The current settings.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Registers a listener, and calls it once with the current settings.
    pub fn listen(&self, listener: Listener) {
        let now = self.snapshot();
        listener(&now, &now);
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// The file changes are persisted to, if any.
    pub fn file(&self) -> Option<PathBuf> {
        self.lock_store().file().map(|p| p.to_path_buf())
    }

    fn lock_store(&self) -> MutexGuard<'_, ConfigStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds the snapshot from the store, swaps it in and tells the
    /// listeners; a change in `[uuids]` restarts the uuid generator.
    fn publish(&self, store: &ConfigStore) -> Result<()> {
        let old = self.snapshot();
        let new = Snapshot::build(store.values().clone(), &self.ctx, Some(&old))
            .map_err(Error::BadRequest)?;
        if old.values.get("uuids") != new.values.get("uuids") {
            *self.uuids.lock().unwrap_or_else(|p| p.into_inner()) = Generator::new(
                &new.uuid_algorithm,
                uuids::now_micros(),
                &mut rand::thread_rng(),
            );
        }
        let new = Arc::new(new);
        self.current.store(Arc::clone(&new));
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            listener(&old, &new);
        }
        Ok(())
    }

    /// Sets a built-in default known only at start (the server's uuid).
    pub fn set_default(&self, section: &str, key: &str, value: &str) -> Result<()> {
        let mut store = self.lock_store();
        store.set_default(section, key, value);
        self.publish(&store)
    }

    /// Sets a command-line value known only at start (the bound port).
    pub fn set_command_line(&self, section: &str, key: &str, value: &str) -> Result<()> {
        let mut store = self.lock_store();
        store.set_cli(section, key, value);
        self.publish(&store)
    }

    /// `PUT /_node/{node}/_config/{section}/{key}`: the previous value,
    /// `""` if none. Blocks (file writes, password hashing).
    pub fn set(&self, section: &str, key: &str, value: &str, persist: bool) -> Result<String> {
        let mut store = self.lock_store();
        let old = store.set(section, key, value, persist)?;
        self.publish(&store)?;
        Ok(old)
    }

    /// `DELETE /_node/{node}/_config/{section}/{key}`: the deleted value,
    /// `None` if there was none. Blocks (file writes).
    pub fn delete(&self, section: &str, key: &str, persist: bool) -> Result<Option<String>> {
        let mut store = self.lock_store();
        let old = store.delete(section, key, persist)?;
        if old.is_some() {
            self.publish(&store)?;
        }
        Ok(old)
    }

    /// `POST /_node/{node}/_config/_reload`. Blocks (reads the file).
    pub fn reload(&self) -> Result<()> {
        let mut store = self.lock_store();
        store.reload()?;
        self.publish(&store)
    }

    /// A new id by the configured `[uuids] algorithm`.
    pub fn new_uuid(&self) -> String {
        self.uuids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_id(uuids::now_micros(), &mut rand::thread_rng())
    }
}
