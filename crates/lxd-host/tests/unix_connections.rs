#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The unix-socket client holds no connection between requests.
//!
//! LXD 5.0 peeks at the first bytes of each unix connection inside its
//! accept loop: a connection opened and left silent (what an HTTP connection
//! pool does when it races a new connection against a busy one) stops the
//! daemon from serving any other unix client, `lxc` included. So the client
//! keeps no pool over the socket: each request opens its own connection and
//! closes it when done. This test serves the socket itself and checks that.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lxd_host::LxdClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const BODY: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"ok":true}}"#;

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    open: AtomicUsize,
    requests: AtomicUsize,
    silent: AtomicUsize,
}

/// A keep-alive HTTP/1.1 server answering every request with `BODY`.
fn serve(listener: UnixListener, counts: Arc<Counts>) {
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            counts.open.fetch_add(1, Ordering::SeqCst);
            let counts = counts.clone();
            tokio::spawn(async move {
                handle(conn, &counts).await;
                counts.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
}

async fn handle(mut conn: UnixStream, counts: &Counts) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut served = 0;
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk)).await;
        let n = match read {
            Ok(Ok(n)) if n > 0 => n,
            Ok(_) => return,
            Err(_) => {
                if served == 0 {
                    counts.silent.fetch_add(1, Ordering::SeqCst);
                }
                return;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            served += 1;
            counts.requests.fetch_add(1, Ordering::SeqCst);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
                BODY.len()
            );
            if conn.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unix_client_holds_no_connection_between_requests() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let counts = Arc::new(Counts::default());
    serve(UnixListener::bind(&socket).unwrap(), counts.clone());

    let client = LxdClient::unix(&socket).unwrap();
    // Back-to-back requests, then bursts of concurrent ones.
    for _ in 0..50 {
        let _: (serde_json::Value, _) = client.get("/1.0").await.unwrap();
    }
    for _ in 0..10 {
        let burst: Vec<_> = (0..4)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(
                    async move { client.get::<serde_json::Value>("/1.0").await.map(|_| ()) },
                )
            })
            .collect();
        for task in burst {
            task.await.unwrap().unwrap();
        }
    }
    // Every connection carried one request and is closed once it is answered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while counts.open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (connections, open, requests, silent) = (
        counts.connections.load(Ordering::SeqCst),
        counts.open.load(Ordering::SeqCst),
        counts.requests.load(Ordering::SeqCst),
        counts.silent.load(Ordering::SeqCst),
    );
    assert_eq!(requests, 90);
    assert_eq!(open, 0, "{open} connections still held open by the client");
    assert_eq!(connections, requests, "one connection per request");
    assert_eq!(silent, 0);
}
