//! The `capmaas-manager` binary as a real process, under `kube-testenv`'s
//! supervisor (it cannot outlive the suite, even a SIGKILLed one), with its
//! pid known so that the suite can `kill -9` it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kube_testenv::{Supervision, supervised_command};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::report::Failure;

/// One run of the manager.
#[derive(Debug)]
pub struct Manager {
    supervisor: Child,
    control: Option<ChildStdin>,
    pid: u32,
    log: PathBuf,
}

impl Manager {
    /// Starts `binary args…` with `env` (the MAAS key travels in the
    /// environment, never on the command line); logs go to `log`.
    pub async fn spawn(
        binary: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Result<Manager, Failure> {
        if !binary.is_file() {
            return Err(Failure::new(format!(
                "capmaas-manager not found at {} (run `make conformance`, which builds it, or set \
                 CONFORMANCE_BIN_DIR)",
                binary.display()
            )));
        }
        let io = |e: std::io::Error| Failure::new(format!("starting capmaas-manager: {e}"));
        let log_file = std::fs::File::create(log).map_err(io)?;
        let mut cmd = Command::from(supervised_command(
            "capmaas-manager",
            binary,
            args,
            Supervision {
                report_pid: true,
                grace: Duration::from_secs(10),
            },
        ));
        cmd.env_remove("MAAS_API_KEY")
            .env_remove("MAAS_ENDPOINT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut supervisor = cmd.spawn().map_err(io)?;
        let control = supervisor.stdin.take();
        let Some(stdout) = supervisor.stdout.take() else {
            return Err(Failure::new("capmaas-manager's supervisor has no stdout"));
        };
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let read = reader.read_line(&mut line);
        let pid = match tokio::time::timeout(Duration::from_secs(10), read).await {
            Ok(Ok(_)) => line.trim().parse::<u32>().ok(),
            _ => None,
        };
        let Some(pid) = pid else {
            return Err(Failure::new(format!(
                "capmaas-manager's supervisor reported no pid; log:\n{}",
                kube_testenv::last_lines(log, 20)
            )));
        };
        Ok(Manager {
            supervisor,
            control,
            pid,
            log: log.to_owned(),
        })
    }

    /// The manager's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails with the log's tail if it has exited.
    pub fn check_running(&mut self) -> Result<(), Failure> {
        match self.supervisor.try_wait() {
            Ok(Some(status)) => Err(Failure::new(format!(
                "capmaas-manager exited ({status}); last lines of {}:\n{}",
                self.log.display(),
                kube_testenv::last_lines(&self.log, 20)
            ))),
            _ => Ok(()),
        }
    }

    /// Waits for its "serving" line and a 200 from `/readyz`; returns the
    /// health and metrics addresses.
    pub async fn wait_ready(
        &mut self,
        timeout: Duration,
    ) -> Result<(SocketAddr, SocketAddr), Failure> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            if let Some((health, metrics)) = capmaas_demo::serving_addrs(&self.log)
                && let Ok((200, _)) = capmaas_demo::http_get(health, "/readyz").await
            {
                return Ok((health, metrics));
            }
            if Instant::now() > deadline {
                return Err(Failure::new(format!(
                    "capmaas-manager not ready after {}s; its log:\n{}",
                    timeout.as_secs(),
                    kube_testenv::last_lines(&self.log, 20)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9` of the manager (not its supervisor); waits until it is gone.
    pub async fn kill9(&mut self) -> Result<ExitStatus, Failure> {
        let status = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status()
            .await
            .map_err(|e| Failure::new(format!("kill -KILL {}: {e}", self.pid)))?;
        if !status.success() {
            return Err(Failure::new(format!(
                "kill -KILL {} failed ({status})",
                self.pid
            )));
        }
        match tokio::time::timeout(Duration::from_secs(15), self.supervisor.wait()).await {
            Ok(Ok(s)) => Ok(s),
            _ => Err(Failure::new(
                "capmaas-manager still running 15s after SIGKILL",
            )),
        }
    }

    /// SIGTERM (the supervisor's pipe closes), then waits up to `grace`
    /// (SIGKILL after 10 s). `None`: it did not exit in time.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        drop(self.control.take());
        match tokio::time::timeout(grace, self.supervisor.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = self.supervisor.start_kill();
                None
            }
        }
    }
}
