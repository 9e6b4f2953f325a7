//! A `settee` server started on a free loopback port and killed when
//! dropped, for the benches that need nothing more (`mango_bench`,
//! `auth_bench`; `settee_bench` stops its servers gracefully and starts
//! peers too, so it has its own). Included as
//! `#[path = "common/server.rs"] mod server;` beside `mod common;`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{listening_url, Result};

/// Longest the server may take to print its `Settee listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The server process; killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Spawns `command` (the settee binary with its arguments, environment
    /// and stderr; stdin and stdout are set here) and waits for its URL.
    /// The server must bind `127.0.0.1` on some port.
    pub fn start(mut command: Command) -> Result<Server> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                let program = Path::new(command.get_program()).display();
                format!("starting {program}: {e}")
            })?;
        let mut server = Server {
            child,
            url: String::new(),
        };
        server.url = listening_url(&mut server.child, STARTUP_TIMEOUT)?;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
