#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The MAAS machine lifecycle with `maas-api`: allocate two machines, deploy
//! them (one in memory, `ephemeral_deploy`), wait with progress, release them
//! and wait until they are Ready.
//!
//! ```console
//! # against a MAAS (or a running maas-sim):
//! MAAS_ENDPOINT=http://maas.example:5240/MAAS MAAS_API_KEY=ck:tk:secret \
//!     cargo run -p maas-examples --example lifecycle
//! # against an in-process simulator, nothing else needed:
//! cargo run -p maas-examples --example lifecycle -- --embedded
//! # both at once, with the real maas-sim binary:
//! make demo-maas
//! ```
//!
//! Flags: `--embedded`, `--series <name>` (default `jammy`), `--poll <secs>`
//! (default 2; 0.2 with `--embedded`), `--timeout <secs>` (default 3600),
//! `--maas-endpoint`/`MAAS_ENDPOINT`, `--maas-api-key`/`MAAS_API_KEY`;
//! `--help`, `--version`. Exit status: 0 done, 1 a step failed (allocated
//! machines are released first), 2 bad input (one line,
//! `lifecycle: error: <reason>`), 130 interrupted (Ctrl-C; machines released
//! first).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cli_support::{BadInput, EXIT_INTERRUPTED, Program, shutdown_signal};
use maas_api::{ClientConfig, MaasClient};
use maas_examples::lifecycle::{self, LifecycleError, Options};
use tokio_util::sync::CancellationToken;

const PROGRAM: Program = Program::new("lifecycle");

const EXAMPLES: &str = "\
Examples:
  # An in-process simulator, nothing else needed
  cargo run -p maas-examples --example lifecycle -- --embedded

  # A MAAS (or a running maas-sim), deploying noble
  MAAS_ENDPOINT=http://maas.example:5240/MAAS MAAS_API_KEY=<key> \\
    cargo run -p maas-examples --example lifecycle -- --series noble

Exit status: 0 done, 1 a step failed (machines released first), 2 bad input, 130 Ctrl-C.";

/// Allocates two MAAS machines, deploys them (one in memory), waits, releases
/// them and waits until they are Ready.
#[derive(Parser)]
#[command(name = "lifecycle", version, about, after_help = EXAMPLES)]
struct Args {
    /// Run against an in-process maas-sim.
    #[arg(long)]
    embedded: bool,
    /// Series to deploy (default jammy).
    #[arg(long, value_name = "NAME")]
    series: Option<String>,
    /// Status poll period, seconds (default 2; 0.2 with --embedded).
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    poll: Option<f64>,
    /// Longest wait of a step, seconds (default 3600).
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    timeout: Option<f64>,
    /// MAAS URL (not needed with --embedded).
    #[arg(long, env = "MAAS_ENDPOINT", value_name = "URL")]
    maas_endpoint: Option<String>,
    /// MAAS API key, consumer_key:token_key:token_secret.
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true, value_name = "KEY")]
    maas_api_key: Option<String>,
}

fn seconds(v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| format!("expects seconds, got {v:?}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Args = match PROGRAM.parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    // --embedded: an in-process simulator with a few varied machines.
    let embedded = if args.embedded {
        let sim = maas_sim::Simulator::builder()
            .machines(6)
            .seed(7)
            .deploy_duration(Duration::from_secs(2))
            .release_duration(Duration::from_millis(500))
            .start("127.0.0.1:0")
            .await;
        match sim {
            Ok(sim) => Some(sim),
            Err(e) => return PROGRAM.fail(format!("cannot start the embedded simulator: {e}")),
        }
    } else {
        None
    };
    let (endpoint, api_key) = match &embedded {
        Some(sim) => (sim.endpoint(), sim.admin_api_key().to_owned()),
        None => match (&args.maas_endpoint, &args.maas_api_key) {
            (Some(endpoint), Some(key)) => (endpoint.clone(), key.clone()),
            (None, _) => {
                return PROGRAM.bad_input(BadInput::new(
                    "MAAS_ENDPOINT is not set (e.g. http://maas.example:5240/MAAS), or use --embedded",
                ));
            }
            (_, None) => {
                return PROGRAM
                    .bad_input("MAAS_API_KEY is not set (consumer_key:token_key:token_secret)");
            }
        },
    };
    let maas = match ClientConfig::new(&endpoint, &api_key).and_then(MaasClient::new) {
        Ok(c) => c,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let defaults = Options::default();
    let opts = Options {
        distro_series: args.series.unwrap_or(defaults.distro_series.clone()),
        agent_name: format!("maas-examples/lifecycle/{}", std::process::id()),
        poll_interval: Duration::from_secs_f64(args.poll.unwrap_or(if args.embedded {
            0.2
        } else {
            2.0
        })),
        timeout: args
            .timeout
            .map_or(defaults.timeout, Duration::from_secs_f64),
        ..defaults
    };
    println!("lifecycle: MAAS at {}", maas.base_url());

    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signal = shutdown_signal();
    tokio::spawn(async move {
        signal.await;
        eprintln!("lifecycle: interrupted; releasing what was allocated");
        on_signal.cancel();
    });
    let mut out = |line: &str| println!("{line}");
    let result = lifecycle::run(&maas, &opts, &mut out, cancel).await;
    if let Some(sim) = embedded {
        sim.shutdown().await;
    }
    match result {
        Ok(summary) => {
            println!("{}", summary.line());
            ExitCode::SUCCESS
        }
        Err(LifecycleError::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
        Err(e) => PROGRAM.fail(format!("failed: {e}")),
    }
}
