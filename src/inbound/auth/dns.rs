//! The DNS answers mail-auth looks up (DKIM keys, SPF and DMARC records,
//! addresses), cached until their TTL runs out, so a busy list does not
//! ask for the same sender domain's records for every message.
//!
//! A cache can also be *sealed*: then it answers every question itself,
//! a name it does not hold being one that does not exist, and nothing is
//! looked up. Tests publish records in a sealed cache; nothing reaches the
//! network.

use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::{DnsError, Error, RecordSet, ResolverCache, Txt, MX};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries one map keeps; past it, expired entries go, then the oldest half.
const CAPACITY: usize = 10_000;

/// What records published in a test live for.
const PUBLISHED: Duration = Duration::from_secs(365 * 24 * 3600);

/// One cache per record type, as mail-auth asks.
#[derive(Default)]
pub struct DnsCache {
    pub(super) txt: Map<Box<str>, Txt>,
    pub(super) mx: Map<Box<str>, RecordSet<MX>>,
    pub(super) ipv4: Map<Box<str>, RecordSet<Ipv4Addr>>,
    pub(super) ipv6: Map<Box<str>, RecordSet<Ipv6Addr>>,
    pub(super) ptr: Map<IpAddr, RecordSet<Box<str>>>,
}

impl DnsCache {
    /// From now on, answer from the cache only: see the module docs.
    pub fn seal(&self) {
        for sealed in [
            &self.txt.sealed,
            &self.mx.sealed,
            &self.ipv4.sealed,
            &self.ipv6.sealed,
            &self.ptr.sealed,
        ] {
            sealed.store(true, Ordering::Relaxed);
        }
    }

    /// Publishes a TXT record (a DKIM key, an SPF or DMARC record) at `name`.
    pub fn publish_txt(&self, name: &str, record: Txt) {
        self.txt
            .insert(fqdn(name).into(), record, Instant::now() + PUBLISHED);
    }

    /// Publishes the IPv4 addresses of `name` (for SPF's `a` and `mx`).
    pub fn publish_ipv4(&self, name: &str, addresses: &[Ipv4Addr]) {
        let set = RecordSet {
            rrset: Arc::from(addresses),
            dnssec_status: Default::default(),
        };
        self.ipv4
            .insert(fqdn(name).into(), set, Instant::now() + PUBLISHED);
    }
}

/// mail-auth's keys: lower case with the root's dot.
fn fqdn(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

/// The answer a sealed cache gives for a name it does not hold.
pub(super) trait Missing: Sized {
    fn missing() -> Self;
}

impl Missing for Txt {
    fn missing() -> Self {
        Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain)))
    }
}

impl<T> Missing for RecordSet<T> {
    fn missing() -> Self {
        RecordSet {
            rrset: Arc::from(Vec::new()),
            dnssec_status: Default::default(),
        }
    }
}

pub(super) struct Map<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    sealed: AtomicBool,
}

impl<K, V> Default for Map<K, V> {
    fn default() -> Self {
        Map {
            entries: Mutex::new(HashMap::new()),
            sealed: AtomicBool::new(false),
        }
    }
}

impl<K: Hash + Eq, V: Clone + Missing> ResolverCache<K, V> for Map<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries.lock().unwrap();
        match entries.get(name) {
            Some((v, until)) if *until > Instant::now() => return Some(v.clone()),
            Some(_) => {
                entries.remove(name);
            }
            None => {}
        }
        self.sealed.load(Ordering::Relaxed).then(V::missing)
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().unwrap().remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut entries = self.entries.lock().unwrap();
        if entries.len() >= CAPACITY {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= CAPACITY {
                let mut untils: Vec<Instant> = entries.values().map(|(_, u)| *u).collect();
                untils.sort_unstable();
                let median = untils[untils.len() / 2];
                entries.retain(|_, (_, until)| *until > median);
            }
        }
        entries.insert(key, (value, valid_until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_caches_answer_everything() {
        let cache = DnsCache::default();
        assert!(cache.txt.get("nothing.example.").is_none());
        cache.seal();
        assert!(matches!(
            cache.txt.get("nothing.example."),
            Some(Txt::Error(Error::Dns(DnsError::RecordNotFound(_))))
        ));
        assert!(cache.ipv4.get("nothing.example.").unwrap().rrset.is_empty());
        cache.publish_ipv4("Host.Example", &[Ipv4Addr::new(192, 0, 2, 1)]);
        assert_eq!(cache.ipv4.get("host.example.").unwrap().rrset.len(), 1);
    }

    #[test]
    fn expired_entries_are_not_served() {
        let cache: Map<Box<str>, RecordSet<Ipv4Addr>> = Map::default();
        cache.insert("a.".into(), RecordSet::missing(), Instant::now());
        assert!(cache.get("a.").is_none());
        cache.insert(
            "b.".into(),
            RecordSet::missing(),
            Instant::now() + Duration::from_secs(60),
        );
        assert!(cache.get("b.").is_some());
    }
}
