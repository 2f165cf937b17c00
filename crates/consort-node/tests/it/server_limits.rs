//! The server's limit on handler threads holds past a request's timeout: a handler that
//! outlives its request keeps its worker until it returns, so an overloaded node answers
//! `RequestTimeout` / `TooManyPendingRequests` instead of piling up threads.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use consort_client::ClientConfig;
use consort_endpoints::{AuthPolicy, Mode, Registry, Response};
use consort_node::{http::server, NodeConfig, NodeState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_past_their_timeout_keep_their_worker() {
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    {
        let (running, most) = (running.clone(), most.clone());
        registry.add(
            http::Method::GET,
            "/app/slow",
            Mode::ReadOnly,
            &[AuthPolicy::NoAuth],
            "sleeps",
            move |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(Response::json(&serde_json::json!({})))
            },
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = NodeConfig::new(addr, dir.path().join("node"));
    cfg.max_concurrent_requests = 1;
    cfg.request_timeout_ms = 100;
    let state = tokio::task::spawn_blocking(move || NodeState::start(cfg, registry))
        .await
        .unwrap()
        .unwrap();
    let service = state.service_cert().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(state.clone(), listener, async {
        let _ = stopped.await;
    }));
    let client = ClientConfig::new(addr, &service, None).unwrap();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut c = client.connect().await.unwrap();
                c.get("/app/slow").await.unwrap().status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    // Every request timed out (100 ms < 300 ms) with a 503, and never did two handlers
    // run at once.
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(most.load(Ordering::SeqCst), 1);
    let _ = stop.send(());
    let _ = serving.await;
    state.shutdown();
}
