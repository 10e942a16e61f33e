//! Wires the three controllers, the MAAS client cache and the pollers
//! together, and runs them until a shutdown signal (in-process or in the
//! `capmaas-manager` binary).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capi_types::capi::{Cluster, Machine};
use capi_types::constants::CLUSTER_NAME_LABEL;
use capi_types::{MaasCluster, MaasMachine, MaasMachineTemplate};
use futures::StreamExt;
use futures::channel::oneshot;
use kube::runtime::controller::Config as ControllerSettings;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ControllerConfig;
use crate::context::Context;
use crate::kubeutil::capi_owner;
use crate::maas::{ClientSettings, MaasClients};
use crate::metrics::{MaasObserver, Metrics};
use crate::triggers::{self, ChangeFilter};
use crate::{cluster, machine, template};

/// The label `--watch-filter` selects on (as CAPI providers do).
pub const WATCH_FILTER_LABEL: &str = "cluster.x-k8s.io/watch-filter";

/// Readiness: true once every controller's cache is synced.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Ready?
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sets it.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
}

/// The controllers of this provider.
pub struct Manager {
    client: Client,
    config: ControllerConfig,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    context: Arc<Context>,
    cancel: CancellationToken,
    wake_rx: futures::channel::mpsc::UnboundedReceiver<ObjectRef<MaasMachine>>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn refs_in<K>(store: &Store<K>, namespace: &str, pred: impl Fn(&K) -> bool) -> Vec<ObjectRef<K>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    store
        .state()
        .iter()
        .filter(|o| o.namespace().as_deref() == Some(namespace) && pred(o))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// The objects of `events` whose `facts` changed ([`ChangeFilter`]);
/// deletions only when `deletions`.
fn filtered<K>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    facts: fn(&K) -> String,
    deletions: bool,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Send + 'static,
{
    let mut filter = ChangeFilter::new(facts);
    events.filter_map(move |event| {
        futures::future::ready(match event {
            Ok(watcher::Event::Delete(_)) if !deletions => None,
            Ok(e) => filter.pass(e).map(Ok),
            Err(e) => Some(Err(e)),
        })
    })
}

fn cluster_of_maas_cluster(mc: &MaasCluster) -> Option<String> {
    capi_owner(&mc.metadata, "Cluster")
        .map(|o| o.name.clone())
        .or_else(|| mc.labels().get(CLUSTER_NAME_LABEL).cloned())
}

impl Manager {
    /// A manager with fresh metrics.
    #[must_use]
    pub fn new(client: Client, config: ControllerConfig) -> Self {
        Self::with_metrics(client, config, Arc::new(Metrics::new()))
    }

    /// A manager feeding `metrics`.
    #[must_use]
    pub fn with_metrics(client: Client, config: ControllerConfig, metrics: Arc<Metrics>) -> Self {
        let mut config = config;
        // The machines the poller lists must read as fresh between its ticks.
        let floor = config.poll_interval.saturating_mul(3);
        if config.lifecycle.cache_fresh_for < floor {
            config.lifecycle.cache_fresh_for = floor;
        }
        let cancel = CancellationToken::new();
        let (wake_tx, wake_rx) = futures::channel::mpsc::unbounded();
        let clients = MaasClients::new(ClientSettings {
            request_timeout: config.maas_request_timeout,
            retry: config.maas_retry.clone(),
            observer: Some(Arc::new(MaasObserver(metrics.clone()))),
            version_ttl: config.version_cache_ttl,
            poll_interval: config.poll_interval,
            wake: wake_tx,
            cancel: cancel.clone(),
            metrics: metrics.clone(),
            machine_cache: config.machine_cache,
        });
        let context = Arc::new(Context::new(
            client.clone(),
            config.clone(),
            clients,
            metrics.clone(),
        ));
        Self {
            client,
            config,
            metrics,
            readiness: Readiness::default(),
            context,
            cancel,
            wake_rx,
        }
    }

    /// The metrics.
    #[must_use]
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The readiness flag (`/readyz`).
    #[must_use]
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// The shared context (MAAS client cache, config): tests use it to
    /// inject a MAAS API or inspect pollers.
    #[must_use]
    pub fn context(&self) -> Arc<Context> {
        self.context.clone()
    }

    /// Runs every controller until `shutdown` resolves, then lets in-flight
    /// reconciles finish and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let Manager {
            client,
            config,
            readiness,
            context,
            cancel,
            wake_rx,
            ..
        } = self;
        let ns = config.namespace.as_deref();
        let own = {
            let wc = watcher::Config::default().any_semantic();
            match &config.watch_filter {
                Some(v) => wc.labels(&format!("{WATCH_FILTER_LABEL}={v}")),
                None => wc,
            }
        };
        let other = watcher::Config::default().any_semantic();
        let settings = ControllerSettings::default().concurrency(config.concurrency);

        let (tx1, rx1) = oneshot::channel::<()>();
        let (tx2, rx2) = oneshot::channel::<()>();
        let (tx3, rx3) = oneshot::channel::<()>();
        let stop = |rx: oneshot::Receiver<()>| async move {
            let _ = rx.await;
        };

        // MaasMachine. Every trigger passes only the events that change
        // something the reconcile reads (`triggers.rs`): our own status
        // writes wake nothing.
        let (mm_store, mm_writer) = reflector::store::<MaasMachine>();
        let mm_events = filtered(
            reflector::reflector(
                mm_writer,
                watcher(api::<MaasMachine>(&client, ns), own.clone()),
            ),
            triggers::maas_machine_facts,
            false,
        );
        let mm_ctrl =
            Controller::for_stream(mm_events, mm_store.clone()).with_config(settings.clone());
        let by_cluster = {
            let store = mm_store.clone();
            move |c: Cluster| {
                let name = c.name_any();
                refs_in(
                    &store,
                    &c.namespace().unwrap_or_default(),
                    |mm: &MaasMachine| mm.labels().get(CLUSTER_NAME_LABEL) == Some(&name),
                )
            }
        };
        let by_maas_cluster = {
            let store = mm_store.clone();
            move |mc: MaasCluster| match cluster_of_maas_cluster(&mc) {
                Some(name) => refs_in(&store, &mc.namespace().unwrap_or_default(), |mm| {
                    mm.labels().get(CLUSTER_NAME_LABEL) == Some(&name)
                }),
                None => Vec::new(),
            }
        };
        let mm_run = mm_ctrl
            .watches_stream(
                filtered(
                    watcher(api::<Machine>(&client, ns), other.clone()),
                    triggers::machine_facts,
                    true,
                ),
                |m: Machine| {
                    let ns = m.namespace().unwrap_or_default();
                    m.spec
                        .infrastructure_ref
                        .as_ref()
                        .filter(|r| r.kind == "MaasMachine")
                        .map(|r| ObjectRef::<MaasMachine>::new(&r.name).within(&ns))
                },
            )
            .watches_stream(
                filtered(
                    watcher(api::<Cluster>(&client, ns), other.clone()),
                    triggers::cluster_facts,
                    true,
                ),
                by_cluster,
            )
            .watches_stream(
                filtered(
                    watcher(api::<MaasCluster>(&client, ns), own.clone()),
                    triggers::maas_cluster_facts,
                    true,
                ),
                by_maas_cluster,
            )
            .reconcile_on(wake_rx)
            .graceful_shutdown_on(stop(rx1))
            .run(machine::reconcile, machine::error_policy, context.clone())
            .for_each(|_| futures::future::ready(()));

        // MaasCluster.
        let mc_ctrl = Controller::new(api::<MaasCluster>(&client, ns), own.clone())
            .with_config(settings.clone());
        let mc_store = mc_ctrl.store();
        let mc_by_machine = {
            let store = mc_store.clone();
            move |mm: MaasMachine| match mm.labels().get(CLUSTER_NAME_LABEL).cloned() {
                Some(name) => refs_in(&store, &mm.namespace().unwrap_or_default(), |mc| {
                    cluster_of_maas_cluster(mc).as_deref() == Some(name.as_str())
                }),
                None => Vec::new(),
            }
        };
        let machine_events = {
            let mut filter = cluster::MachineEventFilter::default();
            watcher(api::<MaasMachine>(&client, ns), own.clone()).filter_map(move |event| {
                futures::future::ready(match event {
                    Ok(e) => filter.pass(e).map(Ok),
                    Err(e) => Some(Err(e)),
                })
            })
        };
        let mc_run = mc_ctrl
            .watches_stream(machine_events, mc_by_machine)
            .watches(api::<Cluster>(&client, ns), other.clone(), |c: Cluster| {
                let ns = c.namespace().unwrap_or_default();
                c.spec
                    .infrastructure_ref
                    .as_ref()
                    .filter(|r| r.kind == "MaasCluster")
                    .map(|r| ObjectRef::<MaasCluster>::new(&r.name).within(&ns))
            })
            .graceful_shutdown_on(stop(rx2))
            .run(cluster::reconcile, cluster::error_policy, context.clone())
            .for_each(|_| futures::future::ready(()));

        // MaasMachineTemplate.
        let t_ctrl = Controller::new(api::<MaasMachineTemplate>(&client, ns), own.clone())
            .with_config(settings);
        let t_store = t_ctrl.store();
        let t_run = t_ctrl
            .graceful_shutdown_on(stop(rx3))
            .run(template::reconcile, template::error_policy, context.clone())
            .for_each(|_| futures::future::ready(()));

        let ready_task = {
            let readiness = readiness.clone();
            tokio::spawn(async move {
                // `Store::wait_until_ready` wakes only its latest poller (a
                // oneshot receiver behind it keeps one waker), and each
                // controller's runner polls the same store: a waiter that
                // only awaited could sleep forever. Polling again now and
                // then finds the value once anyone has received it.
                loop {
                    let synced = async {
                        mm_store.wait_until_ready().await.is_ok()
                            && mc_store.wait_until_ready().await.is_ok()
                            && t_store.wait_until_ready().await.is_ok()
                    };
                    match tokio::time::timeout(Duration::from_millis(200), synced).await {
                        Ok(true) => {
                            tracing::info!("caches synced; ready");
                            readiness.set(true);
                            break;
                        }
                        Ok(false) => break,
                        Err(_) => continue,
                    }
                }
            })
        };
        let sweep_task = tokio::spawn(crate::orphans::run(context.clone(), cancel.clone()));
        // A shutdown before the caches synced has nothing in flight (nothing is
        // reconciled before), and kube-runtime's graceful drain would wait for
        // a store that can no longer become ready: stop at once then.
        let (unsynced_tx, unsynced_rx) = oneshot::channel::<()>();
        let signal = {
            let readiness = readiness.clone();
            tokio::spawn(async move {
                shutdown.await;
                if readiness.is_ready() {
                    tracing::info!("shutting down: finishing in-flight reconciles");
                } else {
                    tracing::info!("shutting down before the caches synced: nothing in flight");
                    let _ = unsynced_tx.send(());
                }
                let _ = tx1.send(());
                let _ = tx2.send(());
                let _ = tx3.send(());
            })
        };
        tracing::info!(namespace = ?config.namespace, watch_filter = ?config.watch_filter, "controllers starting");
        let all = async {
            futures::join!(mm_run, mc_run, t_run);
        };
        tokio::select! {
            () = all => {}
            Ok(()) = unsynced_rx => {}
        }
        readiness.set(false);
        ready_task.abort();
        sweep_task.abort();
        signal.abort();
        cancel.cancel();
        tracing::info!("controllers stopped");
    }

    /// Runs in a background task (tests, embedding): see [`ManagerHandle`].
    #[must_use]
    pub fn spawn(self) -> ManagerHandle {
        let (tx, rx) = oneshot::channel::<()>();
        let context = self.context.clone();
        let readiness = self.readiness.clone();
        let metrics = self.metrics.clone();
        let cancel = self.cancel.clone();
        let task = tokio::spawn(self.run(async move {
            let _ = rx.await;
        }));
        ManagerHandle {
            stop: Some(tx),
            task,
            context,
            readiness,
            metrics,
            cancel,
        }
    }
}

/// A running [`Manager`].
pub struct ManagerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    context: Arc<Context>,
    readiness: Readiness,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for ManagerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerHandle").finish_non_exhaustive()
    }
}

impl ManagerHandle {
    /// The shared context.
    #[must_use]
    pub fn context(&self) -> Arc<Context> {
        self.context.clone()
    }

    /// Readiness.
    #[must_use]
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Metrics.
    #[must_use]
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Graceful shutdown: in-flight reconciles finish, then this returns.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops at once, like a crash (in-flight reconciles are dropped).
    pub async fn abort(self) {
        self.task.abort();
        self.cancel.cancel();
        let _ = self.task.await;
    }
}
