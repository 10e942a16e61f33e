//! The never-dropped shared control plane leaves nothing behind when the test
//! process exits — normally or by SIGKILL.
//!
//! Runs without libtest (`harness = false`): the parent re-executes this
//! binary as a child that starts `kube_testenv::shared()`, reports the server
//! pids and temp dir, then waits on its stdin. The parent ends the child and
//! checks that the servers are gone and the dir removed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube_testenv::process_alive;

const CHILD_ENV: &str = "KUBE_TESTENV_EXIT_CLEANUP_CHILD";
const MARKER: &str = "KUBE_TESTENV_CHILD";

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
    } else {
        for how in [End::Exit, End::Kill] {
            parent(how);
        }
        println!("exit_cleanup: ok");
    }
}

fn child() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (pids, dir) = rt.block_on(async {
        let env = kube_testenv::shared().await.unwrap();
        // Prove the environment works before reporting it.
        env.client().unwrap().apiserver_version().await.unwrap();
        (env.pids(), env.dir().to_owned())
    });
    println!(
        "{MARKER} {} {} {}",
        pids.etcd,
        pids.kube_apiserver,
        dir.display()
    );
    // Wait until the parent closes our stdin (or kills us).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    // Leave without dropping anything: statics are never dropped.
    std::process::exit(0);
}

#[derive(Debug, Clone, Copy)]
enum End {
    Exit,
    Kill,
}

fn parent(how: End) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "child exited without reporting its control plane");
        if line.starts_with(MARKER) {
            break;
        }
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    let etcd: u32 = fields[1].parse().unwrap();
    let apiserver: u32 = fields[2].parse().unwrap();
    let dir = PathBuf::from(fields[3]);
    assert!(process_alive(etcd) && process_alive(apiserver));
    assert!(dir.is_dir());

    match how {
        End::Exit => drop(child.stdin.take()),
        End::Kill => child.kill().unwrap(),
    }
    let status = child.wait().unwrap();
    eprintln!("exit_cleanup: child ended ({how:?}): {status}");

    let ended = Instant::now();
    // Generous: the janitor itself gives each server up to 30 s of 50 ms ticks,
    // which run slower on a loaded machine; this only catches a leak.
    let deadline = ended + Duration::from_secs(120);
    while process_alive(etcd) || process_alive(apiserver) || dir.exists() {
        assert!(
            Instant::now() < deadline,
            "{how:?}: left behind: etcd alive={} apiserver alive={} dir exists={}",
            process_alive(etcd),
            process_alive(apiserver),
            dir.exists()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "exit_cleanup: {how:?}: servers gone and {} removed {:?} after the child ended",
        dir.display(),
        ended.elapsed()
    );
}
