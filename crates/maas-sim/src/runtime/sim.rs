//! The simulator handle: configuration (builder), the shared state behind
//! the server, and the running instance.

use crate::api::Api;
use crate::api::faults::{Faults, OpFault};
use crate::domain::inventory::Inventory;
use crate::domain::state::Timings;
use crate::domain::store::Store;
use crate::domain::vmhost::{SimulatedDiscovery, VmHostDiscovery};
use crate::model::clock::Clock;
use crate::model::keys::ApiKey;
use crate::model::names::{self, SimRng};
use crate::model::version::MaasVersion;
use crate::runtime::control::Control;
use crate::runtime::latency::LatencyProfile;
use crate::runtime::log::RequestLog;
pub use crate::runtime::shared::SimError;
use crate::runtime::shared::{Shared, SimConfig};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a simulator could not start.
/// Entry point: `Simulator::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct Simulator;

impl Simulator {
    /// A builder with defaults: no generated machines, seed 0, MAAS 3.6,
    /// default timings, generated API keys.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }
}

/// Configures and starts a simulator.
pub struct SimulatorBuilder {
    machines: usize,
    seed: u64,
    version: MaasVersion,
    timings: Timings,
    api_key: Option<String>,
    user_api_key: Option<String>,
    inventory: Option<Inventory>,
    discovery: Option<Arc<dyn VmHostDiscovery>>,
    faults: Vec<OpFault>,
    ticker: Duration,
    latency: LatencyProfile,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        SimulatorBuilder {
            machines: 0,
            seed: 0,
            version: MaasVersion::default(),
            timings: Timings::default(),
            api_key: None,
            user_api_key: None,
            inventory: None,
            discovery: None,
            faults: Vec::new(),
            ticker: Duration::from_millis(100),
            latency: LatencyProfile::None,
        }
    }
}

impl std::fmt::Debug for SimulatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorBuilder")
            .field("machines", &self.machines)
            .field("seed", &self.seed)
            .field("version", &self.version)
            .field("timings", &self.timings)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl SimulatorBuilder {
    /// Generate `n` varied machines (deterministic from the seed).
    pub fn machines(mut self, n: usize) -> Self {
        self.machines = n;
        self
    }

    /// Seed for ids, hostnames and generated inventory.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The MAAS version profile.
    pub fn maas_version(mut self, version: MaasVersion) -> Self {
        self.version = version;
        self
    }

    /// All timings at once.
    pub fn timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
        self
    }

    /// Deploying → Deployed.
    pub fn deploy_duration(mut self, d: Duration) -> Self {
        self.timings.deploy = d;
        self
    }

    /// Releasing → Ready.
    pub fn release_duration(mut self, d: Duration) -> Self {
        self.timings.release = d;
        self
    }

    /// Commissioning → Ready.
    pub fn commission_duration(mut self, d: Duration) -> Self {
        self.timings.commission = d;
        self
    }

    /// Disk erasing before release.
    pub fn erase_duration(mut self, d: Duration) -> Self {
        self.timings.erase = d;
        self
    }

    /// Delay before power changes are observed.
    pub fn power_delay(mut self, d: Duration) -> Self {
        self.timings.power = d;
        self
    }

    /// Deployments still running after `d` become Failed deployment.
    pub fn deploy_timeout(mut self, d: Duration) -> Self {
        self.timings.deploy_timeout = Some(d);
        self
    }

    /// The admin's API key (`consumer:token:secret`); generated otherwise.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The non-admin user's API key; generated otherwise.
    pub fn user_api_key(mut self, key: impl Into<String>) -> Self {
        self.user_api_key = Some(key.into());
        self
    }

    /// Starting inventory.
    pub fn inventory(mut self, inventory: Inventory) -> Self {
        self.inventory = Some(inventory);
        self
    }

    /// Replace the VM host discovery (default: [`SimulatedDiscovery`]).
    pub fn discovery(mut self, discovery: Arc<dyn VmHostDiscovery>) -> Self {
        self.discovery = Some(discovery);
        self
    }

    /// Discover LXD VM hosts by connecting to the real LXD daemon at their
    /// address, as MAAS does ([`crate::LxdDiscovery`]), instead of the
    /// simulated hosts of the inventory.
    pub fn lxd_discovery(self) -> Self {
        self.discovery(Arc::new(crate::LxdDiscovery::new()))
    }

    /// A standing fault from the start.
    pub fn fault(mut self, fault: OpFault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Period of the background ticker that applies due transitions.
    pub fn ticker(mut self, period: Duration) -> Self {
        self.ticker = period;
        self
    }

    /// How long answers take: [`LatencyProfile::Region`] delays each one as
    /// a real region would (default [`LatencyProfile::None`]).
    pub fn latency_profile(mut self, profile: LatencyProfile) -> Self {
        self.latency = profile;
        self
    }

    /// Bind `addr` (`127.0.0.1:0` picks a free port) and serve.
    pub async fn start(self, addr: &str) -> Result<RunningSimulator, SimError> {
        let sock: SocketAddr = addr
            .parse()
            .map_err(|_| SimError::Address(addr.to_string()))?;
        let listener = TcpListener::bind(sock)
            .await
            .map_err(|source| SimError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        self.start_on(listener)
    }

    /// Serve on an already bound listener.
    pub fn start_on(self, listener: TcpListener) -> Result<RunningSimulator, SimError> {
        let local = listener.local_addr().map_err(|source| SimError::Bind {
            addr: "listener".into(),
            source,
        })?;
        let mut keygen = SimRng::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
                ^ u64::from(local.port()).rotate_left(32)
                ^ rand::random::<u64>(),
        );
        let admin_key = match &self.api_key {
            Some(k) => ApiKey::parse(k)?,
            None => ApiKey::parse(&names::api_key(&mut keygen))?,
        };
        let user_key = match &self.user_api_key {
            Some(k) => ApiKey::parse(k)?,
            None => ApiKey::parse(&names::api_key(&mut keygen))?,
        };
        let config = SimConfig {
            machines: self.machines,
            seed: self.seed,
            version: self.version,
            timings: self.timings,
            inventory: self.inventory,
            faults: self.faults.clone(),
        };
        let sim_discovery = Arc::new(SimulatedDiscovery::permissive());
        let clock = Clock::new();
        let state = Shared::build_state(&config, &clock, &admin_key, &user_key, &sim_discovery)?;
        let mut faults = Faults::new(self.seed);
        faults.rules.extend(self.faults);
        let discovery: Arc<dyn VmHostDiscovery> = match self.discovery {
            Some(d) => d,
            None => sim_discovery.clone(),
        };
        let store = Store::new(state, clock, discovery, self.version);
        let shared = Arc::new(Shared {
            api: Arc::new(Api::new(store, faults)),
            log: Mutex::new(RequestLog::default()),
            sim_discovery,
            admin_key,
            user_key,
            config: Mutex::new(config),
            latency: self.latency,
        });
        shared.publish_next_due();
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(crate::runtime::server::serve(
            listener,
            shared.clone(),
            rx.clone(),
        ));
        let ticker = {
            let shared = shared.clone();
            let mut rx = rx;
            let period = self.ticker.max(Duration::from_millis(5));
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(period);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = interval.tick() => shared.settle(),
                        changed = rx.changed() => {
                            if changed.is_err() || *rx.borrow() {
                                break;
                            }
                        }
                    }
                }
            })
        };
        tracing::info!(addr = %local, version = %self.version, "maas-sim listening");
        Ok(RunningSimulator {
            shared,
            addr: local,
            shutdown: tx,
            tasks: vec![server, ticker],
            admin_key_text: String::new(),
            user_key_text: String::new(),
        }
        .with_key_texts())
    }
}

/// A simulator serving on a TCP port. Dropping it stops the server.
pub struct RunningSimulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    admin_key_text: String,
    user_key_text: String,
}

impl std::fmt::Debug for RunningSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSimulator")
            .field("addr", &self.addr)
            .field("version", &self.shared.version)
            .finish_non_exhaustive()
    }
}

impl RunningSimulator {
    fn with_key_texts(mut self) -> Self {
        self.admin_key_text = self.shared.admin_key.expose();
        self.user_key_text = self.shared.user_key.expose();
        self
    }

    /// `http://127.0.0.1:PORT/MAAS` (the URL MAAS clients take).
    pub fn endpoint(&self) -> String {
        format!("http://{}/MAAS", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin's API key `consumer:token:secret`.
    pub fn admin_api_key(&self) -> &str {
        &self.admin_key_text
    }

    /// The non-admin user's API key.
    pub fn user_api_key(&self) -> &str {
        &self.user_key_text
    }

    /// The version profile.
    pub fn maas_version(&self) -> MaasVersion {
        self.shared.version
    }

    /// In-process control (faults, timings, clock, log, snapshot, …).
    pub fn control(&self) -> Control {
        Control::new(self.shared.clone())
    }

    /// Stop serving and wait for the server to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
