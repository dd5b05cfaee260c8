//! When fetched keys are fresh, may be used stale, or must be fetched; when a fetch may start.
//!
//! The state lives in NGINX shared memory (one per key source, shared by all workers); this
//! module only decides, so every rule is unit-tested here. Times are Unix seconds.

/// `jwt_peer_auth_key_cache` and the fetch limits of one key source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long fetched keys are fresh.
    pub valid: u64,
    /// How long past `valid` they may still be used while no fetch succeeds.
    pub stale: u64,
    /// At most one unknown-`kid` refetch per this many seconds.
    pub min_refresh: u64,
    /// How long an in-flight fetch blocks others; bounds the damage of a worker that dies
    /// mid-fetch.
    pub lease: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            valid: 300,
            stale: 86_400,
            min_refresh: 10,
            lease: 30,
        }
    }
}

/// The shared fetch state of one key source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceState {
    /// Bumped on every publish of a new key set; 0: never published.
    pub generation: u64,
    /// When the current key set was fetched.
    pub fetched_at: i64,
    /// A fetch is in flight until then (a lease, not a lock: it expires).
    pub lease_until: i64,
    /// No new fetch before this (backoff after failures).
    pub next_attempt: i64,
    /// Consecutive failed fetches.
    pub failures: u32,
    /// When the last unknown-`kid` refetch started.
    pub last_forced: i64,
}

/// How usable the published keys are now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Past `valid` but within `stale`: usable while a refresh runs.
    Stale,
    /// None published, or past `valid + stale`: unusable.
    Unusable,
}

/// What the request at hand should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Verify with the published keys.
    Verify,
    /// Verify with the published keys and start a background refresh.
    VerifyAndRefresh,
    /// No usable keys: start a fetch and wait for it.
    FetchAndWait,
    /// No usable keys, another request's fetch is in flight: wait for it.
    WaitForOther,
    /// No usable keys and no fetch may start now (backoff): fail closed.
    Unavailable,
}

fn add(t: i64, secs: u64) -> i64 {
    t.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Delay before the next attempt after `failures` consecutive failures: 1 s, 2 s, 4 s, ...
/// capped at 60 s.
pub fn backoff(failures: u32) -> u64 {
    (1u64 << failures.saturating_sub(1).min(6)).min(60)
}

impl SourceState {
    pub fn freshness(&self, cfg: &CacheSettings, now: i64) -> Freshness {
        if self.generation == 0 {
            Freshness::Unusable
        } else if now < add(self.fetched_at, cfg.valid) {
            Freshness::Fresh
        } else if now < add(add(self.fetched_at, cfg.valid), cfg.stale) {
            Freshness::Stale
        } else {
            Freshness::Unusable
        }
    }

    pub fn fetch_in_flight(&self, now: i64) -> bool {
        now < self.lease_until
    }

    /// Whether a new fetch may start now.
    pub fn may_start(&self, now: i64) -> bool {
        !self.fetch_in_flight(now) && now >= self.next_attempt
    }

    pub fn plan(&self, cfg: &CacheSettings, now: i64) -> Plan {
        match self.freshness(cfg, now) {
            Freshness::Fresh => Plan::Verify,
            Freshness::Stale if self.may_start(now) => Plan::VerifyAndRefresh,
            Freshness::Stale => Plan::Verify,
            Freshness::Unusable if self.may_start(now) => Plan::FetchAndWait,
            Freshness::Unusable if self.fetch_in_flight(now) => Plan::WaitForOther,
            Freshness::Unusable => Plan::Unavailable,
        }
    }

    /// Whether a token with an unknown `kid` may trigger an immediate refetch.
    pub fn may_force(&self, cfg: &CacheSettings, now: i64) -> bool {
        self.may_start(now) && (self.last_forced == 0 || now >= add(self.last_forced, cfg.min_refresh))
    }

    /// A fetch starts: take the lease.
    pub fn start(&mut self, cfg: &CacheSettings, now: i64, forced: bool) {
        self.lease_until = add(now, cfg.lease.max(1));
        if forced {
            self.last_forced = now;
        }
    }

    /// A fetch delivered a usable key set; `changed` when it differs from the published one
    /// (only then does the generation move, and workers re-parse and drop cached tokens).
    pub fn succeed(&mut self, now: i64, changed: bool) {
        if changed || self.generation == 0 {
            self.generation += 1;
        }
        self.fetched_at = now;
        self.lease_until = 0;
        self.failures = 0;
        self.next_attempt = 0;
    }

    /// A fetch failed: keep the published keys, back off.
    pub fn fail(&mut self, now: i64) {
        self.lease_until = 0;
        self.failures = self.failures.saturating_add(1);
        self.next_attempt = add(now, backoff(self.failures));
    }

    /// A fetch ended without an outcome (the request went away): free the lease only.
    pub fn abandon(&mut self) {
        self.lease_until = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: CacheSettings = CacheSettings {
        valid: 300,
        stale: 3600,
        min_refresh: 10,
        lease: 30,
    };

    #[test]
    fn backoff_doubles_and_caps() {
        let seq: Vec<u64> = (1..=9).map(backoff).collect();
        assert_eq!(seq, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(0), 1);
        assert!(backoff(100) <= 60);
    }

    #[test]
    fn cold_cache_fetches_once_then_others_wait() {
        let mut s = SourceState::default();
        assert_eq!(s.plan(&CFG, 1000), Plan::FetchAndWait);
        s.start(&CFG, 1000, false);
        assert_eq!(s.plan(&CFG, 1000), Plan::WaitForOther);
        assert_eq!(s.plan(&CFG, 1029), Plan::WaitForOther);
        // The lease expires: a worker that died mid-fetch does not block refreshes.
        assert_eq!(s.plan(&CFG, 1030), Plan::FetchAndWait);
        s.succeed(1001, true);
        assert_eq!(s.generation, 1);
        assert_eq!(s.plan(&CFG, 1002), Plan::Verify);
    }

    #[test]
    fn stale_while_revalidate_then_fail_closed() {
        let mut s = SourceState::default();
        s.start(&CFG, 0, false);
        s.succeed(0, true);
        assert_eq!(s.plan(&CFG, 299), Plan::Verify);
        assert_eq!(s.plan(&CFG, 300), Plan::VerifyAndRefresh);
        s.start(&CFG, 300, false);
        assert_eq!(s.plan(&CFG, 301), Plan::Verify, "one refresh at a time");
        s.fail(301);
        assert_eq!(s.failures, 1);
        assert_eq!(s.plan(&CFG, 301), Plan::Verify, "backoff: keep using stale keys");
        assert_eq!(s.plan(&CFG, 302), Plan::VerifyAndRefresh);
        assert_eq!(s.freshness(&CFG, 3899), Freshness::Stale);
        assert_eq!(s.freshness(&CFG, 3900), Freshness::Unusable);
        assert_eq!(s.plan(&CFG, 3900), Plan::FetchAndWait);
    }

    #[test]
    fn failures_back_off_without_keys() {
        let mut s = SourceState::default();
        s.start(&CFG, 10, false);
        s.fail(10);
        assert_eq!(s.plan(&CFG, 10), Plan::Unavailable);
        assert_eq!(s.plan(&CFG, 11), Plan::FetchAndWait);
        s.start(&CFG, 11, false);
        s.fail(11);
        assert_eq!(s.plan(&CFG, 12), Plan::Unavailable);
        assert_eq!(s.plan(&CFG, 13), Plan::FetchAndWait);
        s.start(&CFG, 13, false);
        s.succeed(13, true);
        assert_eq!((s.failures, s.next_attempt), (0, 0));
    }

    #[test]
    fn forced_refetch_is_rate_limited() {
        let mut s = SourceState::default();
        s.start(&CFG, 0, false);
        s.succeed(0, true);
        assert!(s.may_force(&CFG, 5));
        s.start(&CFG, 5, true);
        assert!(!s.may_force(&CFG, 6), "in flight");
        s.succeed(6, false);
        assert_eq!(s.generation, 1, "same keys: same generation");
        assert!(!s.may_force(&CFG, 14));
        assert!(s.may_force(&CFG, 15));
    }

    #[test]
    fn abandon_frees_the_lease_only() {
        let mut s = SourceState::default();
        s.start(&CFG, 0, false);
        s.abandon();
        assert_eq!(s.plan(&CFG, 0), Plan::FetchAndWait);
        assert_eq!(s.failures, 0);
    }
}
