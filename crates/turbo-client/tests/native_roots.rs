//! `HttpTransportBuilder::native_roots` (feature `native-roots`; `cargo xtask ci`
//! runs this file with it) loads the system's store. Linux machines that run the
//! tests have one (`ca-certificates`); the count is what the store holds.

#![cfg(feature = "native-roots")]
#![allow(clippy::unwrap_used)]

use turbo_client::TurboClient;
use turbo_client::transport::HttpTransport;

#[test]
fn the_system_store_is_loaded_into_a_working_transport() {
    let transport = HttpTransport::builder()
        .native_roots()
        .expect("this machine has a certificate store")
        .build()
        .unwrap();
    let client = TurboClient::builder().transport(transport).build().unwrap();
    assert!(!client.is_closed());
}
