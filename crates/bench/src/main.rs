//! `capmaas-bench` (run by `make bench`): see the `capmaas_bench` crate and
//! `docs/benchmarks.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capmaas_bench::{BenchConfig, comparison, run};
use cli_support::{Program, Threads};

const PROGRAM: Program = Program::new("capmaas-bench");

const EXAMPLES: &str = "\
Examples:
  # Build in release and run N=10 and N=200 against a region-like maas-sim (the usual way)
  make bench

  # 1000 machines, no MAAS latency
  BENCH_N=1000 BENCH_LATENCY=none make bench

Each run prints a table and writes OUT_DIR/bench-n<N>-<profile>.json.
Exit status: 0 every run provisioned and released every machine, 1 a run failed, 2 bad input.";

/// Provisions and releases N machines with a real kube-apiserver, maas-sim
/// and capmaas-manager, and measures the MAAS requests, reconciles,
/// apiserver writes, wall times, CPU and memory it took.
#[derive(clap::Parser)]
#[command(name = "capmaas-bench", version, about, after_help = EXAMPLES)]
struct Cli {
    /// Machine counts, one run each (1 control plane + N-1 workers; 1-1000).
    #[arg(long, env = "BENCH_N", default_value = "10,200", value_name = "N,N…")]
    machines: String,
    /// maas-sim's latency profile: `region` (as a real region) or `none`.
    #[arg(long, env = "BENCH_LATENCY", default_value = "region")]
    latency_profile: String,
    /// maas-sim's deploy time, seconds.
    #[arg(long, env = "BENCH_DEPLOY_SECONDS", default_value_t = 2.0)]
    deploy_seconds: f64,
    /// maas-sim's release time, seconds.
    #[arg(long, default_value_t = 1.0)]
    release_seconds: f64,
    /// Where the JSON reports go.
    #[arg(long, env = "BENCH_OUT", default_value = "target/bench")]
    out_dir: PathBuf,
    /// Where maas-sim and capmaas-manager are (default: next to this binary).
    #[arg(long, env = "BENCH_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Longest wait of each phase, seconds.
    #[arg(long, env = "BENCH_TIMEOUT", default_value_t = 900)]
    timeout: u64,
}

fn main() -> ExitCode {
    let cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let sizes = match BenchConfig::parse_sizes(&cli.machines) {
        Ok(s) => s,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let bin_dir = cli.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let cfg = BenchConfig {
        latency_profile: cli.latency_profile.clone(),
        deploy_seconds: cli.deploy_seconds,
        release_seconds: cli.release_seconds,
        bin_dir,
        timeout: Duration::from_secs(cli.timeout.max(1)),
    };
    if let Err(e) = cfg.check() {
        return PROGRAM.bad_input(e);
    }
    if let Err(e) = std::fs::create_dir_all(&cli.out_dir) {
        return PROGRAM.bad_input(format!("cannot create {}: {e}", cli.out_dir.display()));
    }
    let runtime = match PROGRAM.runtime(Threads::Workers(2)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let mut reports = Vec::new();
        for n in sizes {
            let mut err = std::io::stderr();
            match run(&cfg, n, &mut err).await {
                Ok(r) => {
                    println!("\n{}", r.table());
                    let path = cli
                        .out_dir
                        .join(format!("bench-n{n}-{}.json", cfg.latency_profile));
                    let json = serde_json::to_string_pretty(&r).unwrap_or_default();
                    if let Err(e) = std::fs::write(&path, json + "\n") {
                        eprintln!("capmaas-bench: cannot write {}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                    println!("(written to {})", path.display());
                    reports.push(r);
                }
                Err(e) => {
                    eprintln!("capmaas-bench: N={n} failed: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        if reports.len() > 1 {
            println!("\n{}", comparison(&reports));
        }
        ExitCode::SUCCESS
    })
}
