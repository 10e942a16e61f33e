//! What the server, the ticker and the control handle share, and how a
//! fresh state is built from the configuration.

use crate::api::Api;
use crate::api::faults::OpFault;
use crate::domain::inventory::{Inventory, InventoryError};
use crate::domain::state::{State, Timings};
use crate::domain::vmhost::SimulatedDiscovery;
use crate::model::clock::Clock;
use crate::model::keys::{ApiKey, InvalidApiKey};
use crate::model::version::MaasVersion;
use crate::runtime::log::RequestLog;
use parking_lot::Mutex;
use std::ops::Deref;
use std::sync::Arc;

/// An error starting or resetting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address did not parse.
    #[error("invalid listen address '{0}'")]
    Address(String),
    /// Binding failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The inventory is unusable.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// An API key is malformed.
    #[error(transparent)]
    ApiKey(#[from] InvalidApiKey),
}

/// Everything needed to (re)build the state.
#[derive(Clone)]
pub(crate) struct SimConfig {
    pub(crate) machines: usize,
    pub(crate) seed: u64,
    pub(crate) version: MaasVersion,
    pub(crate) timings: Timings,
    pub(crate) inventory: Option<Inventory>,
    pub(crate) faults: Vec<OpFault>,
}

/// State shared by the server, the ticker and the control handle: the API's
/// context (state, clock, nonces, faults) and what only the runtime uses.
pub(crate) struct Shared {
    pub(crate) api: Arc<Api>,
    pub(crate) log: Mutex<RequestLog>,
    pub(crate) sim_discovery: Arc<SimulatedDiscovery>,
    pub(crate) admin_key: ApiKey,
    pub(crate) user_key: ApiKey,
    pub(crate) config: Mutex<SimConfig>,
    /// How long answers take (`--latency-profile`).
    pub(crate) latency: crate::runtime::latency::LatencyProfile,
}

impl Deref for Shared {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Shared {
    /// Build a fresh state from the configuration.
    pub(crate) fn build_state(
        config: &SimConfig,
        clock: &Clock,
        admin: &ApiKey,
        user: &ApiKey,
        discovery: &SimulatedDiscovery,
    ) -> Result<State, SimError> {
        let epoch = clock.unix_ms_at(0);
        let mut st = State::new(
            config.version,
            config.timings,
            config.seed,
            epoch,
            admin,
            user,
        );
        st.now_ms = clock.now_ms();
        match &config.inventory {
            Some(inv) => st.apply_inventory(inv, discovery)?,
            None => st.ensure_default_network(),
        }
        if config.machines > 0 {
            st.generate_machines(config.machines)?;
        }
        Ok(st)
    }

    /// Rebuild everything from the configuration (keys and clock stay).
    pub(crate) fn reset(&self) -> Result<(), SimError> {
        let config = self.config.lock().clone();
        let fresh = Shared::build_state(
            &config,
            &self.clock,
            &self.admin_key,
            &self.user_key,
            &self.sim_discovery,
        )?;
        self.store.replace(fresh);
        self.api.clear_caches();
        {
            let mut f = self.faults.lock();
            f.clear();
            f.rules.extend(config.faults.iter().cloned());
        }
        self.log.lock().clear();
        Ok(())
    }
}
