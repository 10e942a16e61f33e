//! Child processes (maas-sim, capmaas-manager) that cannot outlive the demo.
//!
//! Each binary runs under `kube-testenv`'s `sh` supervisor
//! ([`kube_testenv::supervised_command`], the one etcd and kube-apiserver
//! run under) in its own process group (so a Ctrl-C on the terminal reaches
//! only the demo, which then stops everything in order). The supervisor's
//! stdin is a pipe from the demo: when it closes — [`Supervised::stop`], a
//! drop, or the demo dying, even by SIGKILL — the supervisor sends SIGTERM to
//! the binary, then SIGKILL after 10 s, and exits with the binary's status.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use kube_testenv::{Supervision, supervised_command};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::DemoError;

/// Time between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// A binary running under its supervisor.
#[derive(Debug)]
pub struct Supervised {
    name: &'static str,
    supervisor: Child,
    control: Option<ChildStdin>,
    log: PathBuf,
    binary: PathBuf,
}

impl Supervised {
    /// Starts `binary args…` with `env` added; stderr goes to `log`, stdout
    /// to `log` too unless `capture_stdout` (then it is returned).
    pub fn spawn(
        name: &'static str,
        binary: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
        capture_stdout: bool,
    ) -> Result<(Supervised, Option<ChildStdout>), DemoError> {
        if !binary.is_file() {
            return Err(DemoError::MissingBinary {
                name,
                path: binary.to_owned(),
            });
        }
        let io = |source| DemoError::Io {
            what: format!("starting {name}"),
            source,
        };
        let err_file = std::fs::File::create(log).map_err(io)?;
        let out: Stdio = if capture_stdout {
            Stdio::piped()
        } else {
            err_file.try_clone().map_err(io)?.into()
        };
        let mut cmd = Command::from(supervised_command(
            name,
            binary,
            args,
            Supervision {
                report_pid: false,
                grace: GRACE,
            },
        ));
        cmd.env_remove("MAAS_API_KEY")
            .env_remove("MAAS_ENDPOINT")
            .env_remove("MAAS_SIM_API_KEY")
            .env_remove("MAAS_SIM_USER_API_KEY")
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err_file)
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut supervisor = cmd.spawn().map_err(io)?;
        let control = supervisor.stdin.take();
        let stdout = supervisor.stdout.take();
        Ok((
            Supervised {
                name,
                supervisor,
                control,
                log: log.to_owned(),
                binary: binary.to_owned(),
            },
            stdout,
        ))
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The supervisor's pid (`None` once it has been reaped).
    pub fn supervisor_pid(&self) -> Option<u32> {
        self.supervisor.id()
    }

    /// The pid of the binary itself (the supervisor's child running it),
    /// read from `/proc`; `None` when it is not running (or not yet
    /// started). For signalling the binary directly, e.g. `kill -9`: the
    /// supervisor then exits with the binary's status.
    pub fn binary_pid(&self) -> Option<u32> {
        let sup = self.supervisor.id()?;
        let want = std::fs::canonicalize(&self.binary).ok()?;
        let children = std::fs::read_to_string(format!("/proc/{sup}/task/{sup}/children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|p| std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|exe| exe == want))
    }

    /// The log file (stderr, and stdout unless captured).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.supervisor.try_wait().ok().flatten()
    }

    /// Fails with the log's tail if the process has exited.
    pub fn check_running(&mut self) -> Result<(), DemoError> {
        match self.exited() {
            Some(status) => Err(DemoError::Exited {
                name: self.name,
                status: status.to_string(),
                log_tail: self.log_tail(20),
            }),
            None => Ok(()),
        }
    }

    /// SIGTERM (by closing the control pipe), then wait up to `grace` (the
    /// supervisor escalates to SIGKILL after 10 s). `None`: still running.
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

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }
}

/// The last `n` lines of a file (empty when unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    kube_testenv::last_lines(path, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binary_pid_is_the_binary_and_kill_9_ends_the_supervisor() {
        let dir = tempfile::tempdir().unwrap();
        let sleep = Path::new("/bin/sleep");
        let (mut s, _) = Supervised::spawn(
            "sleeper",
            sleep,
            &["300".to_owned()],
            &[],
            &dir.path().join("sleep.log"),
            false,
        )
        .unwrap();
        let mut pid = None;
        for _ in 0..100 {
            pid = s.binary_pid();
            if pid.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = pid.expect("the binary's pid");
        assert_ne!(Some(pid), s.supervisor_pid());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(cmdline.ends_with(b"300\0"), "{cmdline:?}");
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(30), s.supervisor.wait())
            .await
            .unwrap()
            .unwrap();
        // sh reports a child killed by signal 9 as exit status 128 + 9.
        assert_eq!(status.code(), Some(137), "{status:?}");
        assert_eq!(s.binary_pid(), None);
    }
}
