#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The binary contract: flags, stdout lines, exit codes, signals.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_maas-sim");

struct Sim {
    child: Child,
    lines: Vec<String>,
}

impl Sim {
    fn spawn(args: &[&str]) -> Sim {
        Sim::spawn_logging_to(args, Stdio::null())
    }

    fn spawn_logging_to(args: &[&str], stderr: Stdio) -> Sim {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("MAAS_SIM_API_KEY")
            .env_remove("MAAS_SIM_USER_API_KEY")
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut lines = Vec::new();
        for _ in 0..4 {
            let mut line = String::new();
            let n = reader.read_line(&mut line).unwrap();
            assert!(n > 0, "maas-sim exited before printing its endpoint");
            lines.push(line.trim_end().to_string());
        }
        Sim { child, lines }
    }

    fn value(&self, key: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} not printed: {:?}", self.lines))
            .to_string()
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill(1) runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "maas-sim did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn auth(key: &str) -> String {
    let p: Vec<&str> = key.split(':').collect();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let nonce = format!("{}{}", ts, std::process::id());
    format!(
        "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"&{}\", oauth_nonce=\"{}\", oauth_timestamp=\"{}\"",
        p[0], p[1], p[2], nonce, ts
    )
}

fn run_and_capture(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let st = child.wait().unwrap();
    (st.code().unwrap_or(-1), out, err)
}

#[tokio::test]
async fn generated_key_first_line_and_endpoint() {
    let sim = Sim::spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--machines",
        "5",
        "--seed",
        "7",
        "--maas-version",
        "3.7",
    ]);
    let first = &sim.lines[0];
    let key = first
        .strip_prefix("MAAS_API_KEY=")
        .expect("first line is the API key");
    let parts: Vec<&str> = key.split(':').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![18, 18, 32]
    );
    let endpoint = sim.value("MAAS_ENDPOINT");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") && endpoint.ends_with("/MAAS"),
        "{endpoint}"
    );
    assert!(!endpoint.ends_with(":0/MAAS"), "real port printed");
    let user_key = sim.value("MAAS_USER_API_KEY");
    assert_ne!(user_key, key);

    let http = client();
    let v: serde_json::Value = http
        .get(format!("{endpoint}/api/2.0/version/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"], "3.7.3");
    let r = http
        .get(format!("{endpoint}/api/2.0/machines/"))
        .header("Authorization", auth(key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let machines: serde_json::Value = r.json().await.unwrap();
    assert_eq!(machines.as_array().unwrap().len(), 5);
    let status = sim.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[tokio::test]
async fn given_key_inventory_and_seed_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(
        &inv,
        "zones: [{name: rack1}]\nmachines:\n  - {hostname: alpha, zone: rack1, cpu_count: 8}\n",
    )
    .unwrap();
    let key = "abcdefghjkmnpqrstu:vwxyzABCDEFGHJKLMN:PQRSTUVWXYZ23456789abcdefghjkmnp";
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--api-key",
        key,
        "--inventory",
        inv.to_str().unwrap(),
        "--machines",
        "3",
        "--seed",
        "42",
        "--deploy-seconds",
        "0.2",
    ];
    let a = Sim::spawn(&args);
    assert_eq!(a.lines[0], format!("MAAS_API_KEY={key}"));
    let b = Sim::spawn(&args);
    let http = client();
    let mut lists = Vec::new();
    for sim in [&a, &b] {
        let endpoint = sim.value("MAAS_ENDPOINT");
        let v: serde_json::Value = http
            .get(format!("{endpoint}/api/2.0/machines/"))
            .header("Authorization", auth(key))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let summary: Vec<(String, String)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["system_id"].as_str().unwrap().into(),
                    m["hostname"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(summary.len(), 4);
        assert!(summary.iter().any(|(_, h)| h == "alpha"));
        lists.push(summary);
    }
    assert_eq!(lists[0], lists[1], "same seed, same inventory");
    let control = a.value("MAAS_SIM_CONTROL");
    let snap: serde_json::Value = http
        .get(format!("{control}/snapshot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snap["timings"]["deploy"], 200);
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    for args in [
        vec!["--machines", "lots"],
        vec!["--maas-version", "2.9"],
        vec!["--api-key", "not-a-key"],
        vec!["--no-such-flag"],
        vec!["--inventory", "/nonexistent/inventory.yaml"],
        vec!["--listen", "localhost"],
        vec!["--deploy-seconds", "-1"],
        vec!["--fault-rate", "allocate"],
        vec!["--latency-profile", "slow"],
        vec!["--log-format", "xml"],
        vec!["--log-level", "info=bogus=1"],
    ] {
        let (code, out, err) = run_and_capture(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: nothing on stdout");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line, got {err:?}");
        assert!(lines[0].starts_with("maas-sim: error: "), "{args:?}: {err}");
    }
    let (code, out, _) = run_and_capture(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--deploy-seconds"));
    assert!(
        out.contains("Examples:") && out.contains("Exit status:"),
        "{out}"
    );
    let (code, out, _) = run_and_capture(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("maas-sim {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Callers stop the simulator as soon as it printed its endpoint: the
/// SIGTERM handler is in place by then (the default action would kill it).
#[test]
fn sigterm_right_after_the_endpoint_is_printed_is_a_clean_exit() {
    for _ in 0..20 {
        let sim = Sim::spawn(&["--listen", "127.0.0.1:0", "--machines", "1"]);
        let status = sim.terminate();
        assert!(status.success(), "{status:?}");
    }
}

#[test]
fn logs_on_a_pipe_or_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stderr.log");
    let file = std::fs::File::create(&path).unwrap();
    let sim = Sim::spawn_logging_to(&["--listen", "127.0.0.1:0"], Stdio::from(file));
    assert!(sim.terminate().success());
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(log.contains("ready"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape codes in a log file: {log:?}"
    );
}

#[test]
fn busy_port_fails_without_printing_a_key() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (code, out, err) = run_and_capture(&["--listen", &addr]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("cannot listen on"), "{err}");
}
