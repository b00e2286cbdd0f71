//! A real NATS JetStream cluster for tests: `nats-server` (from the test venv that
//! `deploy/setup-tests.sh` makes) started on 127.0.0.1, one process per server, each
//! with its own JetStream store in the test's temp dir, killed when dropped.
//!
//! Ports: a JetStream cluster's servers must name each other's route ports before they
//! start, so ports are picked free (bound to port 0 and released) just before the
//! servers start; each server is then waited for by connecting to it, with a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{repo_root, wait_until};

/// How long a server may take to accept connections.
pub const NATS_START_DEADLINE: Duration = Duration::from_secs(30);

/// The `nats-server` binary of the test venv.
///
/// # Panics
///
/// If the venv is missing (run `deploy/setup-tests.sh`).
pub fn nats_server_binary() -> PathBuf {
    let path = repo_root().join(".venv/bin/nats-server");
    assert!(path.exists(), "{} is missing: run `bash deploy/setup-tests.sh` (it makes the test venv)", path.display());
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// One server of the cluster.
pub struct NatsServer {
    /// Its name.
    pub name: String,
    /// Its client port.
    pub port: u16,
    config: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning nats-server");
        self.child = Some(child);
        let port = self.port;
        wait_until(&format!("nats-server {} accepting on {port}", self.name), NATS_START_DEADLINE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports and store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JetStream cluster of `size` servers.
pub struct NatsCluster {
    /// Its servers.
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` servers under `base` (3 for a replicated stream).
    pub fn start(base: &Path, size: usize) -> NatsCluster {
        let client_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let route_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes: Vec<String> = route_ports.iter().map(|port| format!("\"nats://127.0.0.1:{port}\"")).collect();
        let mut servers = Vec::new();
        for index in 0..size {
            let name = format!("n{index}");
            let store = base.join(format!("nats-{name}"));
            std::fs::create_dir_all(&store).expect("nats store dir");
            let cluster = if size > 1 {
                format!(
                    "cluster {{\n  name: rollcall-test\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}\n",
                    route_ports[index],
                    routes.join(", ")
                )
            } else {
                String::new()
            };
            let text = format!(
                "server_name: {name}\nlisten: \"127.0.0.1:{}\"\njetstream {{\n  store_dir: \"{}\"\n  max_memory_store: 64MB\n  max_file_store: 2GB\n}}\n{cluster}",
                client_ports[index],
                store.display()
            );
            let config = base.join(format!("nats-{name}.conf"));
            std::fs::write(&config, text).expect("write nats config");
            servers.push(NatsServer { name, port: client_ports[index], config, child: None });
        }
        for server in &mut servers {
            server.spawn();
        }
        NatsCluster { servers }
    }

    /// Every server's URL.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(NatsServer::url).collect()
    }
}
