//! `lxd-test`: makes a node an LXD host that MAAS can compose VMs on, through
//! LXD's REST API only, and proves step by step that it is ready.
//!
//! Exit codes: 0 the host is ready for MAAS (also for a successful dry run),
//! 1 a step or a check failed, 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use cli_support::{BadInput, EXIT_FAILURE, LogFormat, Program, Threads};
use lxd_host::{
    AddressSetting, BridgeSpec, HostSpec, LxdClient, Secret, StorageDriver, StorageSpec, TrustSpec,
};

const PROGRAM: Program = Program::new("lxd-test");

const EXAMPLES: &str = "\
Examples:
  # The classic MAAS VM host: ZFS pool of 50 GiB, VMs bridged to the host's br0
  sudo lxd-test --storage-backend=zfs --storage-size=50 --network-bridge=br0

  # Trust the MAAS region's certificate, restricted to project maas
  sudo lxd-test --storage-backend=zfs --storage-size=50 --network-bridge=br0 \\
       --trust-cert /etc/maas/lxd-client.crt

  # Issue a single-use trust token for MAAS (printed at the end)
  sudo lxd-test --storage-backend=dir --network-bridge=br0 --issue-token maas-region

  # No host bridge: let LXD create an address-less bridge lxdbr1
  sudo lxd-test --storage-backend=dir --network-bridge=lxdbr1 --bridge-ipv4 none

  # Show what would change, as JSON, without changing anything
  sudo lxd-test --storage-backend=zfs --network-bridge=br0 --dry-run --output json

Exit status: 0 ready for MAAS, 1 failure, 2 bad input.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Zfs,
    Btrfs,
    Lvm,
    Dir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

/// Prepares this node as an LXD host for MAAS (storage pool, bridge, project,
/// profile, HTTPS listener, trust) through the LXD REST API, idempotently,
/// and checks that MAAS can use it.
#[derive(Debug, Parser)]
#[command(name = "lxd-test", version, after_help = EXAMPLES)]
struct Cli {
    /// Storage driver of the pool MAAS composes VM disks on.
    #[arg(long, value_enum, default_value = "zfs")]
    storage_backend: Backend,

    /// Pool size in GiB (a loop file; not applicable to dir).
    #[arg(long, value_name = "GIB")]
    storage_size: Option<u64>,

    /// Existing block device, dataset or volume group (or a directory for dir).
    #[arg(long, value_name = "SOURCE")]
    storage_source: Option<String>,

    /// Storage pool name.
    #[arg(long, value_name = "NAME", default_value = "default")]
    storage_pool: String,

    /// Bridge for VM NICs: an existing host bridge is used as it is; any other
    /// name becomes a bridge managed by LXD.
    #[arg(long, value_name = "NAME", default_value = "br0")]
    network_bridge: String,

    /// IPv4 of a bridge LXD manages: auto, none, or the bridge's CIDR (e.g. 10.20.0.1/24).
    #[arg(long, value_name = "auto|none|CIDR")]
    bridge_ipv4: Option<String>,

    /// ipv4.nat of a bridge LXD manages.
    #[arg(long, value_name = "BOOL")]
    bridge_nat: Option<bool>,

    /// IPv6 of a bridge LXD manages (default none on creation): auto, none, or a CIDR.
    #[arg(long, value_name = "auto|none|CIDR")]
    bridge_ipv6: Option<String>,

    /// LXD project MAAS uses.
    #[arg(long, value_name = "NAME", default_value = "maas")]
    project: String,

    /// Profile in the project (MAAS applies a profile named maas to composed VMs).
    #[arg(long, value_name = "NAME", default_value = "maas")]
    profile: String,

    /// core.https_address, where MAAS reaches LXD.
    #[arg(long, value_name = "ADDR", default_value = "[::]:8443")]
    https_address: String,

    /// Trust this PEM client certificate (the MAAS region's), restricted to the project.
    #[arg(long, value_name = "FILE", group = "trust")]
    trust_cert: Option<PathBuf>,

    /// Name the trusted certificate gets (with --trust-cert).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "maas",
        requires = "trust_cert"
    )]
    trust_cert_name: String,

    /// Issue a single-use trust token for a client of this name, restricted to
    /// the project, and print it.
    #[arg(long, value_name = "NAME", group = "trust")]
    issue_token: Option<String>,

    /// Set core.trust_password from the first line of FILE (LXD < 6.1 only;
    /// prefer --issue-token).
    #[arg(long, value_name = "FILE", group = "trust")]
    trust_password_file: Option<PathBuf>,

    /// LXD unix socket (default: $LXD_SOCKET, $LXD_DIR/unix.socket, the snap's, /var/lib/lxd/unix.socket).
    #[arg(long, value_name = "PATH")]
    lxd_socket: Option<PathBuf>,

    /// Show the plan; change nothing.
    #[arg(long)]
    dry_run: bool,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,

    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,

    /// Log level or filter (e.g. info, lxd_host=debug); RUST_LOG wins when set.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    log_level: String,
}

fn spec_from(cli: &Cli) -> Result<HostSpec, BadInput> {
    let driver = match cli.storage_backend {
        Backend::Zfs => StorageDriver::Zfs,
        Backend::Btrfs => StorageDriver::Btrfs,
        Backend::Lvm => StorageDriver::Lvm,
        Backend::Dir => StorageDriver::Dir,
    };
    let ipv4 = cli
        .bridge_ipv4
        .as_deref()
        .map(|s| AddressSetting::parse(s, false))
        .transpose()
        .map_err(|e| BadInput(format!("--bridge-ipv4: {e}")))?;
    let ipv6 = cli
        .bridge_ipv6
        .as_deref()
        .map(|s| AddressSetting::parse(s, true))
        .transpose()
        .map_err(|e| BadInput(format!("--bridge-ipv6: {e}")))?;
    let trust = if let Some(path) = &cli.trust_cert {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| BadInput(format!("--trust-cert: cannot read {}: {e}", path.display())))?;
        Some(TrustSpec::ClientCertificate {
            name: cli.trust_cert_name.clone(),
            pem,
        })
    } else if let Some(name) = &cli.issue_token {
        Some(TrustSpec::IssueToken { name: name.clone() })
    } else if let Some(path) = &cli.trust_password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BadInput(format!(
                "--trust-password-file: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let first = text.lines().next().unwrap_or("").trim_end().to_owned();
        Some(TrustSpec::TrustPassword(Secret::new(first)))
    } else {
        None
    };
    let spec = HostSpec {
        https_address: Some(cli.https_address.clone()),
        storage: StorageSpec {
            pool: cli.storage_pool.clone(),
            driver,
            size_gib: cli.storage_size,
            source: cli.storage_source.clone(),
        },
        bridge: BridgeSpec {
            name: cli.network_bridge.clone(),
            ipv4,
            ipv4_nat: cli.bridge_nat,
            ipv6,
        },
        project: cli.project.clone(),
        profile: cli.profile.clone(),
        trust,
    };
    spec.validate().map_err(|e| BadInput(e.0))?;
    Ok(spec)
}

fn main() -> ExitCode {
    let cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = PROGRAM.init_logging(cli.log_format, &cli.log_level) {
        return code;
    }
    let spec = match spec_from(&cli) {
        Ok(s) => s,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let runtime = match PROGRAM.runtime(Threads::Current) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(run(cli, spec))
}

async fn run(cli: Cli, spec: HostSpec) -> ExitCode {
    let client = match &cli.lxd_socket {
        Some(path) => {
            if !path.exists() {
                return PROGRAM.fail(format!("LXD socket {} does not exist", path.display()));
            }
            LxdClient::unix(path)
        }
        None => LxdClient::unix_from_env(),
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => return PROGRAM.fail(e),
    };
    let report = match lxd_host::run(&client, &spec, cli.dry_run).await {
        Ok(r) => r,
        Err(e) if e.is_invalid_input() => return PROGRAM.bad_input(e),
        Err(e) => {
            match cli.output {
                OutputFormat::Text => eprintln!("{}", PROGRAM.error_line(&e)),
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({
                        "ready": false,
                        "error": e.to_string(),
                        "class": e.class(),
                    })
                ),
            }
            eprintln!("the host is NOT ready for MAAS");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match cli.output {
        OutputFormat::Text => print!("{}", report.render_text()),
        OutputFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return PROGRAM.fail(format!("cannot render the report: {e}")),
        },
    }
    if report.dry_run || report.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    }
}
