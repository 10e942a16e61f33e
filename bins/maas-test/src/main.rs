//! `maas-test`: a MAAS smoke test. Connectivity and auth; a machine
//! lifecycle (allocate with constraints → deploy, optionally in memory →
//! wait → release → wait); with `--test-vm-host`, a VM composed on an LXD VM
//! host chosen by zone and pool (optionally with a static IP), waited for
//! and deleted. `--embedded` runs against an in-process maas-sim. The logic
//! lives in `maas_checks::smoke`.
//!
//! Exit status: 0 every step passed, 1 a step failed (summary on stdout),
//! 2 bad input.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cli_support::{Program, Threads};
use maas_checks::cli::{BadInput, Interrupt, LogFormat, OutputFormat, Progress};
use maas_checks::smoke::{self, SmokeOptions, VmHostTest};
use maas_checks::target::MaasTarget;
use maas_sim::MaasVersion;

const PROGRAM: Program = Program::new("maas-test");

const EXAMPLES: &str = "\
Examples:
  # First try, no MAAS needed: everything against an in-process simulator
  maas-test --embedded --test-vm-host

  # A real MAAS: lifecycle of a machine with at least 4 cores and 8 GiB in zone rack-a
  export MAAS_ENDPOINT=http://maas.example:5240/MAAS MAAS_API_KEY=<key>
  maas-test --cpu-count 4 --mem 8192 --zone rack-a

  # Deploy to memory, keep the machine afterwards, JSON report
  maas-test --ephemeral --keep --output json

  # Only the VM host test: compose a VM with a static IP on a host in zone rack-a, pool vms
  maas-test --skip-lifecycle --test-vm-host --zone rack-a --resource-pool vms \\
            --static-ip 10.0.0.50

Exit status: 0 all steps passed, 1 a step failed, 2 bad input.";

/// Smoke-tests a MAAS: connectivity, auth, a machine lifecycle and
/// (with --test-vm-host) a VM composed on an LXD VM host.
#[derive(Debug, Parser)]
#[command(name = "maas-test", version, about, after_help = EXAMPLES)]
struct Cli {
    /// MAAS URL, e.g. http://maas.example:5240/MAAS (not needed with --embedded).
    #[arg(long, env = "MAAS_ENDPOINT", value_name = "URL")]
    maas_endpoint: Option<String>,

    /// MAAS API key (consumer:token:secret; an administrator's for --test-vm-host).
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true, value_name = "KEY")]
    maas_api_key: Option<String>,

    /// Run against an in-process maas-sim (zero setup; ignores the MAAS flags).
    #[arg(long)]
    embedded: bool,

    /// MAAS version the embedded simulator plays: 3.0 to 3.8.
    #[arg(
        long,
        value_name = "VERSION",
        default_value = "3.6",
        requires = "embedded"
    )]
    embedded_version: String,

    /// Zone: an allocation constraint and a VM host filter.
    #[arg(long, value_name = "NAME")]
    zone: Option<String>,

    /// Resource pool: an allocation constraint and a VM host filter.
    #[arg(long, visible_alias = "pool", value_name = "NAME")]
    resource_pool: Option<String>,

    /// Minimum cores of the machine to allocate.
    #[arg(long, value_name = "N")]
    cpu_count: Option<u32>,

    /// Minimum memory of the machine to allocate, MiB.
    #[arg(long, value_name = "MIB")]
    mem: Option<u64>,

    /// A tag the machine must have (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,

    /// Series to deploy (MAAS's default when absent).
    #[arg(long, value_name = "SERIES")]
    distro_series: Option<String>,

    /// Deploy to memory (ephemeral_deploy).
    #[arg(long)]
    ephemeral: bool,

    /// Skip the machine lifecycle.
    #[arg(long)]
    skip_lifecycle: bool,

    /// Also compose a VM on an LXD VM host, wait until it is Ready, delete it.
    #[arg(long)]
    test_vm_host: bool,

    /// Use this VM host (name or id).
    #[arg(long, value_name = "NAME|ID", requires = "test_vm_host")]
    vm_host: Option<String>,

    /// Use the VM host at this address (needs an administrator's key).
    #[arg(long, value_name = "IP", requires = "test_vm_host")]
    node_ip: Option<IpAddr>,

    /// Give the VM's eth0 this static IP.
    #[arg(long, value_name = "IP", requires = "test_vm_host")]
    static_ip: Option<IpAddr>,

    /// VM cores.
    #[arg(long, value_name = "N", default_value_t = 1)]
    vm_cores: u32,

    /// VM memory, MiB (MAAS's minimum is 1024).
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    vm_memory: u64,

    /// VM root disk, GB.
    #[arg(long, value_name = "GB", default_value_t = 8)]
    vm_disk: u32,

    /// VM hostname (default maas-test-<random>).
    #[arg(long, value_name = "NAME")]
    vm_hostname: Option<String>,

    /// Leave the deployed machine and the VM in place.
    #[arg(long)]
    keep: bool,

    /// agent_name of the allocation.
    #[arg(long, value_name = "NAME", default_value = "maas-test")]
    agent_name: String,

    /// Longest wait for a deployment, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 2400)]
    deploy_timeout: u64,

    /// Longest wait for a release, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    release_timeout: u64,

    /// Longest wait for a composed VM to be commissioned, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    commission_timeout: u64,

    /// Status poll period, seconds (default 5; 0.2 with --embedded).
    #[arg(long, value_name = "SECONDS")]
    poll_interval: Option<f64>,

    /// Extra CA certificates (PEM) for an HTTPS MAAS endpoint.
    #[arg(long, value_name = "FILE")]
    maas_ca_cert: Option<PathBuf>,

    /// Timeout of one MAAS request, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    request_timeout: u64,

    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,

    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,

    /// Log level or filter (e.g. info, maas_api=debug); RUST_LOG wins when set.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    log_level: String,
}

fn seconds(flag: &str, v: u64) -> Result<Duration, BadInput> {
    if v == 0 {
        return Err(BadInput(format!("{flag} must be at least 1 second")));
    }
    Ok(Duration::from_secs(v))
}

fn options(cli: &Cli) -> Result<SmokeOptions, BadInput> {
    if cli.skip_lifecycle && !cli.test_vm_host {
        return Err(BadInput(
            "--skip-lifecycle without --test-vm-host leaves nothing to test".into(),
        ));
    }
    if cli.skip_lifecycle && (cli.ephemeral || cli.cpu_count.is_some() || cli.mem.is_some()) {
        return Err(BadInput(
            "--ephemeral, --cpu-count and --mem apply to the lifecycle, which --skip-lifecycle skips".into(),
        ));
    }
    if cli.vm_memory < 1024 {
        return Err(BadInput(
            "--vm-memory must be at least 1024 MiB (MAAS's minimum)".into(),
        ));
    }
    if cli.vm_cores == 0 || cli.vm_disk == 0 {
        return Err(BadInput(
            "--vm-cores and --vm-disk must be at least 1".into(),
        ));
    }
    let poll = match cli.poll_interval {
        Some(p) if !(p.is_finite() && p > 0.0 && p <= 600.0) => {
            return Err(BadInput(
                "--poll-interval must be a number of seconds between 0 and 600".into(),
            ));
        }
        Some(p) => Duration::from_secs_f64(p),
        None if cli.embedded => Duration::from_millis(200),
        None => Duration::from_secs(5),
    };
    Ok(SmokeOptions {
        lifecycle: !cli.skip_lifecycle,
        cpu_count: cli.cpu_count,
        mem_mib: cli.mem,
        tags: cli.tags.clone(),
        zone: cli.zone.clone(),
        pool: cli.resource_pool.clone(),
        distro_series: cli.distro_series.clone(),
        ephemeral: cli.ephemeral,
        agent_name: cli.agent_name.clone(),
        vm_host_test: cli.test_vm_host.then(|| VmHostTest {
            zone: cli.zone.clone(),
            pool: cli.resource_pool.clone(),
            vm_host: cli.vm_host.clone(),
            node_ip: cli.node_ip,
            cores: cli.vm_cores,
            memory_mib: cli.vm_memory,
            disk_gb: cli.vm_disk,
            static_ip: cli.static_ip,
            hostname: cli.vm_hostname.clone(),
        }),
        keep: cli.keep,
        deploy_timeout: seconds("--deploy-timeout", cli.deploy_timeout)?,
        release_timeout: seconds("--release-timeout", cli.release_timeout)?,
        commission_timeout: seconds("--commission-timeout", cli.commission_timeout)?,
        poll_interval: poll,
    })
}

/// The MAAS to test: flags/environment, or nothing yet for --embedded.
fn target(cli: &Cli) -> Result<Option<MaasTarget>, BadInput> {
    if cli.embedded {
        return Ok(None);
    }
    let (Some(endpoint), Some(key)) = (&cli.maas_endpoint, &cli.maas_api_key) else {
        return Err(BadInput(
            "no MAAS given: set --maas-endpoint (MAAS_ENDPOINT) and --maas-api-key (MAAS_API_KEY), or try --embedded".into(),
        ));
    };
    let mut t = MaasTarget::new(endpoint, key);
    t.ca_cert = cli.maas_ca_cert.clone();
    t.request_timeout = seconds("--request-timeout", cli.request_timeout)?;
    Ok(Some(t))
}

fn main() -> ExitCode {
    let cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = PROGRAM.init_logging(cli.log_format, &cli.log_level) {
        return code;
    }
    let prepared = options(&cli).and_then(|o| Ok((o, target(&cli)?)));
    let (opts, target) = match prepared {
        Ok(v) => v,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let version: MaasVersion = match cli.embedded_version.parse() {
        Ok(v) => v,
        Err(e) => return PROGRAM.bad_input(format!("--embedded-version: {e}")),
    };
    // A client for a given MAAS is checked before anything runs.
    let given = match target.as_ref().map(MaasTarget::client).transpose() {
        Ok(c) => c,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let runtime = match PROGRAM.runtime(Threads::Workers(2)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let progress = if cli.quiet {
        Progress::silent()
    } else {
        Progress::stderr()
    };
    let report: Result<smoke::SmokeReport, String> = runtime.block_on(async {
        let interrupt = Interrupt::new();
        interrupt.on_signals();
        match given {
            Some(maas) => Ok(smoke::run(&maas, &opts, &progress, &interrupt, false).await),
            None => {
                let sim = maas_checks::embedded::start(version)
                    .await
                    .map_err(|e| format!("cannot start the embedded maas-sim: {e}"))?;
                progress.say(format!(
                    "embedded maas-sim (MAAS {version}) at {}",
                    sim.endpoint()
                ));
                let maas = MaasTarget::new(sim.endpoint(), sim.admin_api_key())
                    .client()
                    .map_err(|e| e.0)?;
                let report = smoke::run(&maas, &opts, &progress, &interrupt, true).await;
                sim.shutdown().await;
                Ok(report)
            }
        }
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => return PROGRAM.fail(e),
    };
    match cli.output {
        OutputFormat::Text => print!("{}", report.render_text()),
        OutputFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return PROGRAM.fail(format!("cannot render the report: {e}")),
        },
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        let failed: Vec<&str> = report.failures().map(|s| s.name.as_str()).collect();
        PROGRAM.fail(format!("failed: {}", failed.join(", ")))
    }
}
