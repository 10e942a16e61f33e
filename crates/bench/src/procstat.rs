//! CPU time and peak memory of a process, from `/proc`.

use std::path::Path;

/// What `/proc/<pid>/stat` and `/proc/<pid>/status` say about a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStats {
    /// User + system CPU time (utime + stime), in seconds.
    pub cpu_seconds: f64,
    /// Peak resident set size (`VmHWM`), in bytes.
    pub peak_rss_bytes: u64,
}

/// utime + stime of a `/proc/<pid>/stat` line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses: fields are counted after
/// its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// The parent pid of a `/proc/<pid>/stat` line.
pub fn parent_pid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(4 - 3)?.parse().ok()
}

/// `VmHWM` of a `/proc/<pid>/status` text, in bytes.
pub fn peak_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(n * 1024),
        Some(_) => None,
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100, Linux's USER_HZ, when
/// `getconf` is unavailable).
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t: &u64| *t > 0)
        .unwrap_or(100)
}

/// The stats of `pid` now (`None` once it is gone).
pub fn read(pid: u32, ticks_per_second: u64) -> Option<ProcStats> {
    let dir = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    Some(ProcStats {
        cpu_seconds: cpu_ticks(&stat)? as f64 / ticks_per_second.max(1) as f64,
        peak_rss_bytes: peak_rss_bytes(&status)?,
    })
}

/// The child of `parent` that runs `binary` (its `/proc/<pid>/exe`).
pub fn child_running(parent: u32, binary: &Path) -> Option<u32> {
    let want = std::fs::canonicalize(binary).ok()?;
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let dir = Path::new("/proc").join(pid.to_string());
            std::fs::read_to_string(dir.join("stat"))
                .ok()
                .and_then(|s| parent_pid(&s))
                == Some(parent)
                && std::fs::read_link(dir.join("exe")).ok().as_deref() == Some(want.as_path())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line, with a name holding a space and a parenthesis.
    const STAT: &str = "4242 (capmaas (x) m) S 4200 4242 4200 0 -1 4194560 1500 0 0 0 \
                        250 75 0 0 20 0 6 0 123456 98765432 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_after_the_name() {
        assert_eq!(cpu_ticks(STAT), Some(325));
        assert_eq!(parent_pid(STAT), Some(4200));
        assert_eq!(cpu_ticks("4242 (short) S 1"), None);
        assert_eq!(cpu_ticks("no name here"), None);
    }

    #[test]
    fn peak_rss_from_status() {
        let status = "Name:\tcapmaas-manager\nVmPeak:\t  900000 kB\nVmHWM:\t   34816 kB\nVmRSS:\t   30000 kB\n";
        assert_eq!(peak_rss_bytes(status), Some(34816 * 1024));
        assert_eq!(peak_rss_bytes("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_is_readable() {
        let ticks = clock_ticks_per_second();
        assert!(ticks > 0);
        let me = read(std::process::id(), ticks).unwrap();
        assert!(me.peak_rss_bytes > 0);
        assert!(me.cpu_seconds >= 0.0);
    }

    #[test]
    fn a_child_is_found_by_its_binary() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let sleep = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
        let found = child_running(std::process::id(), &sleep);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, Some(child.id()));
        assert_eq!(
            child_running(std::process::id(), Path::new("/nonexistent")),
            None
        );
    }
}
