//! `capmaas-conformance`: the conformance suite (see the library's docs).
//! Input from the environment; the report on stdout; logs of the children in
//! a temp dir named in the report.

use std::process::ExitCode;

use cli_support::{Program, Threads, shutdown_signal};
use tokio_util::sync::CancellationToken;

const PROGRAM: Program = Program::new("capmaas-conformance");

const HELP: &str = "\
capmaas-conformance: the capmaas controller end to end against a MAAS

Environment:
  MAAS_ENDPOINT              the MAAS (http://maas:5240/MAAS)
  MAAS_API_KEY               an API key (consumer:token:secret); an admin's for the DNS record
  CONFORMANCE_POOL           allocate only machines of this resource pool   } at least one
  CONFORMANCE_TAG            allocate only machines with this tag            }
  CONFORMANCE_DNS_DOMAIN     MAAS domain of the control-plane record (default: MAAS's default)
  CONFORMANCE_IMAGE          image to deploy (ubuntu/jammy)
  CONFORMANCE_TIMEOUT        longest wait of one check, seconds (900)
  CONFORMANCE_POLL_INTERVAL  the manager's --poll-interval (2s)
  CONFORMANCE_BIN_DIR        where capmaas-manager is (default: next to this binary)

It needs 2 Ready machines in scope, 3 on MAAS 3.5+ (one with 16 GiB for the in-memory deploy).
Exit status: 0 every check passed, 1 a check failed, 2 bad input.";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    if let Some(a) = std::env::args().nth(1) {
        return PROGRAM.bad_input(format!(
            "unexpected argument {a:?} (input is the environment; see --help)"
        ));
    }
    let cfg = match capmaas_conformance::Config::from_env() {
        Ok(c) => c,
        Err(e) => return PROGRAM.bad_input(e),
    };
    let rt = match PROGRAM.runtime(Threads::Workers(2)) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let results = rt.block_on(async {
        let cancel = CancellationToken::new();
        let signal = shutdown_signal();
        let c = cancel.clone();
        tokio::spawn(async move {
            signal.await;
            eprintln!("capmaas-conformance: interrupted, cleaning up");
            c.cancel();
        });
        capmaas_conformance::run(&cfg, std::io::stdout(), cancel).await
    });
    let ok = !results.is_empty()
        && results.iter().all(|r| {
            matches!(
                r.verdict,
                capmaas_conformance::Verdict::Pass | capmaas_conformance::Verdict::Skip
            )
        });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
