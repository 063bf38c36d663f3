//! The client's own redirects over loopback servers on 127.0.0.1-3: each hop takes
//! its own host's permit, hops are on the timeline, loops and too many hops fail
//! typed, 303 turns into a body-less GET while 307 keeps method and body, and
//! credentials do not cross origins.

#![allow(clippy::unwrap_used)]

mod common;

use http::StatusCode;
use turbo_client::{EVENT_REDIRECT, ErrorKind, FieldValue, RedirectPolicy, TurboClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_across_hosts_takes_each_hops_own_permit() {
    let server = common::start(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let client = TurboClient::builder().max_per_host(1).build().unwrap();
    let last = server.url(2, "/echo-header/host");
    let middle = server.url(1, &format!("/redirect?to={last}"));
    let first = server.url(0, &format!("/redirect?to={middle}"));
    let response = client.get(first).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Only the last hop's permit is held, by its unread body.
    assert_eq!(client.stats().hosts.in_flight(), 1);
    let timeline = response.timeline().cloned().unwrap();
    let body = response.bytes().await.unwrap();
    assert_eq!(body, server.addrs[2].to_string().as_bytes());
    let finished = timeline.finished().unwrap();
    let hop = finished.timeline.find(EVENT_REDIRECT).unwrap();
    assert_eq!(hop.field("hop"), Some(FieldValue::U64(2)));
    assert_eq!(hop.field("status"), Some(FieldValue::U64(302)));
    for addr in &server.addrs {
        assert_eq!(server.occupancy.total(addr.ip()), 1);
        assert_eq!(server.occupancy.peak(addr.ip()), 1);
    }
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_and_too_many_hops_fail_typed() {
    let server = common::start(&["127.0.0.1", "127.0.0.2"]).await;
    let client = TurboClient::new().unwrap();
    // 127.0.0.2 -> 127.0.0.1/loop -> 127.0.0.1/loop: a loop.
    let looping = server.url(1, &format!("/redirect?to={}", server.url(0, "/loop")));
    let error = client.get(looping).send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Redirect, "{error}");
    assert!(error.to_string().contains("loop"), "{error}");

    let strict = TurboClient::builder()
        .redirect(RedirectPolicy::limited(1))
        .build()
        .unwrap();
    let two_hops = server.url(
        0,
        &format!("/redirect?to={}", server.url(1, "/redirect?to=/ok")),
    );
    let error = strict.get(two_hops).send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Redirect, "{error}");
    assert!(
        error.to_string().contains("more than 1 redirects"),
        "{error}"
    );
    assert!(common::eventually(|| strict.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn see_other_becomes_get_and_temporary_keeps_the_method_and_body() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let response = client
        .post(server.url(0, "/redirect-status/303?to=/echo-method"))
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"GET");
    let response = client
        .post(server.url(0, "/redirect-status/307?to=/echo-body"))
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"data");
    let response = client
        .post(server.url(0, "/redirect-status/308?to=/echo-method"))
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_stay_on_their_origin() {
    let server = common::start(&["127.0.0.1", "127.0.0.2"]).await;
    let client = TurboClient::new().unwrap();
    let same = server.url(0, "/redirect?to=/echo-header/authorization");
    let response = client
        .get(same)
        .header("authorization", "Bearer secret")
        .send()
        .await
        .unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"Bearer secret");
    let other = server.url(
        0,
        &format!(
            "/redirect?to={}",
            server.url(1, "/echo-header/authorization")
        ),
    );
    let response = client
        .get(other)
        .header("authorization", "Bearer secret")
        .header("cookie", "session=1")
        .send()
        .await
        .unwrap();
    assert!(
        response.bytes().await.unwrap().is_empty(),
        "sent across origins"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_can_be_turned_off() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .redirect(RedirectPolicy::none())
        .build()
        .unwrap();
    let response = client
        .get(server.url(0, "/redirect?to=/ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers().get("location").unwrap(), "/ok");
}
