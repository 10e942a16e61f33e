//! `capmaas-demo` (run by `make demo`): see the `capmaas_demo` crate and `docs/demo.md`.

use std::io::IsTerminal;
use std::process::ExitCode;

use capmaas_demo::{DemoConfig, run};
use cli_support::{EXIT_INTERRUPTED, Program, Threads, shutdown_signal};
use tokio_util::sync::CancellationToken;

const PROGRAM: Program = Program::new("capmaas-demo");

const EXAMPLES: &str = "\
Knobs (environment variables):
  DEMO_MACHINES        machines in the cluster, 1-1000 (5)
  DEMO_MAAS_VERSION    maas-sim profile: 3.4, 3.5, 3.6, 3.7 or 3.8 (3.6)
  DEMO_DEPLOY_SECONDS  maas-sim's deploy time (5)
  DEMO_TIMEOUT         longest wait of each phase, seconds (300)
  DEMO_NONINTERACTIVE  1: plain lines instead of a live table
  DEMO_BIN_DIR         where maas-sim and capmaas-manager are (next to this binary)

Examples:
  # Build everything it runs, then run it (the usual way)
  make demo

  # Eight machines against a MAAS 3.4 simulator, plain lines for a log
  DEMO_MACHINES=8 DEMO_MAAS_VERSION=3.4 DEMO_NONINTERACTIVE=1 target/debug/capmaas-demo

Exit status: 0 every machine provisioned and released, 1 failure, 2 bad knob, 130 Ctrl-C.";

/// Provisions and releases a mixed cluster end to end on this machine: a real
/// etcd + kube-apiserver, maas-sim as the MAAS and capmaas-manager as the
/// controller. Everything it starts is stopped when it ends.
#[derive(clap::Parser)]
#[command(name = "capmaas-demo", version, about, after_help = EXAMPLES)]
struct Cli {}

fn main() -> ExitCode {
    let _cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let cfg = match DemoConfig::from_env(std::io::stdout().is_terminal()) {
        Ok(c) => c,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let runtime = match PROGRAM.runtime(Threads::Workers(2)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let interrupted = CancellationToken::new();
        {
            let (cancel, interrupted) = (cancel.clone(), interrupted.clone());
            let signal = shutdown_signal();
            tokio::spawn(async move {
                signal.await;
                interrupted.cancel();
                cancel.cancel();
            });
        }
        let outcome = run(&cfg, std::io::stdout(), cancel).await;
        if interrupted.is_cancelled() {
            ExitCode::from(EXIT_INTERRUPTED)
        } else if outcome.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
