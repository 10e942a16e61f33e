//! A throw-away real LXD daemon for integration tests (feature
//! `test-support`).
//!
//! [`LxdDaemon::start`] runs `lxd --group root` with a temporary `LXD_DIR`
//! and waits until it answers. [`LxdDaemon::stop`] (or `Drop`, e.g. when a
//! test panics) deletes what the tests created through the API (instances,
//! profiles, projects, networks, pools), shuts the daemon down, deletes
//! leftover bridges, firewall rules and helper processes that belong to this
//! daemon, unmounts what it mounted and removes the directory.
//!
//! It needs root and the Debian packages `lxd`, `iptables` and
//! `dnsmasq-base`; without them [`LxdDaemon::start`] fails with a message
//! saying what to install. It never skips.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::client::LxdClient;

const INSTALL_HINT: &str = "install the Debian packages: apt-get install -y --no-install-recommends lxd iptables dnsmasq-base";

/// A running LXD daemon private to a test.
pub struct LxdDaemon {
    dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
    child: Option<Child>,
    lxd: PathBuf,
    host_links: Mutex<BTreeSet<String>>,
    stopped: bool,
}

impl std::fmt::Debug for LxdDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LxdDaemon")
            .field("dir", &self.dir_path)
            .finish_non_exhaustive()
    }
}

/// Finds an executable in `PATH` and the usual sbin directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(extra));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call (bridge names must stay
/// under 16 characters): `prefix` plus six hex digits (four from the PID,
/// two from a per-process counter).
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}{:04x}{:02x}",
        std::process::id() & 0xffff,
        n & 0xff
    )
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

impl LxdDaemon {
    /// Starts a private daemon and waits until it answers (60 s at most).
    pub fn start() -> Result<Self, String> {
        let lxd = std::env::var_os("LXD_BIN")
            .map(PathBuf::from)
            .or_else(|| find_program("lxd"))
            .ok_or_else(|| format!("the `lxd` daemon binary was not found: {INSTALL_HINT}"))?;
        for tool in ["iptables", "dnsmasq", "ip"] {
            if find_program(tool).is_none() {
                return Err(format!(
                    "`{tool}` was not found; LXD needs it for bridges: {INSTALL_HINT} (and iproute2)"
                ));
            }
        }
        if !is_root() {
            return Err(
                "the LXD integration tests must run as root (LXD_DIR=<tmp> lxd --group root)"
                    .into(),
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("lxd-host-test-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary LXD_DIR: {e}"))?;
        let dir_path = dir.path().to_path_buf();
        let log = std::fs::File::create(dir_path.join("daemon.out"))
            .map_err(|e| format!("cannot create the daemon log: {e}"))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot create the daemon log: {e}"))?;
        let child = Command::new(&lxd)
            .args(["--group", "root", "--logfile"])
            .arg(dir_path.join("lxd.log"))
            .env("LXD_DIR", &dir_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}; {INSTALL_HINT}", lxd.display()))?;
        let mut daemon = LxdDaemon {
            dir: Some(dir),
            dir_path,
            child: Some(child),
            lxd,
            host_links: Mutex::new(BTreeSet::new()),
            stopped: false,
        };
        daemon.wait_ready(Duration::from_secs(60))?;
        Ok(daemon)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        let socket = self.socket();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "lxd exited during startup ({status}); log:\n{}",
                    self.log_tail()
                ));
            }
            if socket.exists() {
                let waited = Command::new(&self.lxd)
                    .args(["waitready", "--timeout", "30"])
                    .env("LXD_DIR", &self.dir_path)
                    .stdin(Stdio::null())
                    .output();
                if let Ok(out) = waited
                    && out.status.success()
                {
                    return Ok(());
                }
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "lxd did not become ready within {timeout:?}; log:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        for f in ["daemon.out", "lxd.log"] {
            if let Ok(s) = std::fs::read_to_string(self.dir_path.join(f)) {
                let lines: Vec<&str> = s.lines().collect();
                let start = lines.len().saturating_sub(20);
                text.push_str(&lines[start..].join("\n"));
                text.push('\n');
            }
        }
        text
    }

    /// `LXD_DIR` of this daemon.
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// The daemon's unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir_path.join("unix.socket")
    }

    /// A socket client.
    pub fn client(&self) -> Result<LxdClient, String> {
        LxdClient::unix(self.socket()).map_err(|e| e.to_string())
    }

    /// Creates a Linux bridge on the host (not managed by LXD), deleted at
    /// cleanup.
    pub fn create_host_bridge(&self, name: &str) -> Result<(), String> {
        self.create_host_link(name, "bridge")
    }

    fn create_host_link(&self, name: &str, kind: &str) -> Result<(), String> {
        if let Ok(mut links) = self.host_links.lock() {
            links.insert(name.to_owned());
        }
        run(Command::new("ip").args(["link", "add", name, "type", kind])).map(|_| ())
    }

    /// Cleans up and reports anything that could not be removed.
    pub fn stop(mut self) -> Result<(), String> {
        self.cleanup()
    }

    fn cleanup(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let mut problems = Vec::new();

        // 1. Delete what the tests created, through the API.
        let socket = self.socket();
        let managed = std::thread::spawn(move || api_cleanup(&socket))
            .join()
            .unwrap_or_else(|_| Err("API cleanup panicked".into()));
        let mut links: BTreeSet<String> = self
            .host_links
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        match managed {
            Ok(names) => links.extend(names),
            Err(e) => problems.push(format!("API cleanup: {e}")),
        }
        // Bridges named in the daemon's state survive a failed API cleanup.
        if let Ok(entries) = std::fs::read_dir(self.dir_path.join("networks")) {
            for e in entries.flatten() {
                links.insert(e.file_name().to_string_lossy().into_owned());
            }
        }

        // 2. Stop the daemon.
        if let Some(mut child) = self.child.take() {
            let _ = Command::new(&self.lxd)
                .args(["shutdown", "--timeout", "30"])
                .env("LXD_DIR", &self.dir_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    _ => {
                        problems.push("lxd did not stop; killed it".into());
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }

        // 3. Helper processes of this daemon (dnsmasq, forkdns, ...).
        for pid in processes_mentioning(&self.dir_path) {
            let _ = run(Command::new("kill").arg(pid.to_string()));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_mentioning(&self.dir_path).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        for pid in processes_mentioning(&self.dir_path) {
            let _ = run(Command::new("kill").args(["-KILL", &pid.to_string()]));
            problems.push(format!("process {pid} of this daemon had to be killed"));
        }

        // 4. Interfaces and firewall rules.
        for name in &links {
            if link_exists(name)
                && let Err(e) = run(Command::new("ip").args(["link", "delete", name]))
            {
                problems.push(e);
            }
            remove_firewall_rules(name);
        }

        // 5. Mounts under the directory, then the directory.
        for m in mounts_under(&self.dir_path) {
            let _ = run(Command::new("umount").args(["-l"]).arg(&m));
        }
        if let Some(dir) = self.dir.take()
            && let Err(e) = dir.close()
        {
            problems.push(format!("cannot remove {}: {e}", self.dir_path.display()));
        }
        for name in &links {
            if link_exists(name) {
                problems.push(format!("interface {name} is still present"));
            }
        }
        if self.dir_path.exists() {
            problems.push(format!("{} is still present", self.dir_path.display()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

impl Drop for LxdDaemon {
    fn drop(&mut self) {
        if let Err(e) = self.cleanup() {
            eprintln!("lxd-host test daemon cleanup: {e}");
        }
    }
}

/// Deletes instances, profiles, projects, networks and pools. Returns the
/// names of the managed networks it found.
fn api_cleanup(socket: &Path) -> Result<Vec<String>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        use crate::method::Method;
        let client = LxdClient::unix(socket).map_err(|e| e.to_string())?;
        let mut errors = Vec::new();
        let projects = client.projects().await.map_err(|e| e.to_string())?;
        for project in &projects {
            let q = crate::client::query_value(&project.name);
            let instances: Vec<String> = client
                .get(&format!("/1.0/instances?project={q}"))
                .await
                .map(|(v, _)| v)
                .unwrap_or_default();
            for url in instances {
                let name = url.rsplit('/').next().unwrap_or_default().to_owned();
                let path = format!("/1.0/instances/{}?project={q}", crate::client::seg(&name));
                let stop = serde_json::json!({"action": "stop", "force": true});
                let _ = client
                    .request_and_wait(
                        Method::PUT,
                        &format!(
                            "/1.0/instances/{}/state?project={q}",
                            crate::client::seg(&name)
                        ),
                        Some(&stop),
                        None,
                    )
                    .await;
                if let Err(e) = client
                    .request_and_wait(Method::DELETE, &path, None, None)
                    .await
                {
                    errors.push(format!("instance {name}: {e}"));
                }
            }
            for profile in client.profiles(&project.name).await.unwrap_or_default() {
                if profile.name != "default"
                    && let Err(e) = client.delete_profile(&project.name, &profile.name).await
                {
                    errors.push(format!("profile {}: {e}", profile.name));
                }
            }
        }
        for project in &projects {
            if project.name != "default"
                && let Err(e) = client.delete_project(&project.name).await
            {
                errors.push(format!("project {}: {e}", project.name));
            }
        }
        let mut managed = Vec::new();
        for net in client.networks().await.unwrap_or_default() {
            if net.managed {
                managed.push(net.name.clone());
                if let Err(e) = client.delete_network(&net.name).await {
                    errors.push(format!("network {}: {e}", net.name));
                }
            }
        }
        for pool in client.storage_pools().await.unwrap_or_default() {
            if let Err(e) = client.delete_storage_pool(&pool.name).await {
                errors.push(format!("pool {}: {e}", pool.name));
            }
        }
        if errors.is_empty() {
            Ok(managed)
        } else {
            Err(errors.join("; "))
        }
    })
}

/// PIDs whose command line mentions `dir` (this daemon's helpers).
fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(&needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let prefix = dir.to_string_lossy().into_owned();
    let mut found: Vec<PathBuf> = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&prefix))
        .map(PathBuf::from)
        .collect();
    // Deepest first.
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

/// Removes iptables/ip6tables rules LXD generated for a network (LXD's
/// xtables driver can leave them behind on iptables-nft hosts).
fn remove_firewall_rules(network: &str) {
    let marker = format!("generated for LXD network {network}\"");
    for tool in ["iptables", "ip6tables"] {
        if find_program(tool).is_none() {
            continue;
        }
        for table in ["filter", "nat", "mangle", "raw"] {
            let Ok(rules) = run(Command::new(tool).args(["-w", "-t", table, "-S"])) else {
                continue;
            };
            for rule in rules.lines().filter(|l| l.contains(&marker)) {
                let mut args = split_rule(rule);
                if args.first().map(String::as_str) != Some("-A") {
                    continue;
                }
                args[0] = "-D".into();
                let _ = run(Command::new(tool).args(["-w", "-t", table]).args(&args));
            }
        }
    }
}

/// Splits an `iptables -S` line into arguments, honouring double quotes.
fn split_rule(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut has = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                has = true;
            }
            c if c.is_whitespace() && !quoted => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_split_like_a_shell() {
        let args = split_rule(
            r#"-A INPUT -i lxt1 -p tcp -m comment --comment "generated for LXD network lxt1" -j ACCEPT"#,
        );
        assert_eq!(args[0], "-A");
        assert!(args.contains(&"generated for LXD network lxt1".to_owned()));
        assert_eq!(args.last().map(String::as_str), Some("ACCEPT"));
    }

    #[test]
    fn unique_names_are_short_and_distinct() {
        let a = unique_name("lxt");
        let b = unique_name("lxt");
        assert_ne!(a, b);
        assert!(a.len() <= 15);
        assert!(a.starts_with("lxt"));
    }
}
