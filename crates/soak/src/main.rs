//! `capmaas-soak` (run by `make soak`): see the `capmaas_soak` crate and
//! `docs/testing.md`.

use std::io::Write;
use std::process::ExitCode;

use capmaas_soak::{SoakConfig, soak};
use cli_support::{EXIT_INTERRUPTED, Program, Threads, shutdown_signal};

const PROGRAM: Program = Program::new("capmaas-soak");

const EXAMPLES: &str = "\
Knobs (environment variables):
  SOAK_RUNS      runs (20)
  SOAK_MACHINES  MaasMachines per wave (6)
  SOAK_KILLS     kill -9 of capmaas-manager per run (40)
  SOAK_SEED      seed (default: from the clock; printed to replay)
  SOAK_RUN       only this run index of the seed (replay)
  SOAK_VARIANTS  fault variants in turn: kills,503,lock,drop,html500,garbage (all)
  SOAK_TIMEOUT   longest wait of each phase, seconds (180)
  SOAK_KILL_MS   manager uptime between kills, lo-hi ms (150-2500)
  SOAK_BIN_DIR   where maas-sim and capmaas-manager are (next to this binary)

Examples:
  make soak
  make soak SOAK_RUNS=3 SOAK_VARIANTS=drop SOAK_SEED=42

Exit status: 0 every run clean, 1 a run not clean (its replay command is printed),
2 bad knob, 130 interrupted.";

/// Kills capmaas-manager with SIGKILL at random moments (with MAAS faults)
/// while it provisions and deletes machines against maas-sim and a real
/// kube-apiserver; checks that MAAS never holds two machines for one
/// MaasMachine, never deploys one twice and keeps nothing at the end.
#[derive(clap::Parser)]
#[command(name = "capmaas-soak", version, about, after_help = EXAMPLES)]
struct Cli {}

fn main() -> ExitCode {
    let _cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let cfg = match SoakConfig::from_env() {
        Ok(c) => c,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let runtime = match PROGRAM.runtime(Threads::Workers(2)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let started = std::time::Instant::now();
        println!(
            "soak: seed {}, {} runs × {} kills, {} MaasMachines per wave, variants {}",
            cfg.seed,
            cfg.run_indexes().len(),
            cfg.kills,
            cfg.machines,
            cfg.variants.iter().map(|v| v.name()).collect::<Vec<_>>().join(",")
        );
        let result = tokio::select! {
            r = soak(&cfg, |line| {
                println!("{line}");
                let _ = std::io::stdout().flush();
            }) => r,
            () = shutdown_signal() => return ExitCode::from(EXIT_INTERRUPTED),
        };
        match result {
            Ok(summary) => {
                println!("soak: wall time {:.0}s", started.elapsed().as_secs_f64());
                println!("{}", summary.line());
                if summary.clean() {
                    ExitCode::SUCCESS
                } else {
                    println!(
                        "soak: not clean; replay the whole soak with SOAK_SEED={} (each failed run printed its own replay command)",
                        cfg.seed
                    );
                    ExitCode::FAILURE
                }
            }
            Err(e) => PROGRAM.fail(format!("{e} (seed {})", cfg.seed)),
        }
    })
}
