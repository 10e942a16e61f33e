#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Print who you are on a MAAS and which version it runs.
//!
//! ```console
//! MAAS_ENDPOINT=http://maas.example:5240/MAAS MAAS_API_KEY=ck:tk:secret \
//!     cargo run -p maas-api --example whoami
//! ```
//!
//! Exits 2 with a one-line reason when `MAAS_ENDPOINT` or `MAAS_API_KEY` is missing or
//! malformed, 1 when MAAS cannot be reached or refuses the key.

use std::process::ExitCode;

use maas_api::{ClientConfig, MaasClient};

fn usage(reason: &str) -> ExitCode {
    eprintln!("whoami: {reason}");
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Ok(endpoint) = std::env::var("MAAS_ENDPOINT") else {
        return usage("MAAS_ENDPOINT is not set (e.g. http://maas.example:5240/MAAS)");
    };
    let Ok(api_key) = std::env::var("MAAS_API_KEY") else {
        return usage("MAAS_API_KEY is not set (consumer_key:token_key:token_secret)");
    };
    let config = match ClientConfig::new(&endpoint, &api_key) {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let client = match MaasClient::new(config) {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let user = match client.whoami().await {
        Ok(u) => u,
        Err(e) => {
            eprintln!("whoami: {e} (class: {})", e.class());
            return ExitCode::from(1);
        }
    };
    let version = client
        .version()
        .await
        .map(|v| v.version)
        .unwrap_or_else(|e| format!("unknown ({e})"));
    println!(
        "{} (admin: {}) on MAAS {} at {}",
        user.username,
        user.is_superuser,
        version,
        client.base_url()
    );
    ExitCode::SUCCESS
}
