//! Server processes that the benchmark starts, watches and stops.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Returns a port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("failed to bind 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A child process with its output in a log file. Dropping it kills the process.
#[derive(Debug)]
pub struct Server {
    pub name: String,
    pub pid: u32,
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

/// Records started processes in a file, so that `benches/run` can stop any that outlive
/// the benchmark tool.
#[derive(Clone, Debug)]
pub struct PidFile(pub PathBuf);

impl PidFile {
    fn record(&self, pid: u32, program: &str) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .with_context(|| format!("failed to open {}", self.0.display()))?;
        writeln!(file, "{pid} {program}")?;
        Ok(())
    }
}

impl Server {
    /// Starts `command` with its output appended to `log` and records its process id.
    pub fn spawn(
        name: &str,
        mut command: Command,
        port: u16,
        log: &Path,
        pids: &PidFile,
    ) -> Result<Self> {
        let program = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned();
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("failed to open the log {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("failed to start {name} ({program})"))?;
        let pid = child
            .id()
            .with_context(|| format!("{name} exited before it reported a process id"))?;
        pids.record(pid, &program)?;
        eprintln!("started {name} as process {pid} on 127.0.0.1:{port}");
        Ok(Self {
            name: name.to_owned(),
            pid,
            port,
            log: log.to_owned(),
            child,
        })
    }

    /// Waits until `probe` succeeds, failing when the process exits or `timeout` passes.
    pub async fn wait_until_ready<F, Fut>(&mut self, timeout: Duration, probe: F) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before it was ready; see {}",
                    self.name,
                    self.log.display()
                );
            }
            if probe().await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} was not ready after {} s; see {}",
                    self.name,
                    timeout.as_secs(),
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the process with SIGTERM, and with SIGKILL when it is still running after
    /// `grace`. Child processes (PostGraphile's cluster workers) get SIGTERM first.
    /// Returns a note when the process had exited before or had to be killed.
    pub async fn stop(mut self, grace: Duration) -> Result<Option<String>> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(Some(format!(
                "{} (process {}) had already exited with {status}; see {}",
                self.name,
                self.pid,
                self.log.display()
            )));
        }
        let mut targets: Vec<u32> = crate::procfs::descendants(self.pid);
        targets.push(self.pid);
        for pid in &targets {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        let stopping = Instant::now();
        let note = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                status?;
                None
            }
            Err(_) => {
                self.child.kill().await?;
                Some(format!(
                    "{} (process {}) did not exit within {} s of SIGTERM and was killed",
                    self.name,
                    self.pid,
                    grace.as_secs()
                ))
            }
        };
        eprintln!(
            "stopped {} (process {}) in {:.1} s",
            self.name,
            self.pid,
            stopping.elapsed().as_secs_f64()
        );
        Ok(note)
    }
}

/// Returns whether an HTTP GET of `url` returns status 200.
pub async fn http_ok(client: &reqwest::Client, url: &str) -> bool {
    client
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}
