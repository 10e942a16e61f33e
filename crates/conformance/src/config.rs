//! The suite's settings, from the environment (`make conformance` passes it
//! through). Bad or missing input is a [`BadInput`] (exit status 2).

use std::path::PathBuf;
use std::time::Duration;

use cli_support::BadInput;
use maas_api::Secret;

/// Everything the suite needs to know. `Debug` never shows the key.
#[derive(Clone)]
pub struct Config {
    /// `MAAS_ENDPOINT`: e.g. `http://maas:5240/MAAS`.
    pub endpoint: String,
    /// `MAAS_API_KEY`: `consumer:token:secret`.
    pub api_key: Secret,
    /// `CONFORMANCE_POOL`: only machines of this resource pool are allocated.
    pub pool: Option<String>,
    /// `CONFORMANCE_TAG`: only machines with this tag are allocated.
    pub tag: Option<String>,
    /// `CONFORMANCE_DNS_DOMAIN`: the MaasCluster's domain (MAAS's default
    /// domain when unset).
    pub dns_domain: Option<String>,
    /// `CONFORMANCE_IMAGE` (`ubuntu/jammy`).
    pub image: String,
    /// `CONFORMANCE_TIMEOUT`, seconds (900): the longest wait of one check.
    pub timeout: Duration,
    /// `CONFORMANCE_POLL_INTERVAL` (`2s`): the manager's `--poll-interval`.
    pub poll_interval: String,
    /// `CONFORMANCE_BIN_DIR`: where `capmaas-manager` is (default: next to
    /// the running binary, where cargo puts it).
    pub bin_dir: PathBuf,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("endpoint", &self.endpoint)
            .field("api_key", &"<redacted>")
            .field("pool", &self.pool)
            .field("tag", &self.tag)
            .field("dns_domain", &self.dns_domain)
            .field("image", &self.image)
            .field("timeout", &self.timeout)
            .field("poll_interval", &self.poll_interval)
            .field("bin_dir", &self.bin_dir)
            .finish()
    }
}

impl Config {
    /// From the process environment.
    pub fn from_env() -> Result<Config, BadInput> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any lookup (tests); empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, BadInput> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let endpoint = get("MAAS_ENDPOINT").ok_or_else(|| {
            BadInput::new("set MAAS_ENDPOINT (e.g. http://maas.example:5240/MAAS)")
        })?;
        let api_key = get("MAAS_API_KEY")
            .ok_or_else(|| BadInput::new("set MAAS_API_KEY (consumer:token:secret)"))?;
        // The client's own check of endpoint and key, without echoing the key.
        maas_api::ClientConfig::new(&endpoint, &api_key)
            .map_err(|e| BadInput::new(format!("MAAS_ENDPOINT/MAAS_API_KEY: {e}")))?;
        let pool = get("CONFORMANCE_POOL");
        let tag = get("CONFORMANCE_TAG");
        if pool.is_none() && tag.is_none() {
            return Err(BadInput::new(
                "set CONFORMANCE_POOL or CONFORMANCE_TAG (or both): the suite allocates only \
                 machines of that pool or with that tag, and refuses to run without one",
            ));
        }
        let timeout = match get("CONFORMANCE_TIMEOUT") {
            None => Duration::from_secs(900),
            Some(v) => match v.parse::<u64>() {
                Ok(s) if (10..=86_400).contains(&s) => Duration::from_secs(s),
                _ => {
                    return Err(BadInput::new(format!(
                        "CONFORMANCE_TIMEOUT={v}: a whole number of seconds from 10 to 86400"
                    )));
                }
            },
        };
        let bin_dir = match get("CONFORMANCE_BIN_DIR") {
            Some(d) => PathBuf::from(d),
            None => std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(ToOwned::to_owned))
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        Ok(Config {
            endpoint,
            api_key: Secret::new(api_key),
            pool,
            tag,
            dns_domain: get("CONFORMANCE_DNS_DOMAIN"),
            image: get("CONFORMANCE_IMAGE").unwrap_or_else(|| "ubuntu/jammy".to_owned()),
            timeout,
            poll_interval: get("CONFORMANCE_POLL_INTERVAL").unwrap_or_else(|| "2s".to_owned()),
            bin_dir,
        })
    }

    /// How the machines are restricted, for the report.
    pub fn scope(&self) -> String {
        match (&self.pool, &self.tag) {
            (Some(p), Some(t)) => format!("pool {p} and tag {t}"),
            (Some(p), None) => format!("pool {p}"),
            (None, Some(t)) => format!("tag {t}"),
            (None, None) => "nothing".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, BadInput> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const KEY: &str = "ck:tk:secretsecret";

    #[test]
    fn refuses_to_start_without_a_pool_or_tag() {
        let e = cfg(&[
            ("MAAS_ENDPOINT", "http://m:5240/MAAS"),
            ("MAAS_API_KEY", KEY),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("CONFORMANCE_POOL or CONFORMANCE_TAG"), "{e}");
        let e = cfg(&[
            ("MAAS_ENDPOINT", "http://m:5240/MAAS"),
            ("MAAS_API_KEY", KEY),
            ("CONFORMANCE_TAG", "  "),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("CONFORMANCE_POOL or CONFORMANCE_TAG"), "{e}");
    }

    #[test]
    fn bad_key_and_timeout_are_bad_input_without_the_secret() {
        let e = cfg(&[
            ("MAAS_ENDPOINT", "http://m:5240/MAAS"),
            ("MAAS_API_KEY", "onlyonepart-secretsecret"),
            ("CONFORMANCE_POOL", "p"),
        ])
        .unwrap_err()
        .to_string();
        assert!(!e.contains("secretsecret"), "{e}");
        assert!(cfg(&[("MAAS_API_KEY", KEY), ("CONFORMANCE_POOL", "p")]).is_err());
        let e = cfg(&[
            ("MAAS_ENDPOINT", "http://m:5240/MAAS"),
            ("MAAS_API_KEY", KEY),
            ("CONFORMANCE_POOL", "p"),
            ("CONFORMANCE_TIMEOUT", "3"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("CONFORMANCE_TIMEOUT"), "{e}");
    }

    #[test]
    fn pool_and_tag_are_read_and_the_key_is_not_shown() {
        let c = cfg(&[
            ("MAAS_ENDPOINT", "http://m:5240/MAAS"),
            ("MAAS_API_KEY", KEY),
            ("CONFORMANCE_POOL", "lab"),
            ("CONFORMANCE_TAG", "capmaas-conformance"),
        ])
        .unwrap();
        assert_eq!(c.scope(), "pool lab and tag capmaas-conformance");
        assert_eq!(c.timeout, Duration::from_secs(900));
        assert_eq!(c.image, "ubuntu/jammy");
        assert!(!format!("{c:?}").contains("secretsecret"));
    }
}
