//! `maas-differential`: one corpus, two MAAS endpoints, every difference and a score.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use maas_differential::{Auth, Corpus, EndpointConfig, RunOptions, run};

#[derive(Parser)]
#[command(name = "maas-differential", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send the corpus to endpoints A and B and compare their answers.
    Run(RunArgs),
    /// Print the maas-sim inventory that holds the corpus's machine fixtures.
    SimInventory {
        /// The name prefix (as given to `run`).
        #[arg(long, env = "DIFF_PREFIX", default_value = "dfc")]
        prefix: String,
        /// Another corpus file.
        #[arg(long)]
        corpus: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Endpoint A (`http://host:5240/MAAS`).
    #[arg(long = "a", env = "MAAS_A")]
    a: String,
    /// A's admin API key.
    #[arg(long = "a-key", env = "MAAS_A_KEY", hide_env_values = true)]
    a_key: String,
    /// A command that makes A's new fixture machines Ready (hostnames appended).
    #[arg(long = "a-ready", env = "MAAS_A_READY")]
    a_ready: Option<String>,
    /// Endpoint B.
    #[arg(long = "b", env = "MAAS_B")]
    b: String,
    /// B's admin API key.
    #[arg(long = "b-key", env = "MAAS_B_KEY", hide_env_values = true)]
    b_key: String,
    /// A command that makes B's new fixture machines Ready.
    #[arg(long = "b-ready", env = "MAAS_B_READY")]
    b_ready: Option<String>,
    /// The name prefix of every object the run looks for or creates.
    #[arg(long, env = "DIFF_PREFIX", default_value = "dfc")]
    prefix: String,
    /// Sign requests that name no method with this one: `hmac` or `plaintext`.
    #[arg(long, env = "DIFF_AUTH", value_parser = parse_auth)]
    auth: Option<Auth>,
    /// Another corpus file (default: the shipped one).
    #[arg(long, env = "DIFF_CORPUS")]
    corpus: Option<PathBuf>,
    /// Also write the report as Markdown here.
    #[arg(long, env = "DIFF_REPORT")]
    report: Option<PathBuf>,
    /// Longest wait for a machine status, in seconds.
    #[arg(long, default_value_t = 120)]
    wait_timeout: u64,
    /// Accept any TLS certificate.
    #[arg(long)]
    insecure: bool,
    /// Progress on stderr.
    #[arg(long, short)]
    verbose: bool,
}

fn parse_auth(s: &str) -> Result<Auth, String> {
    match s.to_ascii_lowercase().as_str() {
        "hmac" | "hmac-sha1" => Ok(Auth::Hmac),
        "plaintext" => Ok(Auth::Plaintext),
        _ => Err(format!("{s:?}: expected hmac or plaintext")),
    }
}

fn load(path: Option<&PathBuf>) -> Result<Corpus, String> {
    match path {
        None => Corpus::default_corpus().map_err(|e| format!("{e:#}")),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Corpus::parse(&text).map_err(|e| format!("{}: {e:#}", p.display()))
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::SimInventory { prefix, corpus } => match load(corpus.as_ref()) {
            Ok(c) => {
                print!("{}", c.sim_inventory_for(&prefix));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("maas-differential: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run(args) => {
            let corpus = match load(args.corpus.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("maas-differential: {e}");
                    return ExitCode::from(2);
                }
            };
            let a = EndpointConfig {
                label: "A".into(),
                url: args.a,
                api_key: args.a_key,
                ready_command: args.a_ready,
                insecure: args.insecure,
            };
            let b = EndpointConfig {
                label: "B".into(),
                url: args.b,
                api_key: args.b_key,
                ready_command: args.b_ready,
                insecure: args.insecure,
            };
            let options = RunOptions {
                prefix: args.prefix,
                default_auth: args.auth,
                wait_timeout: Duration::from_secs(args.wait_timeout),
                verbose: args.verbose,
            };
            let report = match run(&corpus, &a, &b, &options).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("maas-differential: {e:#}");
                    return ExitCode::from(2);
                }
            };
            print!("{}", report.text());
            if let Some(path) = &args.report {
                let md = report.markdown("Differential report");
                if let Err(e) = std::fs::write(path, md) {
                    eprintln!("maas-differential: {}: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
