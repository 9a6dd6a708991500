//! A private PostgreSQL server on a free port, for tests that stop and restart the database.
//!
//! The server runs from the binaries that `pg_config --bindir` names, in a data folder of
//! its own under the system's temporary folder. PostgreSQL refuses to run as root, so under
//! root its commands run as the `postgres` user through `setpriv`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL server that lives as long as this value.
pub struct PrivatePostgres {
    folder: PathBuf,
    binaries: PathBuf,
    pub port: u16,
    running: bool,
}

impl PrivatePostgres {
    /// Creates a cluster with trust authentication and starts it.
    pub fn start() -> Self {
        let binaries = binaries();
        let folder = std::env::temp_dir().join(format!(
            "headway-postgres-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&folder).expect("failed to create the PostgreSQL folder");
        if running_as_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres", &folder.display().to_string()])
                .status()
                .expect("failed to run chown");
            assert!(status.success(), "chown of {} failed", folder.display());
        }
        let mut postgres = Self {
            folder,
            binaries,
            port: crate::replica::free_port(),
            running: false,
        };
        let data = postgres.data();
        postgres.run(
            "initdb",
            &[
                "--pgdata",
                &data,
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--no-sync",
                "--encoding",
                "UTF8",
            ],
        );
        postgres.restart();
        postgres
    }

    /// Returns the URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn restart(&mut self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c full_page_writes=off",
            self.port,
            self.folder.display()
        );
        let data = self.data();
        let log = self.folder.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "start",
                "--pgdata",
                &data,
                "--log",
                &log,
                "--wait",
                "--options",
                &options,
            ],
        );
        self.running = true;
    }

    /// Stops the server with a fast shutdown, which ends every open connection, as a
    /// restart or a failover does.
    pub fn stop(&mut self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["stop", "--pgdata", &data, "--mode", "fast", "--wait"],
        );
        self.running = false;
    }

    fn data(&self) -> String {
        self.folder.join("data").display().to_string()
    }

    /// Builds a command for one of the PostgreSQL programs, run as the `postgres` user under
    /// root.
    fn command(&self, program: &str) -> Command {
        let program = self.binaries.join(program);
        let mut command = if running_as_root() {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.current_dir(&self.folder);
        command
    }

    /// Runs one of the PostgreSQL programs and fails the test when it fails.
    fn run(&self, program: &str, arguments: &[&str]) {
        let output = self
            .command(program)
            .args(arguments)
            .output()
            .unwrap_or_else(|error| panic!("failed to run {program}: {error}"));
        assert!(
            output.status.success(),
            "{program} {arguments:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self
                .command("pg_ctl")
                .args(["stop", "--pgdata", &data, "--mode", "immediate", "--wait"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Finds the folder of the PostgreSQL server programs.
fn binaries() -> PathBuf {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "failed to run pg_config ({error}); install the PostgreSQL server to run this test"
            )
        });
    let folder = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(
        Path::new(&folder).join("initdb").exists(),
        "{} has no initdb; install the PostgreSQL server to run this test",
        folder.display()
    );
    folder
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}
