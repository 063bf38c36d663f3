//! One demo caller: random hosts, priorities and body sizes until the deadline,
//! every response checked against what the server promised.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use turbo_client::transport::HttpTransport;
use turbo_client::{EventKind, Priority, TurboClient};

use crate::samples::Samples;

/// Body sizes (the `pad` the server adds): small JSON mostly, some bodies large
/// enough to arrive in several frames and be gathered in a pooled buffer.
const PADS: [usize; 4] = [0, 64, 4096, 48 * 1024];

/// One host as the workers see it.
#[derive(Debug)]
pub(crate) struct Target {
    base: String,
    /// The start every body from this host must have.
    prefix: String,
}

impl Target {
    pub(crate) fn new(ip: Ipv4Addr, addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            prefix: format!("{{\"host\":\"{ip}\",\"path\":\""),
        }
    }

    pub(crate) fn url(&self, path: &str, pad: usize) -> String {
        format!("{}{path}?pad={pad}", self.base)
    }

    /// Whether `body` is what the server sends for `pad`: this host's JSON with a
    /// pad of exactly that length.
    fn matches(&self, body: &[u8], path: &str, pad: usize) -> bool {
        // {"host":"…","path":"<path>","pad":"<pad x>"}
        let expected_len = self.prefix.len() + path.len() + "\",\"pad\":\"".len() + pad + 2;
        body.len() == expected_len
            && body.starts_with(self.prefix.as_bytes())
            && body[self.prefix.len()..].starts_with(path.as_bytes())
            && body.ends_with(b"\"}")
    }
}

/// What one worker (or all, merged) saw.
#[derive(Debug, Default)]
pub(crate) struct WorkerResult {
    pub(crate) requests: u64,
    pub(crate) latency: [Samples; Priority::COUNT],
    pub(crate) wait: [Samples; Priority::COUNT],
    pub(crate) failed: BTreeMap<String, u64>,
}

impl WorkerResult {
    pub(crate) fn merge(&mut self, other: WorkerResult) {
        self.requests += other.requests;
        for (mine, theirs) in self.latency.iter_mut().zip(other.latency) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.wait.iter_mut().zip(other.wait) {
            mine.merge(theirs);
        }
        for (kind, count) in other.failed {
            *self.failed.entry(kind).or_default() += count;
        }
    }

    fn fail(&mut self, kind: &str) {
        *self.failed.entry(kind.to_owned()).or_default() += 1;
    }
}

/// A small, seeded generator (splitmix64): each worker's sequence is its own and
/// reproducible, and the demo needs no `rand` dependency for it.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

/// The host caller `id` sends to: of every 8 callers, 3 go to host 0, 3 to host
/// 1 and one each to hosts 2 and 3 (with fewer than 4 hosts, round robin).
pub(crate) fn home_host(id: u64, hosts: usize) -> usize {
    const SPREAD: [usize; 8] = [0, 1, 0, 1, 2, 0, 1, 3];
    if hosts == SPREAD.len() / 2 {
        SPREAD[(id % SPREAD.len() as u64) as usize]
    } else {
        (id % hosts.max(1) as u64) as usize
    }
}

/// Sends requests until `deadline`, counting each in `done`.
pub(crate) async fn worker(
    id: u64,
    client: TurboClient<HttpTransport>,
    targets: Arc<[Target]>,
    deadline: Instant,
    done: Arc<AtomicU64>,
) -> WorkerResult {
    let mut rng = SplitMix(id.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
    let mut result = WorkerResult::default();
    let mut sequence = 0u64;
    // Each caller sticks to one host, so callers of the slow host wait there
    // while the others keep going: the host limit sits outside the global queue.
    let home = home_host(id, targets.len());
    while Instant::now() < deadline {
        let target = &targets[home];
        let priority = Priority::ALL[rng.below(Priority::COUNT)];
        let pad = PADS[rng.below(PADS.len())];
        let path = format!("/items/{id}-{sequence}");
        sequence += 1;
        result.requests += 1;
        let started = Instant::now();
        let response = match client
            .get(&target.url(&path, pad))
            .priority(priority)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                result.fail(error.kind().as_str());
                done.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let status = response.status();
        let timeline = response.timeline().cloned();
        match response.bytes().await {
            Ok(_) if status != http::StatusCode::OK => result.fail("status"),
            Ok(body) if !target.matches(&body, &path, pad) => result.fail("mismatch"),
            Ok(_) => {
                let rank = priority.rank();
                result.latency[rank].push(started.elapsed());
                // The queue admits a request after its host permit, so the offset
                // of `admitted` is the time spent waiting for both.
                let waited = timeline.and_then(|timeline| {
                    timeline.inspect(|finished| {
                        finished
                            .timeline
                            .find(EventKind::Admitted)
                            .map(|event| event.at)
                    })
                });
                if let Some(Some(waited)) = waited {
                    result.wait[rank].push(waited);
                }
            }
            Err(error) => result.fail(error.kind().as_str()),
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked_for_host_path_and_size() {
        let target = Target::new(
            Ipv4Addr::new(127, 0, 0, 2),
            SocketAddr::from(([127, 0, 0, 2], 8080)),
        );
        let good = br#"{"host":"127.0.0.2","path":"/items/1-2","pad":"xxx"}"#;
        assert!(target.matches(good, "/items/1-2", 3));
        assert!(!target.matches(good, "/items/1-2", 4));
        assert!(!target.matches(good, "/items/1-3", 3));
        let other_host = br#"{"host":"127.0.0.3","path":"/items/1-2","pad":"xxx"}"#;
        assert!(!target.matches(other_host, "/items/1-2", 3));
        assert_eq!(target.url("/a", 7), "http://127.0.0.2:8080/a?pad=7");
    }

    #[test]
    fn callers_spread_over_all_hosts_slow_ones_fewer() {
        let mut per_host = [0usize; 4];
        for id in 0..64 {
            per_host[home_host(id, 4)] += 1;
        }
        assert_eq!(per_host, [24, 24, 8, 8]);
        assert_eq!(home_host(5, 2), 1);
        assert_eq!(home_host(5, 0), 0);
    }

    #[test]
    fn generator_covers_every_choice() {
        let mut rng = SplitMix(1);
        let mut seen = [0usize; 4];
        for _ in 0..1000 {
            seen[rng.below(4)] += 1;
        }
        assert!(seen.iter().all(|&count| count > 150), "{seen:?}");
    }
}
