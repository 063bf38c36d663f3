//! TurboClient against real hyper servers on 127.0.0.1, .2 and .3: the per-host
//! limit holds end to end, priorities are honoured under saturation, HTTPS works
//! with a certificate made at test time, and every request leaves nothing behind.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use turbo_client::{EventKind, Priority, TurboClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_host_limit_holds_end_to_end() {
    let server = common::start(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let client = TurboClient::builder()
        .max_per_host(2)
        .max_in_flight(64)
        .build()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for host in 0..3 {
        for i in 0..30 {
            let client = client.clone();
            let url = server.url(host, "/sleep/3");
            let priority = Priority::ALL[i % Priority::COUNT];
            tasks.spawn(async move {
                let response = client.get(&url).priority(priority).send().await?;
                response.bytes().await
            });
        }
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(&result.unwrap().unwrap()[..], b"{\"ok\":true}");
    }
    for addr in &server.addrs {
        assert_eq!(server.occupancy.total(addr.ip()), 30);
        let peak = server.occupancy.peak(addr.ip());
        assert!(peak <= 2, "{} saw {peak} requests at once", addr.ip());
    }
    assert!(client.stats().is_quiescent(), "{:?}", client.stats());
}

#[tokio::test(flavor = "current_thread")]
async fn priorities_are_honoured_under_saturation() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .max_per_host(1)
        .max_in_flight(1)
        .build()
        .unwrap();
    // The blocker holds the only slot until its body is dropped (the slot is
    // held to the body's end), so the order below depends on no timing.
    let blocker = client.get(&server.url(0, "/ok")).send().await.unwrap();
    assert_eq!(client.stats().queue.in_flight, 1);
    let finished = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let plan = [
        Priority::Low,
        Priority::Low,
        Priority::Normal,
        Priority::Critical,
        Priority::High,
        Priority::Critical,
    ];
    for (index, priority) in plan.into_iter().enumerate() {
        let client = client.clone();
        let url = server.url(0, "/ok");
        let finished = Arc::clone(&finished);
        tasks.push(tokio::spawn(async move {
            client
                .get(&url)
                .priority(priority)
                .send()
                .await?
                .bytes()
                .await?;
            finished.lock().unwrap().push((priority, index));
            Ok::<_, turbo_client::Error>(())
        }));
        tokio::task::yield_now().await;
    }
    assert_eq!(
        client.stats().queue.in_flight,
        1,
        "nobody passed the blocker"
    );
    drop(blocker);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let order: Vec<usize> = finished.lock().unwrap().iter().map(|(_, i)| *i).collect();
    assert_eq!(
        order,
        [3, 5, 4, 2, 0, 1],
        "critical, high, normal, low; FIFO within a class"
    );
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "current_thread")]
async fn the_timeline_records_every_stage() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().build().unwrap();
    let response = client.get(&server.url(0, "/ok")).send().await.unwrap();
    let timeline = response.timeline().cloned().unwrap();
    assert!(!timeline.is_finished(), "the body is still open");
    response.bytes().await.unwrap();
    let finished = timeline.finished().unwrap();
    assert_eq!(
        finished.timeline.kinds(),
        [
            EventKind::PermitAcquired,
            EventKind::Admitted,
            EventKind::HeadersReceived,
            EventKind::BodyFinished
        ]
    );
    assert_eq!(finished.host.unwrap().host(), "127.0.0.1");
}

#[tokio::test(flavor = "current_thread")]
async fn https_works_with_a_certificate_made_at_test_time() {
    use std::sync::Arc as StdArc;

    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key_der =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let provider = StdArc::new(rustls::crypto::ring::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .unwrap();
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(StdArc::new(server_config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_request| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"secure")),
                    ))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let transport = turbo_client::transport::HttpTransport::with_roots(roots).unwrap();
    let client = TurboClient::builder().transport(transport).build().unwrap();
    let response = client
        .get(&format!("https://{addr}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.version(),
        http::Version::HTTP_2,
        "ALPN negotiated HTTP/2"
    );
    assert_eq!(&response.bytes().await.unwrap()[..], b"secure");

    // A client that does not trust the certificate fails at the TLS stage.
    let untrusting = TurboClient::builder()
        .transport(
            turbo_client::transport::HttpTransport::with_roots(rustls::RootCertStore::empty())
                .unwrap(),
        )
        .build()
        .unwrap();
    let error = untrusting
        .get(&format!("https://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), turbo_client::ErrorKind::Tls, "{error}");
    assert!(client.stats().is_quiescent() && untrusting.stats().is_quiescent());
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_in_many_frames_is_gathered_whole() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().build().unwrap();
    // 20 chunks, 1 ms apart, so hyper hands them over as separate frames.
    let response = client
        .get(&server.url(0, "/slow-body/1"))
        .send()
        .await
        .unwrap();
    let body = response.bytes().await.unwrap();
    let expected: String = (0..20).map(|i| format!("chunk {i}\n")).collect();
    assert_eq!(&body[..], expected.as_bytes());
    let buffers = client.stats().buffers;
    assert_eq!(
        buffers.hits + buffers.misses,
        1,
        "one pooled buffer: {buffers:?}"
    );
    assert!(client.stats().is_quiescent());
}
