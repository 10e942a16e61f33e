#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Load benchmark over loopback HTTP: allocate latency with 10k machines,
//! machine-read throughput with 1k machines. Run with `cargo bench -p maas-sim`.
//!
//! Environment: `BENCH_READ_SECS` (default 5), `BENCH_READ_CONCURRENCY`
//! (default 16), `BENCH_ALLOCATIONS` (default 2000), `BENCH_MACHINES`
//! (default 10000).

use maas_sim::Simulator;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static NONCE: AtomicU64 = AtomicU64::new(0);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn auth(key: &str) -> String {
    let p: Vec<&str> = key.split(':').collect();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let n = NONCE.fetch_add(1, Ordering::Relaxed);
    format!(
        "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"&{}\", oauth_nonce=\"b{n}\", oauth_timestamp=\"{ts}\"",
        p[0], p[1], p[2]
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>, wall: Duration) {
    samples.sort();
    let n = samples.len();
    println!(
        "{name:<44} n={n:<6} p50={:>8.3}ms p90={:>8.3}ms p99={:>8.3}ms max={:>8.3}ms throughput={:>9.1}/s",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.90).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        n as f64 / wall.as_secs_f64()
    );
}

async fn allocate_bench(
    http: &reqwest::Client,
    machines: usize,
    allocations: usize,
    concurrency: usize,
) {
    let t0 = Instant::now();
    let sim = Simulator::builder()
        .machines(machines)
        .seed(1)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    println!(
        "started a simulator with {machines} machines in {:.2?}",
        t0.elapsed()
    );
    let url = format!("{}/api/2.0/machines/?op=allocate", sim.endpoint());
    let key = sim.admin_api_key().to_string();
    // A mix of constraint shapes a provider sends.
    let bodies = [
        "",
        "cpu_count=4&mem=8192",
        "zone=zone-a&cpu_count=8",
        "tags=ssd&mem=16384",
        "pool=default&not_tags=gpu&arch=amd64",
        "cpu_count=32&mem=262144&tags=highmem",
    ];
    let samples = Arc::new(parking_lot::Mutex::new(Vec::with_capacity(allocations)));
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let http = http.clone();
        let url = url.clone();
        let key = key.clone();
        let samples = samples.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= allocations {
                    break;
                }
                let body = bodies[i % bodies.len()];
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .header("Authorization", auth(&key))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let _ = r.bytes().await.unwrap();
                assert!(status == 200 || status == 409, "allocate answered {status}");
                samples.lock().push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let wall = start.elapsed();
    let samples = std::mem::take(&mut *samples.lock());
    report(
        &format!("allocate ({machines} machines, {concurrency} clients)"),
        samples,
        wall,
    );
    sim.shutdown().await;
}

async fn read_bench(http: &reqwest::Client, machines: usize, secs: u64, concurrency: usize) {
    let sim = Simulator::builder()
        .machines(machines)
        .seed(2)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let key = sim.admin_api_key().to_string();
    let ids: Arc<Vec<String>> = Arc::new(
        sim.control()
            .machines()
            .into_iter()
            .map(|m| m.system_id)
            .collect(),
    );
    let base = format!("{}/api/2.0/machines/", sim.endpoint());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let http = http.clone();
        let key = key.clone();
        let ids = ids.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let url = format!("{base}{}/", ids[i % ids.len()]);
                i += concurrency;
                let t = Instant::now();
                let r = http
                    .get(&url)
                    .header("Authorization", auth(&key))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await.unwrap();
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let wall = start.elapsed();
    report(
        &format!("GET machines/{{id}}/ ({machines} machines, {concurrency} clients)"),
        all,
        wall,
    );
    sim.shutdown().await;
}

fn main() {
    // `cargo bench` passes `--bench`. Without it (e.g. `cargo test
    // --all-targets`), run a small smoke configuration instead.
    let full = std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let (machines, allocations, read_secs) = if full {
            (
                env_u64("BENCH_MACHINES", 10_000) as usize,
                env_u64("BENCH_ALLOCATIONS", 2_000) as usize,
                env_u64("BENCH_READ_SECS", 5),
            )
        } else {
            println!("smoke run (use `cargo bench` for figures)");
            (300, 60, 1)
        };
        println!(
            "maas-sim HTTP benchmark ({} CPUs visible)",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
        allocate_bench(&http, machines, allocations, 1).await;
        allocate_bench(&http, machines, allocations, 4).await;
        read_bench(
            &http,
            if full { 1_000 } else { 100 },
            read_secs,
            env_u64("BENCH_READ_CONCURRENCY", 16) as usize,
        )
        .await;
    });
}
