//! Per-client admission: how many sessions one client may hold at once and
//! how often it may connect, so one noisy host cannot take the slots every
//! other sender needs.
//!
//! A client is an IPv4 address, or an IPv6 /64 (one host usually owns a
//! whole /64, so counting single IPv6 addresses would cap nothing).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Above this many remembered clients, those with nothing to remember
/// (no session open, a full allowance) are forgotten.
const PRUNE_ABOVE: usize = 4096;

/// Why a client was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// It already holds its share of sessions.
    TooMany,
    /// It connected too often in the last minute.
    TooFast,
}

pub(super) struct Clients {
    max_open: usize,
    /// Connections allowed per minute; 0 means no cap.
    per_minute: u32,
    table: Mutex<HashMap<IpAddr, Entry>>,
}

struct Entry {
    open: usize,
    /// A token bucket: up to `per_minute` connections, refilled evenly
    /// over a minute.
    allowance: f64,
    checked: Instant,
}

/// One admitted session; dropping it frees the client's slot.
pub(super) struct ClientSlot {
    clients: Arc<Clients>,
    key: IpAddr,
}

impl Clients {
    pub(super) fn new(max_open: usize, per_minute: u32) -> Arc<Clients> {
        Arc::new(Clients {
            max_open: max_open.max(1),
            per_minute,
            table: Mutex::new(HashMap::new()),
        })
    }

    /// Lets a new connection from `ip` in, or says why not.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ClientSlot, Refusal> {
        let key = client_key(ip);
        let now = Instant::now();
        let mut table = self.table.lock().expect("client table lock");
        if table.len() > PRUNE_ABOVE {
            table.retain(|_, e| e.open > 0 || self.refill(e, now) < f64::from(self.per_minute));
        }
        let full = f64::from(self.per_minute);
        let entry = table.entry(key).or_insert(Entry {
            open: 0,
            allowance: full,
            checked: now,
        });
        // Every attempt counts against the rate, refused ones too: a
        // client hammering at its session cap is slowed down as well.
        if self.per_minute > 0 {
            let allowance = self.refill(entry, now);
            entry.checked = now;
            if allowance < 1.0 {
                entry.allowance = allowance;
                return Err(Refusal::TooFast);
            }
            entry.allowance = allowance - 1.0;
        }
        if entry.open >= self.max_open {
            return Err(Refusal::TooMany);
        }
        entry.open += 1;
        Ok(ClientSlot {
            clients: self.clone(),
            key,
        })
    }

    /// The entry's allowance as of `now`.
    fn refill(&self, e: &Entry, now: Instant) -> f64 {
        let full = f64::from(self.per_minute);
        let earned = now.duration_since(e.checked).as_secs_f64() * full / 60.0;
        (e.allowance + earned).min(full)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut table = self.clients.table.lock().expect("client table lock");
        if let Some(e) = table.get_mut(&self.key) {
            e.open = e.open.saturating_sub(1);
        }
    }
}

/// The address a client is counted under: IPv4 as is (also when it
/// arrives mapped into IPv6), IPv6 by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_open_sessions_per_client() {
        let clients = Clients::new(2, 0);
        let a = clients.admit(ip("192.0.2.1")).unwrap();
        let _b = clients.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(clients.admit(ip("192.0.2.1")).err(), Some(Refusal::TooMany));
        // Another client is unaffected; the same one, mapped, is not.
        assert!(clients.admit(ip("192.0.2.2")).is_ok());
        assert_eq!(
            clients.admit(ip("::ffff:192.0.2.1")).err(),
            Some(Refusal::TooMany)
        );
        drop(a);
        assert!(clients.admit(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn ipv6_counts_by_64() {
        let clients = Clients::new(1, 0);
        let _a = clients.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(clients.admit(ip("2001:db8:1:2:ffff::9")).is_err());
        assert!(clients.admit(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn caps_the_connection_rate() {
        let clients = Clients::new(100, 3);
        for _ in 0..3 {
            drop(clients.admit(ip("192.0.2.1")).unwrap());
        }
        assert_eq!(clients.admit(ip("192.0.2.1")).err(), Some(Refusal::TooFast));
        assert!(clients.admit(ip("192.0.2.9")).is_ok());
        // A minute refills the allowance.
        {
            let mut table = clients.table.lock().unwrap();
            let e = table.get_mut(&ip("192.0.2.1")).unwrap();
            e.checked -= std::time::Duration::from_secs(60);
        }
        assert!(clients.admit(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn forgets_idle_clients() {
        let clients = Clients::new(1, 0);
        for i in 0..(PRUNE_ABOVE as u32 + 10) {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            drop(clients.admit(addr).unwrap());
        }
        assert!(clients.table.lock().unwrap().len() <= PRUNE_ABOVE + 1);
    }
}
