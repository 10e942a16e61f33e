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
//! (default 2; 0.2 with `--embedded`), `--timeout <secs>` (default 3600).
//! Exit status: 0 done, 1 a step failed (allocated machines are released
//! first), 2 bad input, 130 interrupted (Ctrl-C; machines released first).

use std::process::ExitCode;
use std::time::Duration;

use maas_api::{ClientConfig, MaasClient};
use maas_examples::lifecycle::{self, LifecycleError, Options};
use tokio_util::sync::CancellationToken;

fn usage(reason: &str) -> ExitCode {
    eprintln!("lifecycle: {reason}");
    ExitCode::from(2)
}

struct Args {
    embedded: bool,
    series: Option<String>,
    poll: Option<f64>,
    timeout: Option<f64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        embedded: false,
        series: None,
        poll: None,
        timeout: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let secs = |name: &str, v: String| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| format!("{name} expects seconds, got {v:?}"))
        };
        match a.as_str() {
            "--embedded" => args.embedded = true,
            "--series" => args.series = Some(value("--series")?),
            "--poll" => args.poll = Some(secs("--poll", value("--poll")?)?),
            "--timeout" => args.timeout = Some(secs("--timeout", value("--timeout")?)?),
            "-h" | "--help" => {
                return Err(
                    "usage: lifecycle [--embedded] [--series NAME] [--poll SECS] [--timeout SECS] \
                     (MAAS_ENDPOINT and MAAS_API_KEY select the MAAS without --embedded)"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => return usage(&e),
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
            Err(e) => {
                eprintln!("lifecycle: cannot start the embedded simulator: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let (endpoint, api_key) = match &embedded {
        Some(sim) => (sim.endpoint(), sim.admin_api_key().to_owned()),
        None => {
            let Ok(endpoint) = std::env::var("MAAS_ENDPOINT") else {
                return usage(
                    "MAAS_ENDPOINT is not set (e.g. http://maas.example:5240/MAAS), or use --embedded",
                );
            };
            let Ok(key) = std::env::var("MAAS_API_KEY") else {
                return usage("MAAS_API_KEY is not set (consumer_key:token_key:token_secret)");
            };
            (endpoint, key)
        }
    };
    let maas = match ClientConfig::new(&endpoint, &api_key).and_then(MaasClient::new) {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
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
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
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
        Err(LifecycleError::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("lifecycle: failed: {e}");
            ExitCode::FAILURE
        }
    }
}
