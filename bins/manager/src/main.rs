//! `capmaas-manager`: the MAAS Cluster API infrastructure provider's manager.
//! Thin: flags in, `capmaas_controller` out. See `docs/operations.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capmaas_controller::config::bounds::{self, DurationRange};
use capmaas_controller::leader::{DEFAULT_LEASE_NAME, LeaderElection};
use capmaas_controller::{ControllerConfig, Exit, MaasCredentials, RunOptions, ShutdownTimeouts};
use clap::{Parser, Subcommand};
use cli_support::{LogFormat, Program, Threads, shutdown_signal};
use machine_lifecycle::LifecycleConfig;

const PROGRAM: Program = Program::new("capmaas-manager");

/// How long the runtime waits for leftover tasks when the process exits.
/// Together with [`ShutdownTimeouts::default`] (drain 12 s, Lease release
/// 10 s, HTTP 2 s) this stays inside the Deployment's 30 s grace period.
const RUNTIME_STOP_TIMEOUT: Duration = Duration::from_secs(1);

const EXAMPLES: &str = "\
Examples:
  # All namespaces, two replicas with leader election (as the released Deployment runs it)
  capmaas-manager --leader-elect --leader-elect-namespace capmaas-system

  # One namespace, a default MAAS for MaasClusters without credentialsRef, JSON logs
  MAAS_ENDPOINT=http://maas.example:5240/MAAS MAAS_API_KEY=<key> \\
    capmaas-manager --namespace team-a --log-format json --log-level capmaas_controller=debug,info

  # The CRDs it serves, as YAML
  capmaas-manager crd > crds.yaml

Kubernetes credentials: in-cluster, else $KUBECONFIG or ~/.kube/config.
RUST_LOG, when set, replaces --log-level.
Every flag is checked before anything starts: a bad value exits 2 with one line naming the flag
(negative numbers are read as values and refused).
Exit status: 0 stopped by SIGTERM/SIGINT, 1 failure or leadership lost, 2 bad input.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every CRD of this provider as YAML (the content of config/crd/).
    Crd,
}

/// Cluster API infrastructure provider for MAAS.
// One `about` and no `long_about`: `--help` keeps one line per flag (the
// layout docs/reference/cli.md is generated from).
#[derive(Debug, Parser)]
#[command(name = "capmaas-manager", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Watch only this namespace (default: all; empty means all).
    #[arg(long, value_parser = dns_label)]
    namespace: Option<String>,
    /// Reconcile only objects labelled cluster.x-k8s.io/watch-filter=<value> (empty: all).
    #[arg(long, value_parser = label_value)]
    watch_filter: Option<String>,
    /// Concurrent reconciles per kind (1-65535).
    #[arg(long, default_value = "10", value_name = "N", allow_hyphen_values = true,
          value_parser = integer_in(1, u64::from(u16::MAX)))]
    concurrency: u64,
    /// Resync period of provisioned machines and clusters (30s-24h).
    #[arg(long, default_value = "10m", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = duration_in(bounds::SYNC_PERIOD))]
    sync_period: Duration,
    /// Period of the shared MAAS poller: one list request per MAAS per tick (100ms-10m).
    #[arg(long, default_value = "10s", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = duration_in(bounds::POLL_INTERVAL))]
    poll_interval: Duration,
    /// A deploy still running after this fails the attempt; the machine is
    /// released and another tried (1m-24h).
    #[arg(long, default_value = "90m", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = duration_in(bounds::DEPLOY_TIMEOUT))]
    deploy_timeout: Duration,
    /// Failed deploys retried on another machine before the MaasMachine
    /// fails for good (0-10; 0: no retry).
    #[arg(long, default_value = "2", value_name = "N", allow_hyphen_values = true,
          value_parser = integer_in(0, u64::from(bounds::MAX_DEPLOY_RETRIES)))]
    deploy_retries: u64,
    /// Least memory (MiB) of a machine for an in-memory (ephemeral) deploy:
    /// a smaller spec.minMemory is raised to it (0-4294967296; 0: no floor).
    #[arg(long, default_value = "16384", value_name = "MIB", allow_hyphen_values = true,
          value_parser = integer_in(0, bounds::EPHEMERAL_MIN_MEMORY_MIB_MAX))]
    ephemeral_min_memory_mib: u64,
    /// TTL of the control-plane DNS record in MAAS, whole seconds (0s-7d;
    /// 0s: resolvers do not cache it).
    #[arg(long, default_value = "10s", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = whole_seconds_in(bounds::DNS_TTL))]
    dns_ttl: Duration,
    /// How long an allocation whose answer was lost may still show up in
    /// MAAS before it is sent again (10s-1h, at least twice --poll-interval).
    #[arg(long, default_value = "2m", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = duration_in(bounds::ALLOCATION_SETTLE_TIME))]
    allocation_settle_time: Duration,
    /// First wait after MAAS had no machine for a MaasMachine; doubles per
    /// failure (10s-1h).
    #[arg(long, default_value = "1m", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = duration_in(bounds::CAPACITY_BACKOFF))]
    capacity_backoff: Duration,
    /// Longest such wait (10s-24h, at least --capacity-backoff).
    #[arg(long, default_value = "10m", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = duration_in(bounds::CAPACITY_BACKOFF_MAX))]
    capacity_backoff_max: Duration,
    /// Period of the orphan sweep: one list of all machines per MAAS endpoint
    /// in use, to find machines held for MaasMachines that no longer exist
    /// (0s-24h; 0s: no sweep).
    #[arg(long, default_value = "5m", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = duration_in(bounds::ORPHAN_SWEEP_PERIOD))]
    orphan_sweep_period: Duration,
    /// Release orphaned machines (default: only report them, metric
    /// capmaas_orphaned_machines and a warning log). Only when this controller
    /// is the only capmaas using its MAAS machines.
    #[arg(long)]
    release_orphans: bool,
    /// How long a machine must stay orphaned before --release-orphans
    /// releases it (0s-7d).
    #[arg(long, default_value = "10m", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = duration_in(bounds::ORPHAN_GRACE))]
    orphan_grace: Duration,
    /// Serve reconciles from the shared MAAS machine cache (fewer MAAS
    /// requests; experimental, off by default: docs/controller.md).
    #[arg(long)]
    machine_cache: bool,
    /// Hold a Lease before reconciling (run several replicas).
    #[arg(long)]
    leader_elect: bool,
    /// Namespace of the leader-election Lease (default: $POD_NAMESPACE, else --namespace, else capmaas-system).
    #[arg(long, requires = "leader_elect", value_parser = dns_label)]
    leader_elect_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = DEFAULT_LEASE_NAME, requires = "leader_elect",
          value_parser = dns_subdomain)]
    leader_elect_lease_name: String,
    /// Lease duration, whole seconds (2s-1h); renewed a third of it before expiry.
    #[arg(long, default_value = "15s", value_name = "DURATION", requires = "leader_elect",
          allow_hyphen_values = true, value_parser = whole_seconds_in(bounds::LEASE_DURATION))]
    leader_elect_lease_duration: Duration,
    /// Address of /metrics.
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:9440")]
    health_addr: SocketAddr,
    /// Default MAAS endpoint (MaasClusters without credentialsRef).
    #[arg(long, env = "MAAS_ENDPOINT")]
    maas_endpoint: Option<String>,
    /// Default MAAS API key (consumer:token:secret).
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true)]
    maas_api_key: Option<String>,
    /// PEM CA bundle for the default MAAS endpoint.
    #[arg(long)]
    maas_ca_bundle: Option<PathBuf>,
    /// Log format: text (human-readable lines) or json (JSON lines).
    // The variants' own descriptions would switch `--help` to its
    // multi-line layout.
    #[arg(long, value_enum, default_value = "text", hide_possible_values = true)]
    log_format: LogFormat,
    /// Log level or filter (e.g. info, capmaas_controller=debug).
    #[arg(long, default_value = "info")]
    log_level: String,
}

/// `d` as the flags write it (`1h30m`, `250ms`, `24h`).
fn show(d: Duration) -> String {
    let mut s = d.as_secs();
    let ms = d.subsec_millis();
    let mut out = String::new();
    for (unit, len) in [("h", 3600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err("negative durations are not allowed".to_owned());
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("a unit is missing: e.g. {t}s or {t}m"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("not a duration ({e}); write e.g. 30s, 5m or 1h30m"))
}

/// A duration inside `range`.
fn duration_in(range: DurationRange) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    move |s| {
        let d = parse_duration(s)?;
        if range.contains(d) {
            Ok(d)
        } else {
            Err(format!(
                "must be between {} and {}",
                show(range.min),
                show(range.max)
            ))
        }
    }
}

/// A whole number of seconds inside `range`.
fn whole_seconds_in(range: DurationRange) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    let inner = duration_in(range);
    move |s| {
        let d = inner(s)?;
        if d.subsec_nanos() == 0 {
            Ok(d)
        } else {
            Err("must be whole seconds".to_owned())
        }
    }
}

/// A whole number in `min..=max`.
fn integer_in(min: u64, max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |s| {
        let t = s.trim();
        let n: u64 = t.parse().map_err(|_| {
            if t.starts_with('-') {
                format!("must not be negative: a whole number from {min} to {max}")
            } else {
                format!("not a whole number: give one from {min} to {max}")
            }
        })?;
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("must be from {min} to {max}"))
        }
    }
}

fn is_label(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A namespace name (RFC 1123 label); empty means "not set".
fn dns_label(s: &str) -> Result<String, String> {
    if s.is_empty() || is_label(s, 63) {
        Ok(s.to_owned())
    } else {
        Err(
            "not a namespace name: at most 63 lower-case letters, digits and '-', \
             starting and ending with a letter or digit"
                .to_owned(),
        )
    }
}

/// A Lease name (RFC 1123 subdomain).
fn dns_subdomain(s: &str) -> Result<String, String> {
    if s.len() <= 253 && s.split('.').all(|l| is_label(l, 63)) {
        Ok(s.to_owned())
    } else {
        Err("not an object name: lower-case letters, digits, '-' and '.', at most 253".to_owned())
    }
}

/// A label value; empty means "not set".
fn label_value(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    if b.is_empty()
        || (b.len() <= 63
            && b.iter().all(inner)
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
    {
        Ok(s.to_owned())
    } else {
        Err(
            "not a label value: at most 63 letters, digits, '-', '_' and '.', \
             starting and ending with a letter or digit"
                .to_owned(),
        )
    }
}

fn crds() -> Result<String, String> {
    let mut files = capi_types::crds::render_all().map_err(|e| e.to_string())?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files
        .into_iter()
        .map(|(_, yaml)| yaml)
        .collect::<Vec<_>>()
        .join("---\n"))
}

/// What the flags decide, checked as a whole: the controller configuration
/// with its default credentials (CA bundle read and parsed), and how to run.
struct Settings {
    config: ControllerConfig,
    options: RunOptions,
}

/// Checks what single flags cannot: pairs of flags, files, the credentials.
/// The error is the one line to print.
fn settings(cli: &Cli) -> Result<Settings, String> {
    let credentials = match (&cli.maas_endpoint, &cli.maas_api_key) {
        (Some(endpoint), Some(key)) => {
            let mut c = MaasCredentials::new(endpoint, key);
            if let Some(path) = &cli.maas_ca_bundle {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read --maas-ca-bundle {}: {e}", path.display()))?;
                c = c.with_ca_bundle(pem);
            }
            capmaas_controller::config::validate_credentials(&c).map_err(|e| {
                match &cli.maas_ca_bundle {
                    Some(path) if matches!(e, maas_api::ConfigError::CaBundle(_)) => {
                        format!("--maas-ca-bundle {}: {e}", path.display())
                    }
                    _ => format!("default MAAS credentials: {e}"),
                }
            })?;
            Some(c)
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err("--maas-endpoint needs --maas-api-key (or MAAS_API_KEY)".to_owned());
        }
        (None, Some(_)) => {
            return Err("--maas-api-key needs --maas-endpoint (or MAAS_ENDPOINT)".to_owned());
        }
    };
    if credentials.is_none() && cli.maas_ca_bundle.is_some() {
        return Err("--maas-ca-bundle needs --maas-endpoint and --maas-api-key".to_owned());
    }
    if cli.capacity_backoff_max < cli.capacity_backoff {
        return Err(format!(
            "--capacity-backoff-max ({}) must be at least --capacity-backoff ({})",
            show(cli.capacity_backoff_max),
            show(cli.capacity_backoff)
        ));
    }
    if cli.allocation_settle_time < cli.poll_interval * 2 {
        return Err(format!(
            "--allocation-settle-time ({}) must be at least twice --poll-interval ({}): \
             the poller must get to look for the machine",
            show(cli.allocation_settle_time),
            show(cli.poll_interval)
        ));
    }
    if cli.metrics_addr == cli.health_addr && cli.metrics_addr.port() != 0 {
        return Err(format!(
            "--metrics-addr and --health-addr are both {}; give them different ports",
            cli.metrics_addr
        ));
    }
    let defaults = ControllerConfig::default();
    let config = ControllerConfig {
        namespace: cli.namespace.clone(),
        watch_filter: cli.watch_filter.clone(),
        // integer_in bounds it to u16 and u32.
        concurrency: u16::try_from(cli.concurrency).map_err(|e| format!("--concurrency: {e}"))?,
        poll_interval: cli.poll_interval,
        default_credentials: credentials,
        instance: std::env::var("POD_NAME").ok(),
        dns_ttl: u32::try_from(cli.dns_ttl.as_secs()).map_err(|e| format!("--dns-ttl: {e}"))?,
        lifecycle: LifecycleConfig {
            deploy_timeout: cli.deploy_timeout,
            max_deploy_retries: u32::try_from(cli.deploy_retries)
                .map_err(|e| format!("--deploy-retries: {e}"))?,
            ephemeral_min_memory_mib: cli.ephemeral_min_memory_mib,
            allocation_settle_time: cli.allocation_settle_time,
            capacity_backoff: cli.capacity_backoff,
            capacity_backoff_max: cli.capacity_backoff_max,
            ..defaults.lifecycle.clone()
        },
        orphan_sweep_period: cli.orphan_sweep_period,
        orphan_policy: machine_lifecycle::OrphanPolicy {
            release: cli.release_orphans,
            grace: cli.orphan_grace,
            namespace: None,
        },
        machine_cache: cli.machine_cache,
        ..defaults
    }
    .with_sync_period(cli.sync_period);
    // The flags' bounds are inside what the controllers accept; this only
    // fails if they drift apart.
    config
        .validate()
        .map_err(|e| format!("configuration: {e}"))?;
    let pod_namespace = std::env::var("POD_NAMESPACE").ok();
    let pod_name = std::env::var("POD_NAME").ok();
    let leader_election = cli.leader_elect.then(|| LeaderElection {
        namespace: LeaderElection::namespace_from(
            cli.leader_elect_namespace.as_deref(),
            pod_namespace.as_deref(),
            cli.namespace.as_deref(),
        ),
        lease_name: cli.leader_elect_lease_name.clone(),
        identity: LeaderElection::identity_for(pod_name.as_deref()),
        lease_duration: cli.leader_elect_lease_duration,
    });
    let options = RunOptions {
        health_addr: cli.health_addr,
        metrics_addr: cli.metrics_addr,
        leader_election,
        shutdown: ShutdownTimeouts::default(),
    };
    Ok(Settings { config, options })
}

fn main() -> ExitCode {
    let cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    // An empty --namespace or --watch-filter means "not set": the released
    // Deployment passes `--namespace=$(CAPMAAS_WATCH_NAMESPACE)`, empty by default.
    let cli = Cli {
        namespace: cli.namespace.filter(|s| !s.is_empty()),
        watch_filter: cli.watch_filter.filter(|s| !s.is_empty()),
        ..cli
    };
    if let Some(Command::Crd) = cli.command {
        return match crds() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => PROGRAM.fail(e),
        };
    }
    let settings = match settings(&cli) {
        Ok(s) => s,
        Err(line) => return PROGRAM.bad_input(line),
    };
    if let Err(code) = PROGRAM.init_logging(cli.log_format, &cli.log_level) {
        return code;
    }
    let runtime = match PROGRAM.runtime(Threads::PerCore) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // The handlers are installed before anything else happens in the runtime:
    // a SIGTERM in the first moments (a pod deleted while starting) must end
    // in a clean exit, not in the default action (exit 143).
    let signal = {
        let _enter = runtime.enter();
        shutdown_signal()
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting");
    let run = capmaas_controller::run(settings.config, settings.options, signal);
    let code = match runtime.block_on(run) {
        Ok(Exit::Stopped) => ExitCode::SUCCESS,
        Ok(Exit::LeadershipLost) => ExitCode::FAILURE,
        Err(e) => {
            tracing::error!(error = %e, "manager failed");
            ExitCode::FAILURE
        }
    };
    runtime.shutdown_timeout(RUNTIME_STOP_TIMEOUT);
    code
}
