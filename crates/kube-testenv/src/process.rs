//! Server processes that cannot outlive the test process.
//!
//! Each server runs under a tiny `sh` supervisor whose stdin is a pipe from
//! this process. When the pipe closes — because the handle is dropped, or
//! because the test process exits or is killed, which closes every fd — the
//! supervisor sends SIGTERM to the server, then SIGKILL after a grace period,
//! reaps it and exits. A janitor process, fed the same way, waits for the
//! servers to be gone and then removes the environment's temp dir, so even a
//! `static` environment that is never dropped leaves nothing behind.
//!
//! No `unsafe` and no signal handling in the test process are needed.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// `sh -c SUPERVISOR <label> <report-pid|-> <grace ticks> BINARY ARGS...`
///
/// Runs the binary in the background (stdin `/dev/null`) and waits for it,
/// exiting with its status. With `report-pid` the binary's stdout goes to
/// stderr and the supervisor prints the binary's pid as its only stdout
/// line; otherwise the binary keeps the supervisor's stdout. A watcher
/// subshell reads the supervisor's stdin (saved as fd 3, since an
/// asynchronous list would otherwise get /dev/null) and stops the binary
/// when it hits EOF: SIGTERM, then SIGKILL after the grace period (in ticks
/// of 0.05 s). Pids written to stdin before that are waited for (up to 5 s
/// each) before the binary is stopped: etcd outlives the apiserver that
/// uses it.
const SUPERVISOR: &str = r#"
mode=$1
grace=$2
shift 2
exec 3<&0
if [ "$mode" = report-pid ]; then
  "$@" </dev/null >&2 3<&- &
  child=$!
  echo "$child"
else
  "$@" </dev/null 3<&- &
  child=$!
fi
(
  after=""
  while read -r p <&3; do after="$after $p"; done
  for p in $after; do
    i=0
    while kill -0 "$p" 2>/dev/null && [ "$i" -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
  done
  kill -TERM "$child" 2>/dev/null || exit 0
  i=0
  while kill -0 "$child" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge "$grace" ]; then kill -KILL "$child" 2>/dev/null; exit 0; fi
    sleep 0.05
  done
) &
watcher=$!
exec 3<&-
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// How [`supervised_command`] runs a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervision {
    /// The supervisor prints the binary's pid as its only stdout line (the
    /// binary's stdout goes to stderr). Otherwise the binary's stdout is the
    /// supervisor's.
    pub report_pid: bool,
    /// How long the binary has between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// A `sh` supervisor running `binary args...` that cannot outlive its
/// parent: give it a piped stdin and keep the pipe open while the binary
/// should run. Closing it (dropping the handle, or the parent exiting, even
/// by SIGKILL) makes the supervisor send SIGTERM, then SIGKILL after
/// [`Supervision::grace`]; the supervisor exits with the binary's status.
/// Lines written to the pipe before it closes are pids to wait for (up to
/// 5 s each) first. The caller sets stdout, stderr, the environment and
/// (e.g.) a process group; `label` is the supervisor's `$0` (seen in `ps`).
#[must_use]
pub fn supervised_command(
    label: &str,
    binary: &Path,
    args: &[String],
    supervision: Supervision,
) -> Command {
    let ticks = (supervision.grace.as_millis() / 50).max(1);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(SUPERVISOR)
        .arg(label)
        .arg(if supervision.report_pid {
            "report-pid"
        } else {
            "-"
        })
        .arg(ticks.to_string())
        .arg(binary)
        .args(args);
    cmd
}

/// `sh -c JANITOR janitor DIR`: reads server pids from stdin until EOF, waits
/// until they are gone (SIGKILL after 30 s), then removes DIR.
const JANITOR: &str = r#"
pids=""
while read -r pid; do pids="$pids $pid"; done
for pid in $pids; do
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge 600 ]; then kill -KILL "$pid" 2>/dev/null; break; fi
    sleep 0.05
  done
done
rm -rf "$1"
"#;

/// How long `Drop` waits for a supervisor or the janitor to finish.
const STOP_TIMEOUT: Duration = Duration::from_secs(45);

/// A running server under its supervisor.
#[derive(Debug)]
pub(crate) struct Server {
    name: &'static str,
    pid: u32,
    log: PathBuf,
    supervisor: Child,
    /// Closing this stops the server.
    stdin: Option<ChildStdin>,
}

impl Server {
    /// Starts `binary args...`; its stdout and stderr go to `log`.
    pub fn spawn(name: &'static str, binary: &Path, args: &[String], log: &Path) -> Result<Self> {
        let log_file = std::fs::File::create(log)
            .map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let mut supervisor = supervised_command(
            &format!("kube-testenv-{name}"),
            binary,
            args,
            Supervision {
                report_pid: true,
                grace: Duration::from_secs(5),
            },
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| Error::io(format!("starting {} under sh", binary.display()), e))?;
        let stdin = supervisor.stdin.take();
        let pid_line = supervisor.stdout.take().map(|out| {
            let mut line = String::new();
            BufReader::new(out).read_line(&mut line).map(|_| line)
        });
        let mut server = Server {
            name,
            pid: 0,
            log: log.to_owned(),
            supervisor,
            stdin,
        };
        let line = match pid_line {
            Some(Ok(line)) => line,
            Some(Err(e)) => return Err(Error::io(format!("reading the pid of {name}"), e)),
            None => String::new(),
        };
        server.pid = line.trim().parse().map_err(|_| Error::Exited {
            component: name,
            status: format!("supervisor printed {line:?} instead of a pid"),
            log_tail: log_tail(log),
        })?;
        Ok(server)
    }

    /// The pid of the server itself (not of its supervisor).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Err(Exited)` if the server has already exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.supervisor.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Exited {
                component: self.name,
                status: status.to_string(),
                log_tail: log_tail(&self.log),
            }),
            Err(e) => Err(Error::io(format!("checking on {}", self.name), e)),
        }
    }

    /// The last lines the server printed.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// When the server is to be stopped, first wait (up to 5 s) for `pid`
    /// to exit. Used so that etcd outlives its apiserver even when both
    /// supervisors see their pipes close at once (test process exit).
    pub fn stop_after(&mut self, pid: u32) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::io("supervisor", std::io::ErrorKind::BrokenPipe.into()))?;
        writeln!(stdin, "{pid}").map_err(|e| Error::io("writing to a supervisor", e))
    }

    /// Asks the supervisor to stop the server, without waiting.
    pub fn request_stop(&mut self) {
        self.stdin.take();
    }

    /// Stops the server and waits until it and its supervisor are gone.
    pub fn stop(&mut self) {
        self.request_stop();
        wait_or_kill(&mut self.supervisor, self.name);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes an environment's directory once its servers are gone.
#[derive(Debug)]
pub(crate) struct Janitor {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Janitor {
    pub fn spawn(dir: &Path) -> Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(JANITOR)
            .arg("kube-testenv-janitor")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::io("starting the kube-testenv janitor under sh", e))?;
        let stdin = child.stdin.take();
        Ok(Janitor { child, stdin })
    }

    /// Tells the janitor to wait for `pid` before removing the directory.
    pub fn watch(&mut self, pid: u32) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::io("janitor", std::io::ErrorKind::BrokenPipe.into()))?;
        writeln!(stdin, "{pid}").map_err(|e| Error::io("writing to the janitor", e))
    }

    /// Lets the janitor clean up, and waits for it.
    pub fn finish(&mut self) {
        self.stdin.take();
        wait_or_kill(&mut self.child, "janitor");
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        self.finish();
    }
}

fn wait_or_kill(child: &mut Child, name: &str) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                tracing::warn!(name, "supervisor did not stop in time; killing it");
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Err(e) => {
                tracing::warn!(name, error = %e, "cannot wait for supervisor");
                return;
            }
        }
    }
}

/// The last 40 lines of a log file, indented for an error message.
pub(crate) fn log_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(_) => last_lines(path, 40)
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("    <cannot read {}: {e}>", path.display()),
    }
}

/// The last `n` lines of a log file, each cut to 500 characters (empty when
/// it cannot be read).
#[must_use]
pub fn last_lines(path: &Path, n: usize) -> String {
    const WIDTH: usize = 500;
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..]
        .iter()
        .map(|l| {
            let mut s: String = l.chars().take(WIDTH).collect();
            if l.chars().count() > WIDTH {
                s.push('…');
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Ports handed out by this process, so that parallel environments never get
/// the same one (the OS may return a just-released port again).
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A currently free loopback TCP port not handed out before by this process.
/// Another process may still grab it before the server binds: callers retry
/// on "address already in use".
pub(crate) fn free_port() -> Result<u16> {
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("binding a free loopback port", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("reading a bound port", e))?
            .port();
        let mut guard = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    Err(Error::io(
        "finding a free loopback port",
        std::io::ErrorKind::AddrInUse.into(),
    ))
}

/// Whether a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // the state follows the parenthesised command name
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(dir: &Path) -> Server {
        Server::spawn(
            "sleep",
            Path::new("sleep"),
            &["300".to_owned()],
            &dir.join("sleep.log"),
        )
        .unwrap()
    }

    #[test]
    fn drop_stops_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let server = sleeper(dir.path());
        let pid = server.pid();
        assert!(process_alive(pid));
        drop(server);
        assert!(!process_alive(pid), "pid {pid} still alive after drop");
    }

    #[test]
    fn detects_early_exit_with_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::spawn(
            "sh",
            Path::new("sh"),
            &["-c".to_owned(), "echo boom-marker >&2; exit 3".to_owned()],
            &dir.path().join("sh.log"),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let err = loop {
            match server.check_running() {
                Ok(()) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(()) => panic!("still running"),
                Err(e) => break e,
            }
        };
        let text = err.to_string();
        assert!(text.contains("boom-marker"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
    }

    #[test]
    fn supervisor_stops_server_when_pipe_closes_without_drop() {
        // Simulates the test process dying: the stdin pipe closes but
        // nobody calls `stop`.
        let dir = tempfile::tempdir().unwrap();
        let mut server = sleeper(dir.path());
        let pid = server.pid();
        server.request_stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_alive(pid) {
            assert!(Instant::now() < deadline, "server survived its pipe");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn stop_after_orders_the_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("go");
        // `first` ignores SIGTERM and lingers until the test opens the gate
        // (or its supervisor's grace runs out), like an apiserver draining
        // requests. No timing is asserted: a gate, not a sleep, keeps it alive.
        let mut first = Server::spawn(
            "slow",
            Path::new("sh"),
            &[
                "-c".to_owned(),
                "trap '' TERM; while [ ! -e \"$1\" ]; do sleep 0.02; done".to_owned(),
                "slow".to_owned(),
                gate.display().to_string(),
            ],
            &dir.path().join("slow.log"),
        )
        .unwrap();
        let mut second = sleeper(dir.path());
        second.stop_after(first.pid()).unwrap();
        // Both pipes close at once, as on process exit.
        second.request_stop();
        first.request_stop();
        // While `first` is held, `second` must stay up: give its supervisor
        // many chances to get the order wrong.
        for _ in 0..20 {
            if !process_alive(first.pid()) {
                break; // its supervisor's grace ran out (a stalled machine)
            }
            assert!(
                process_alive(second.pid()),
                "second stopped before first was gone"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::write(&gate, b"").unwrap();
        // A generous bound: this only catches a hang.
        let deadline = Instant::now() + Duration::from_secs(30);
        while process_alive(first.pid()) {
            assert!(
                process_alive(second.pid()),
                "second stopped before first was gone"
            );
            assert!(Instant::now() < deadline, "first never exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        second.stop();
        assert!(!process_alive(second.pid()));
    }

    #[test]
    fn janitor_removes_dir_after_servers_are_gone() {
        let root = tempfile::tempdir().unwrap();
        let env_dir = root.path().join("env");
        std::fs::create_dir(&env_dir).unwrap();
        let mut server = sleeper(&env_dir);
        let mut janitor = Janitor::spawn(&env_dir).unwrap();
        janitor.watch(server.pid()).unwrap();
        server.request_stop();
        janitor.finish();
        assert!(!process_alive(server.pid()));
        assert!(!env_dir.exists(), "janitor left {}", env_dir.display());
    }

    #[test]
    fn without_report_pid_stdout_is_the_binarys_and_a_closed_pipe_stops_it() {
        use std::io::Read;
        let mut child = supervised_command(
            "echo-then-sleep",
            Path::new("sh"),
            &["-c".to_owned(), "echo hello; exec sleep 300".to_owned()],
            Supervision {
                report_pid: false,
                grace: Duration::from_secs(1),
            },
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(&mut out).read_line(&mut first).unwrap();
        assert_eq!(first, "hello\n", "the binary's stdout, no pid line");
        let started = Instant::now();
        drop(child.stdin.take());
        let status = child.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(!status.success(), "sleep was terminated: {status}");
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        assert!(rest.is_empty(), "{rest:?}");
    }

    #[test]
    fn free_ports_are_not_reused_within_the_process() {
        let ports: HashSet<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        assert_eq!(ports.len(), 50);
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = log_tail(&path);
        assert!(tail.contains("line 99"));
        assert!(tail.contains("line 60"));
        assert!(!tail.contains("line 59"));
        assert_eq!(tail.lines().count(), 40);
        assert!(tail.lines().all(|l| l.starts_with("    ")));
        assert_eq!(last_lines(&path, 2), "line 98\nline 99");
        assert_eq!(last_lines(&dir.path().join("missing"), 2), "");
    }
}
