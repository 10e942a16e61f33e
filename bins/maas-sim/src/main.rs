//! The maas-sim binary: a MAAS API simulator on a TCP port.
//!
//! ```console
//! maas-sim --listen 127.0.0.1:5240 --machines 20 --api-key <consumer:token:secret> \
//!          --deploy-seconds 5 --seed 7 --maas-version 3.7 --inventory FILE
//! ```
//!
//! stdout, one `KEY=value` per line (the first line is always the admin key):
//! `MAAS_API_KEY`, `MAAS_ENDPOINT`, `MAAS_USER_API_KEY`, `MAAS_SIM_CONTROL`.
//! Logs go to stderr. Bad flags exit 2 with one line
//! (`maas-sim: error: <reason>`); SIGINT and SIGTERM shut down cleanly.

use clap::Parser;
use cli_support::{LogFormat, Program, Threads, shutdown_signal};
use maas_sim::{Inventory, LatencyProfile, MaasVersion, OpFault, ScriptedFault, Simulator};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

const PROGRAM: Program = Program::new("maas-sim");

const EXAMPLES: &str = "\
Examples:
  # 20 generated machines on the default port; the admin key is printed first
  maas-sim --machines 20

  # A free port, fast deploys, MAAS 3.7, machines from a file
  maas-sim --listen 127.0.0.1:0 --deploy-seconds 1 --maas-version 3.7 \\
           --inventory examples/demo-maas/inventory.yaml

  # 10% of allocations fail with 503, reads take 200 ms more, JSON logs
  maas-sim --machines 50 --fault-rate allocate=0.1 --fault-latency MachinesHandler.read=200 \\
           --log-format json

  # Answers as slow as a real region's (tens of ms per machine call)
  maas-sim --machines 200 --latency-profile region

  # VM hosts discovered from the real LXD daemons at their addresses
  maas-sim --vmhost-discovery lxd --inventory hosts.yaml

stdout: MAAS_API_KEY=..., MAAS_ENDPOINT=..., MAAS_USER_API_KEY=..., MAAS_SIM_CONTROL=...
Exit status: 0 stopped by SIGINT/SIGTERM, 1 cannot listen or start, 2 bad input.";

/// How VM hosts are discovered when they are created or refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum VmHostDiscoveryMode {
    /// Answer from the inventory's simulated LXD hosts (and `/_sim/lxd-hosts`).
    Simulated,
    /// Connect to the real LXD daemon at the VM host's address, as MAAS does.
    Lxd,
}

/// A MAAS 2.0 API simulator.
#[derive(Parser)]
#[command(name = "maas-sim", version, about, after_help = EXAMPLES)]
struct Cli {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:5240")]
    listen: String,
    /// Generate this many machines (deterministic from --seed).
    #[arg(long, default_value_t = 0)]
    machines: usize,
    /// The admin's API key `consumer:token:secret` (generated when missing).
    #[arg(long, env = "MAAS_SIM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The non-admin user's API key (generated when missing).
    #[arg(long, env = "MAAS_SIM_USER_API_KEY", hide_env_values = true)]
    user_api_key: Option<String>,
    /// Deploying → Deployed, in seconds.
    #[arg(long, default_value_t = 5.0)]
    deploy_seconds: f64,
    /// Releasing → Ready, in seconds.
    #[arg(long, default_value_t = 1.0)]
    release_seconds: f64,
    /// Commissioning → Ready, in seconds.
    #[arg(long, default_value_t = 3.0)]
    commission_seconds: f64,
    /// Disk erasing, in seconds.
    #[arg(long, default_value_t = 2.0)]
    erase_seconds: f64,
    /// Delay before power changes are observed, in seconds.
    #[arg(long, default_value_t = 0.5)]
    power_seconds: f64,
    /// Seed for ids, hostnames and the generated inventory.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// MAAS version profile: 3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7 or 3.8 (MAAS main).
    #[arg(long, default_value = "3.6")]
    maas_version: String,
    /// Inventory file (YAML, or JSON when it ends in .json).
    #[arg(long)]
    inventory: Option<std::path::PathBuf>,
    /// Error rate of an operation, `OP=RATE` (e.g. `allocate=0.1`); repeatable.
    #[arg(long = "fault-rate", value_name = "OP=RATE")]
    fault_rates: Vec<String>,
    /// Added latency of an operation, `OP=MS`; repeatable.
    #[arg(long = "fault-latency", value_name = "OP=MS")]
    fault_latencies: Vec<String>,
    /// Make the next N deployments fail.
    #[arg(long, default_value_t = 0)]
    fail_deploys: u32,
    /// VM host discovery: `simulated` (inventory) or `lxd` (the real LXD
    /// daemon at the VM host's address, over HTTPS with its certificate).
    #[arg(long, value_enum, default_value_t = VmHostDiscoveryMode::Simulated)]
    vmhost_discovery: VmHostDiscoveryMode,
    /// How long answers take: `none` (at once) or `region` (as a real
    /// Django region: a base cost per operation plus, for machine lists, a
    /// cost per machine returned; docs/maas-sim.md).
    #[arg(long, default_value = "none", value_name = "PROFILE")]
    latency_profile: String,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter (`info`, `maas_sim=debug`, …); RUST_LOG also works.
    #[arg(long, default_value = "info")]
    log_level: String,
}

fn seconds(name: &str, v: f64) -> Result<Duration, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("--{name} must be a non-negative number of seconds"))
    }
}

fn op_value(flag: &str, s: &str) -> Result<(String, f64), String> {
    let (op, v) = s
        .split_once('=')
        .ok_or_else(|| format!("--{flag} expects OP=VALUE, got '{s}'"))?;
    let v: f64 = v
        .parse()
        .map_err(|_| format!("--{flag} expects a number after '=', got '{s}'"))?;
    if op.is_empty() || !v.is_finite() || v < 0.0 {
        return Err(format!(
            "--{flag} expects OP=VALUE with a non-negative value, got '{s}'"
        ));
    }
    Ok((op.to_string(), v))
}

fn faults(cli: &Cli) -> Result<Vec<OpFault>, String> {
    let mut out = Vec::new();
    for f in &cli.fault_rates {
        let (op, rate) = op_value("fault-rate", f)?;
        if rate > 1.0 {
            return Err(format!("--fault-rate must be between 0 and 1, got '{f}'"));
        }
        out.push(OpFault {
            op,
            error_rate: rate,
            status: 503,
            body: None,
            latency_ms: 0,
        });
    }
    for f in &cli.fault_latencies {
        let (op, ms) = op_value("fault-latency", f)?;
        out.push(OpFault {
            op,
            error_rate: 0.0,
            status: 503,
            body: None,
            latency_ms: ms as u64,
        });
    }
    Ok(out)
}

fn main() -> ExitCode {
    let cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let version: MaasVersion = match cli.maas_version.parse() {
        Ok(v) => v,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let mut builder = Simulator::builder()
        .machines(cli.machines)
        .seed(cli.seed)
        .maas_version(version);
    for (name, v) in [
        ("deploy-seconds", cli.deploy_seconds),
        ("release-seconds", cli.release_seconds),
        ("commission-seconds", cli.commission_seconds),
        ("erase-seconds", cli.erase_seconds),
        ("power-seconds", cli.power_seconds),
    ] {
        let d = match seconds(name, v) {
            Ok(d) => d,
            Err(e) => return PROGRAM.bad_input(e),
        };
        builder = match name {
            "deploy-seconds" => builder.deploy_duration(d),
            "release-seconds" => builder.release_duration(d),
            "commission-seconds" => builder.commission_duration(d),
            "erase-seconds" => builder.erase_duration(d),
            _ => builder.power_delay(d),
        };
    }
    if let Some(k) = &cli.api_key {
        if maas_sim::ApiKey::parse(k).is_err() {
            return PROGRAM
                .bad_input("--api-key must have the form consumer_key:token_key:token_secret");
        }
        builder = builder.api_key(k.clone());
    }
    if let Some(k) = &cli.user_api_key {
        if maas_sim::ApiKey::parse(k).is_err() {
            return PROGRAM.bad_input(
                "--user-api-key must have the form consumer_key:token_key:token_secret",
            );
        }
        builder = builder.user_api_key(k.clone());
    }
    if let Some(path) = &cli.inventory {
        match Inventory::from_path(path) {
            Ok(inv) => builder = builder.inventory(inv),
            Err(e) => return PROGRAM.bad_input(e),
        }
    }
    match cli.latency_profile.parse::<LatencyProfile>() {
        Ok(p) => builder = builder.latency_profile(p),
        Err(e) => return PROGRAM.bad_input(format!("--latency-profile: {e}")),
    }
    if cli.vmhost_discovery == VmHostDiscoveryMode::Lxd {
        builder = builder.lxd_discovery();
    }
    match faults(&cli) {
        Ok(fs) => {
            for f in fs {
                builder = builder.fault(f);
            }
        }
        Err(e) => return PROGRAM.bad_input(e),
    }
    if cli.listen.parse::<std::net::SocketAddr>().is_err() {
        return PROGRAM.bad_input(format!(
            "--listen expects HOST:PORT with an IP address, got '{}'",
            cli.listen
        ));
    }
    if let Err(code) = PROGRAM.init_logging(cli.log_format, &cli.log_level) {
        return code;
    }
    let runtime = match PROGRAM.runtime(Threads::PerCore) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let sim = match builder.start(&cli.listen).await {
            Ok(s) => s,
            Err(e) => return PROGRAM.fail(e),
        };
        if cli.fail_deploys > 0 {
            sim.control()
                .add_scripted_fault(ScriptedFault::FailDeploys {
                    count: cli.fail_deploys,
                });
        }
        // Signals are caught from here on: callers send SIGTERM as soon as
        // the endpoint is printed.
        let shutdown = shutdown_signal();
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "MAAS_API_KEY={}", sim.admin_api_key());
            let _ = writeln!(out, "MAAS_ENDPOINT={}", sim.endpoint());
            let _ = writeln!(out, "MAAS_USER_API_KEY={}", sim.user_api_key());
            let _ = writeln!(out, "MAAS_SIM_CONTROL=http://{}/_sim", sim.addr());
            let _ = out.flush();
        }
        tracing::info!(endpoint = %sim.endpoint(), version = %version, "ready");
        shutdown.await;
        tracing::info!("shutting down");
        sim.shutdown().await;
        ExitCode::SUCCESS
    })
}
