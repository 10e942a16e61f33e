//! `capmaas-demo` (run by `make demo`): see the `capmaas_demo` crate and `docs/demo.md`.

use std::io::IsTerminal;
use std::process::ExitCode;

use capmaas_demo::{DemoConfig, run};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cfg = match DemoConfig::from_env(std::io::stdout().is_terminal()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("demo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let interrupted = CancellationToken::new();
        {
            let (cancel, interrupted) = (cancel.clone(), interrupted.clone());
            tokio::spawn(async move {
                let term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
                match term {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
                interrupted.cancel();
                cancel.cancel();
            });
        }
        let outcome = run(&cfg, std::io::stdout(), cancel).await;
        if interrupted.is_cancelled() {
            ExitCode::from(130)
        } else if outcome.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
