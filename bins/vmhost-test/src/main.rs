//! `vmhost-test`: registers a node's LXD as a MAAS VM host, idempotently
//! (matched by name, host machine or address; zone, pool, project and
//! credentials corrected when they drifted), refreshes it so that MAAS
//! connects to LXD, and prints what MAAS discovered. The logic lives in
//! `maas_checks::vmhost`.
//!
//! Exit status: 0 registered and discovered, 1 failure (with what to do),
//! 2 bad input.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cli_support::{Program, Threads};
use maas_checks::cli::{BadInput, LogFormat, OutputFormat, Progress};
use maas_checks::target::MaasTarget;
use maas_checks::vmhost::{self, LxdCredentials, RegisterOptions};

const PROGRAM: Program = Program::new("vmhost-test");

const EXAMPLES: &str = "\
Examples:
  # Register the LXD of node 10.0.0.5 (a certificate is generated; trust the
  # printed certificate on the node, e.g. lxd-test --trust-cert FILE, then run again)
  export MAAS_ENDPOINT=http://maas.example:5240/MAAS MAAS_API_KEY=<admin key>
  vmhost-test --node-ip 10.0.0.5 --zone default --resource-pool default

  # With a client certificate LXD already trusts (restricted to project maas)
  vmhost-test --node-ip 10.0.0.5 --cert maas.crt --key maas.key

  # With a trust token from `lxd-test --issue-token maas` (single use)
  LXD_TRUST_TOKEN=<token> vmhost-test --node-ip 10.0.0.5 --zone rack-a

  # JSON report, LXD on another port, a name of your choice
  vmhost-test --node-ip 10.0.0.5 --lxd-port 18443 --name kvm-05 --output json

Exit status: 0 registered and discovered, 1 failure, 2 bad input.";

/// Registers a node's LXD as a MAAS VM host (idempotently), refreshes it and
/// prints its resources.
#[derive(Debug, Parser)]
#[command(name = "vmhost-test", version, about, after_help = EXAMPLES)]
struct Cli {
    /// IP address of the node; LXD listens there (core.https_address).
    #[arg(long, value_name = "IP")]
    node_ip: IpAddr,

    /// MAAS URL, e.g. http://maas.example:5240/MAAS.
    #[arg(long, env = "MAAS_ENDPOINT", value_name = "URL")]
    maas_endpoint: String,

    /// An administrator's MAAS API key (consumer:token:secret).
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true, value_name = "KEY")]
    maas_api_key: String,

    /// MAAS zone of the VM host.
    #[arg(long, value_name = "NAME", default_value = "default")]
    zone: String,

    /// MAAS resource pool of the VM host.
    #[arg(
        long,
        visible_alias = "pool",
        value_name = "NAME",
        default_value = "default"
    )]
    resource_pool: String,

    /// VM host name in MAAS (default lxd-host-<ip with dashes>).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// LXD project MAAS uses (MAAS creates it when missing).
    #[arg(long, value_name = "NAME", default_value = "maas")]
    project: String,

    /// LXD's HTTPS port.
    #[arg(long, value_name = "PORT", default_value_t = 8443)]
    lxd_port: u16,

    /// Client certificate (PEM) LXD trusts; MAAS uses it with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,

    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,

    /// LXD trust password (LXD < 6.1), handed to MAAS.
    #[arg(
        long,
        env = "LXD_TRUST_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    password: Option<String>,

    /// LXD trust token (lxd-test --issue-token, lxc config trust add), handed to MAAS.
    #[arg(
        long,
        env = "LXD_TRUST_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,

    /// Extra CA certificates (PEM) for an HTTPS MAAS endpoint.
    #[arg(long, value_name = "FILE")]
    maas_ca_cert: Option<PathBuf>,

    /// Timeout of one MAAS request, in seconds (MAAS talks to LXD within it).
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
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

fn read(flag: &str, path: &PathBuf) -> Result<String, BadInput> {
    std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("{flag}: cannot read {}: {e}", path.display())))
}

fn options(cli: &Cli) -> Result<(MaasTarget, RegisterOptions), BadInput> {
    let given = [
        cli.cert.is_some(),
        cli.password.is_some(),
        cli.token.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(BadInput(
            "give only one of --cert/--key, --password (LXD_TRUST_PASSWORD) and --token (LXD_TRUST_TOKEN)".into(),
        ));
    }
    let credentials = match (&cli.cert, &cli.key, &cli.password, &cli.token) {
        (Some(c), Some(k), _, _) => {
            LxdCredentials::certificate(&read("--cert", c)?, &read("--key", k)?)?
        }
        (_, _, Some(p), _) => LxdCredentials::password(p)?,
        (_, _, _, Some(t)) => LxdCredentials::token(t)?,
        _ => LxdCredentials::Generate,
    };
    let mut opts = RegisterOptions::new(cli.node_ip);
    opts.lxd_port = cli.lxd_port;
    if let Some(n) = &cli.name {
        opts.name = n.clone();
    }
    opts.project = cli.project.clone();
    opts.zone = cli.zone.clone();
    opts.pool = cli.resource_pool.clone();
    opts.credentials = credentials;
    opts.validate()?;
    if cli.request_timeout == 0 {
        return Err(BadInput(
            "--request-timeout must be at least 1 second".into(),
        ));
    }
    let mut target = MaasTarget::new(&cli.maas_endpoint, &cli.maas_api_key);
    target.ca_cert = cli.maas_ca_cert.clone();
    target.request_timeout = Duration::from_secs(cli.request_timeout);
    Ok((target, opts))
}

fn main() -> ExitCode {
    let cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = PROGRAM.init_logging(cli.log_format, &cli.log_level) {
        return code;
    }
    let (target, opts) = match options(&cli) {
        Ok(v) => v,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let maas = match target.client() {
        Ok(m) => m,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let runtime = match PROGRAM.runtime(Threads::Current) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let progress = if cli.quiet {
        Progress::silent()
    } else {
        Progress::stderr()
    };
    let report = runtime.block_on(vmhost::register(&maas, &opts, &progress));
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
        match &report.error {
            Some(e) => PROGRAM.fail(&e.message),
            None => PROGRAM.fail("the VM host is not ready (see the report)"),
        }
    }
}
