//! Who a client is, and how much of the shared budgets one client may hold.
//!
//! A client is an address: the TCP peer's, or — when the peer is one of
//! `server.trusted_proxies` — the address that proxy vouches for in
//! `X-Forwarded-For` (the right-most entry that is not itself a trusted
//! proxy, so a client cannot choose its own address by sending the header
//! itself). IPv6 addresses count per /64, the block one subscriber gets, so
//! one host cannot multiply its share by rotating through its own addresses.
//!
//! [`PerClient`] counts what each client holds of a budget (connections,
//! body bytes, requests in flight) and refuses what would take one client
//! beyond its share; the global budgets stay where they were, so no client
//! can take all of one, and the ones who were not flooding keep the rest.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Proxies whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies given as addresses (`10.0.0.7`) or blocks (`10.0.0.0/24`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR block"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `addr` is a trusted proxy.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request that arrived from `peer`: `peer` itself,
    /// unless it is a trusted proxy, in which case the right-most address of
    /// `forwarded_for` (the `X-Forwarded-For` values, in order) that is not a
    /// trusted proxy. Entries that do not parse end the walk: what is left of
    /// them was written by someone we do not trust.
    pub fn client_of<'h>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'h str>,
    ) -> IpAddr {
        if !self.contains(peer) {
            return canonical(peer);
        }
        let mut client = canonical(peer);
        let entries = forwarded_for.flat_map(|value| value.split(',')).rev();
        for entry in entries {
            let Some(addr) = parse_forwarded(entry) else {
                break;
            };
            client = addr;
            if !self.contains(addr) {
                break;
            }
        }
        client
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One `X-Forwarded-For` entry: an address, with a port or in brackets as
/// some proxies write them.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
        .map(|v6| canonical(IpAddr::V6(v6)))
}

/// IPv4 addresses written as IPv6 (`::ffff:1.2.3.4`, how a dual-stack
/// listener sees them) as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// What budgets are counted per: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of `addr`.
    pub fn of(addr: IpAddr) -> Self {
        match canonical(addr) {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                ClientKey(IpAddr::V6(Ipv6Addr::from(bits)))
            }
            v4 => ClientKey(v4),
        }
    }

    /// The address (or /64 block) as text, for logs.
    pub fn addr(&self) -> IpAddr {
        self.0
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
            v4 => write!(f, "{v4}"),
        }
    }
}

/// How much of one budget each client holds, and the most one may.
///
/// Entries that drop to zero are removed, so the map holds only clients
/// that hold something now: its size is bounded by what the budget itself
/// bounds (connections, requests in flight).
#[derive(Debug, Clone)]
pub struct PerClient {
    cap: usize,
    held: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

impl PerClient {
    /// At most `cap` units per client (at least 1).
    pub fn new(cap: usize) -> Self {
        PerClient {
            cap: cap.max(1),
            held: Arc::default(),
        }
    }

    /// The most one client may hold.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Takes `units` more for `client`, unless that would take it past its
    /// cap (then nothing is taken).
    pub fn try_take(&self, client: ClientKey, units: usize) -> bool {
        let mut held = self.lock();
        let now = held.get(&client).copied().unwrap_or(0);
        if now.saturating_add(units) > self.cap {
            return false;
        }
        if units > 0 {
            held.insert(client, now + units);
        }
        true
    }

    /// Gives back `units` that `client` took.
    pub fn give_back(&self, client: ClientKey, units: usize) {
        if units == 0 {
            return;
        }
        let mut held = self.lock();
        if let Some(now) = held.get_mut(&client) {
            *now = now.saturating_sub(units);
            if *now == 0 {
                held.remove(&client);
            }
        }
    }

    /// What `client` holds now.
    pub fn held_by(&self, client: ClientKey) -> usize {
        self.lock().get(&client).copied().unwrap_or(0)
    }

    /// How many clients hold something now.
    pub fn clients(&self) -> usize {
        self.lock().len()
    }

    /// One unit for `client`, given back when the guard is dropped; `None`
    /// when the client holds its cap already.
    pub fn slot(&self, client: ClientKey) -> Option<Slot> {
        self.try_take(client, 1).then(|| Slot {
            owner: self.clone(),
            client,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, usize>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One unit of a [`PerClient`] budget; dropping it gives the unit back.
#[derive(Debug)]
pub struct Slot {
    owner: PerClient,
    client: ClientKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.owner.give_back(self.client, 1);
    }
}

/// A queue per client with `cap` places: a client's requests beyond its
/// share wait in its own queue, behind its own earlier requests, never in
/// front of another client's. Queues are made on first use and dropped
/// when nobody is in or waiting for them.
#[derive(Debug, Clone)]
pub struct ClientQueues {
    cap: usize,
    queues: Arc<Mutex<HashMap<ClientKey, Arc<Semaphore>>>>,
}

/// A place in a client's queue; dropping it frees the place.
#[derive(Debug)]
pub struct Place {
    // Dropped first, so the queue sees itself unused below.
    _permit: OwnedSemaphorePermit,
    _queue: QueueRef,
}

/// A hold on a client's queue (a place, or a wait for one): the last one
/// dropped removes the queue.
#[derive(Debug)]
struct QueueRef {
    client: ClientKey,
    semaphore: Arc<Semaphore>,
    queues: Arc<Mutex<HashMap<ClientKey, Arc<Semaphore>>>>,
}

impl Drop for QueueRef {
    fn drop(&mut self) {
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Held by the map and by this reference only: nobody else is in it.
        if Arc::strong_count(&self.semaphore) == 2 {
            queues.remove(&self.client);
        }
    }
}

impl ClientQueues {
    /// Queues of `cap` places (at least 1) per client.
    pub fn new(cap: usize) -> Self {
        ClientQueues {
            cap: cap.max(1),
            queues: Arc::default(),
        }
    }

    /// Waits for one of `client`'s places (bound the wait with a timeout).
    pub async fn enter(&self, client: ClientKey) -> Place {
        let queue = {
            let mut queues = self
                .queues
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let semaphore = queues
                .entry(client)
                .or_insert_with(|| Arc::new(Semaphore::new(self.cap)))
                .clone();
            QueueRef {
                client,
                semaphore,
                queues: Arc::clone(&self.queues),
            }
        };
        let permit = match Arc::clone(&queue.semaphore).acquire_owned().await {
            Ok(permit) => permit,
            // The queues' semaphores are never closed.
            Err(_) => unreachable!("a client queue was closed"),
        };
        Place {
            _permit: permit,
            _queue: queue,
        }
    }

    /// How many clients have a queue now (holding or waiting for a place).
    pub fn clients(&self) -> usize {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// The open connections of the API listener, per client.
#[derive(Debug, Clone)]
pub struct Connections {
    per_client: PerClient,
    trusted: TrustedProxies,
    open: Arc<AtomicUsize>,
}

/// One open connection; dropping it (when the connection ends) counts it out.
#[derive(Debug)]
pub struct Connection {
    _slot: Option<Slot>,
    open: Arc<AtomicUsize>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connections {
    /// At most `per_client` connections per client address; the connections
    /// of `trusted` proxies are counted but not limited.
    pub fn new(per_client: usize, trusted: TrustedProxies) -> Self {
        Connections {
            per_client: PerClient::new(per_client),
            trusted,
            open: Arc::default(),
        }
    }

    /// Counts in a connection from `peer`, or `None` when that address has
    /// its share open already (the caller closes it).
    pub fn accept(&self, peer: IpAddr) -> Option<Connection> {
        let slot = if self.trusted.contains(peer) {
            None
        } else {
            Some(self.per_client.slot(ClientKey::of(peer))?)
        };
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Connection {
            _slot: slot,
            open: Arc::clone(&self.open),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.1"]).unwrap();
        // The client of a request from `peer` with these X-Forwarded-For headers.
        let client = |peer: &str, forwarded_for: &[&str]| {
            proxies.client_of(ip(peer), forwarded_for.iter().copied())
        };
        // Straight from the internet: the header is whatever the client wrote.
        assert_eq!(client("203.0.113.9", &["198.51.100.1"]), ip("203.0.113.9"));
        // Through the proxy: the address it saw.
        assert_eq!(client("10.1.2.3", &["198.51.100.1"]), ip("198.51.100.1"));
        // A client that sends its own X-Forwarded-For only prepends to the list:
        // the right-most untrusted entry is still the one the proxy wrote.
        assert_eq!(
            client("10.1.2.3", &["1.1.1.1, 198.51.100.1", "192.168.1.1"]),
            ip("198.51.100.1")
        );
        // Garbage ends the walk at the last trusted hop.
        assert_eq!(client("10.1.2.3", &["nonsense"]), ip("10.1.2.3"));
        assert_eq!(
            client("10.1.2.3", &["[2001:db8::1]", "198.51.100.7:4711"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn bad_trusted_proxy_entries_are_refused_with_the_entry_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/33"]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
    }

    #[test]
    fn ipv6_clients_count_per_64_block_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::of(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.1")),
            ClientKey::of(ip("192.0.2.1"))
        );
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_client_cannot_take_more_than_its_cap_and_others_are_untouched() {
        let budget = PerClient::new(2);
        let (a, b) = (
            ClientKey::of(ip("192.0.2.1")),
            ClientKey::of(ip("192.0.2.2")),
        );
        let first = budget.slot(a).expect("first");
        let _second = budget.slot(a).expect("second");
        assert!(budget.slot(a).is_none(), "beyond the cap");
        assert!(budget.slot(b).is_some(), "another client has its own share");
        drop(first);
        assert!(
            budget.slot(a).is_some(),
            "a slot given back can be taken again"
        );
        assert!(budget.try_take(b, 2));
        assert!(!budget.try_take(b, 1));
        budget.give_back(b, 2);
        assert_eq!(budget.held_by(b), 0);
    }

    #[test]
    fn a_client_at_its_connection_share_is_turned_away_but_a_trusted_proxy_is_not() {
        let connections = Connections::new(2, TrustedProxies::parse(&["10.0.0.1"]).unwrap());
        let a = connections.accept(ip("192.0.2.1")).expect("first");
        let _b = connections.accept(ip("192.0.2.1")).expect("second");
        assert!(connections.accept(ip("192.0.2.1")).is_none());
        assert!(connections.accept(ip("192.0.2.2")).is_some());
        let proxied: Vec<_> = (0..5)
            .map(|_| connections.accept(ip("10.0.0.1")).expect("the proxy"))
            .collect();
        assert_eq!(connections.open(), 7);
        drop((a, proxied));
        assert_eq!(connections.open(), 1);
        assert!(connections.accept(ip("192.0.2.1")).is_some());
    }

    #[tokio::test]
    async fn a_client_waits_in_its_own_queue_and_the_queue_goes_when_empty() {
        let queues = ClientQueues::new(1);
        let (a, b) = (
            ClientKey::of(ip("192.0.2.1")),
            ClientKey::of(ip("192.0.2.2")),
        );
        let first = queues.enter(a).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), queues.enter(a)).await;
        assert!(waiting.is_err(), "its second request waits for its first");
        let other = tokio::time::timeout(Duration::from_millis(50), queues.enter(b)).await;
        assert!(other.is_ok(), "another client does not wait behind it");
        drop(other);
        drop(first);
        assert_eq!(queues.clients(), 0, "empty queues are dropped");
        let again = queues.enter(a).await;
        assert_eq!(queues.clients(), 1);
        drop(again);
        assert_eq!(queues.clients(), 0);
    }

    #[test]
    fn clients_holding_nothing_are_forgotten() {
        let budget = PerClient::new(5);
        for i in 0..100u8 {
            let slot = budget.slot(ClientKey::of(IpAddr::from([192, 0, 2, i])));
            drop(slot);
        }
        assert_eq!(budget.clients(), 0);
    }
}
