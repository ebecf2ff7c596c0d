//! Login throttling: failed attempts are counted per account and per client address in a
//! sliding window; past the limit, further attempts are refused before any password is
//! checked. In memory, per server: enough for one node; a shared store joins with the
//! PostgreSQL wave.
use rampart_domain::timestamp::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;

/// Failed logins per account within the window before the account is throttled.
pub const PER_ACCOUNT: usize = 5;
/// Failed logins per client address within the window.
pub const PER_ADDRESS: usize = 20;
/// The window, in microseconds (15 minutes).
pub const WINDOW_MICROS: i64 = 15 * 60 * 1_000_000;
/// Most keys tracked; beyond it the oldest are dropped, so a spray of made-up names cannot
/// grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// Failure times per key.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Timestamp>>>,
}

fn account_key(username: &str) -> String {
    format!("u:{}", username.to_lowercase())
}

fn address_key(addr: &str) -> String {
    format!("a:{addr}")
}

impl LoginLimiter {
    /// Starts an attempt: refused with the seconds to wait when the account or the address
    /// is over its limit; otherwise counted *now*, before the password is checked, so a
    /// burst of parallel guesses cannot all pass the check.
    pub fn begin(&self, username: &str, addr: &str, now: Timestamp) -> Result<(), i64> {
        let Ok(mut map) = self.failures.lock() else {
            return Err(60);
        };
        let keys = [
            (account_key(username), PER_ACCOUNT),
            (address_key(addr), PER_ADDRESS),
        ];
        let mut wait = None;
        for (key, limit) in &keys {
            if let Some(times) = map.get_mut(key) {
                times.retain(|t| now.micros() - t.micros() < WINDOW_MICROS);
                if times.len() >= *limit {
                    let oldest = times.iter().map(|t| t.micros()).min().unwrap_or(0);
                    let secs = (oldest + WINDOW_MICROS - now.micros()) / 1_000_000 + 1;
                    wait = Some(wait.map_or(secs, |w: i64| w.max(secs)));
                }
            }
        }
        if let Some(w) = wait {
            return Err(w);
        }
        if map.len() + 2 > MAX_KEYS {
            // Drop what has expired, then the stalest keys: a spray of made-up names must
            // neither grow memory nor wipe the counts of real accounts under attack.
            map.retain(|_, v| v.iter().any(|t| now.micros() - t.micros() < WINDOW_MICROS));
            while map.len() + 2 > MAX_KEYS {
                let stalest = map
                    .iter()
                    .min_by_key(|(_, v)| v.iter().map(|t| t.micros()).max().unwrap_or(0))
                    .map(|(k, _)| k.clone());
                match stalest {
                    Some(k) => map.remove(&k),
                    None => break,
                };
            }
        }
        for (key, _) in keys {
            map.entry(key).or_default().push(now);
        }
        Ok(())
    }

    /// Ends an attempt that succeeded: the account's count is cleared; the address keeps its
    /// other attempts (one good password must not reset a spray from that address).
    pub fn succeeded(&self, username: &str, addr: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&account_key(username));
            if let Some(v) = map.get_mut(&address_key(addr)) {
                v.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_the_account_until_the_window_passes() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_secs(1_000_000);
        for _ in 0..PER_ACCOUNT {
            assert!(l.begin("Alice", "1.2.3.4", t0).is_ok());
        }
        assert!(l.begin("ALICE", "5.6.7.8", t0).is_err(), "per account");
        assert!(l.begin("bob", "5.6.7.8", t0).is_ok());
        let later = t0.plus_micros(WINDOW_MICROS);
        assert!(l.begin("alice", "1.2.3.4", later).is_ok());
    }

    #[test]
    fn an_address_spraying_many_accounts_is_blocked() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_secs(1_000_000);
        for i in 0..PER_ADDRESS {
            assert!(l.begin(&format!("user{i}"), "9.9.9.9", t0).is_ok());
        }
        assert!(l.begin("someone-else", "9.9.9.9", t0).is_err());
    }

    #[test]
    fn a_success_clears_the_account_but_not_the_address() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_secs(1_000_000);
        for _ in 0..PER_ACCOUNT - 1 {
            l.begin("carol", "1.1.1.1", t0).unwrap();
        }
        l.begin("carol", "1.1.1.1", t0).unwrap();
        l.succeeded("carol", "1.1.1.1");
        assert!(l.begin("carol", "1.1.1.1", t0).is_ok());
    }
}
