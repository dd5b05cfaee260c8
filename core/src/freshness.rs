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
    /// At most one unknown-`kid` refetch per this many seconds (while it is spent, a request
    /// with an unknown `kid` waits for the next one if it may start within
    /// [`KID_WAIT_AHEAD`] seconds).
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
            min_refresh: 1,
            lease: 30,
        }
    }
}

/// The shared fetch state of one key source. It lives in NGINX shared memory, shared by all
/// workers: a plain `#[repr(C)]` `Copy` struct with no pointers.
///
/// **Leases.** Every fetch start hands out a lease id, unique for this source and never 0. Only
/// the holder of the current lease may end it ([`succeed`](Self::succeed), [`fail`](Self::fail),
/// [`abandon`](Self::abandon)); once a lease expired and another fetch started, the outdated
/// fetch's outcome changes nothing (its caller gets `false` and must not publish its body).
///
/// **Generations.** `generation` names the published key set; workers compare it to re-parse
/// keys and drop cached tokens. It comes from the caller: the glue passes values from one
/// zone-wide counter, so a generation is unique across all sources of a zone and never reused,
/// even when a source's state is reset.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceState {
    /// The generation of the published key set, as passed to [`succeed`](Self::succeed); 0:
    /// never published.
    pub generation: u64,
    /// When the current key set was fetched.
    pub fetched_at: i64,
    /// No new fetch before this: a fetch is in flight until then (a lease, not a lock: it
    /// expires), or, after an abandoned fetch, a one-second cool-down.
    pub lease_until: i64,
    /// No new fetch before this (backoff after failures).
    pub next_attempt: i64,
    /// When the last unknown-`kid` refetch started.
    pub last_forced: i64,
    /// The lease of the fetch in flight; 0: none (it ended, or none ever started).
    pub lease_id: u64,
    /// The last lease id handed out (lease ids count up from 1).
    pub last_lease: u64,
    /// Consecutive failed fetches.
    pub failures: u32,
    /// Consecutive fetches abandoned by their clients (reset by an outcome).
    pub abandons: u32,
    /// The lease of the last fetch that ended with an outcome (success or failure); 0: none.
    pub last_ended: u64,
    /// The lease of the last successful fetch; 0: none.
    pub last_ok: u64,
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

/// Longest cool-down after consecutive abandoned fetches.
const MAX_ABANDON_COOL_DOWN: u64 = 2;

/// A request with an unknown `kid` starts waiting only if the next unknown-`kid` refetch may
/// start within this many seconds.
pub const KID_WAIT_AHEAD: u64 = 1;

/// What a request does whose token names a `kid` that the published keys lack (after it made
/// sure no newer keys were published meanwhile).
///
/// Lease ids count up, so "a fetch that started after the request first saw its `kid`
/// unknown" is a lease id above [`SourceState::last_lease`] as it was then (`since`). Only such
/// a fetch proves the `kid` absent: one that started earlier may hold the keys from before a
/// rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KidPlan {
    /// Start an unknown-`kid` refetch now and wait for it.
    Refetch,
    /// Wait for the next refetch (the caller bounds the time, and the number of waiters).
    Wait,
    /// Refuse: a fetch that started after `since` delivered keys without the `kid` (remember
    /// it as absent from the published keys).
    Absent,
    /// Refuse at once: the `kid` is remembered absent from the published keys and no refetch
    /// may start now.
    Remembered,
    /// Refuse: the fetch that started after `since` failed.
    Failed,
    /// Refuse: no refetch may start within [`KID_WAIT_AHEAD`] seconds (`min_refresh` or a
    /// backoff after failures).
    NotSoon,
    /// Refuse at once: too many requests already wait for a refetch of this source.
    Full,
}

impl SourceState {
    /// Never fetched (as `Default`, usable in constants such as a shared zone's initial layout).
    pub const INITIAL: SourceState = SourceState {
        generation: 0,
        fetched_at: 0,
        lease_until: 0,
        next_attempt: 0,
        last_forced: 0,
        lease_id: 0,
        last_lease: 0,
        failures: 0,
        abandons: 0,
        last_ended: 0,
        last_ok: 0,
    };
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

    /// Whether no fetch may start because of a lease: one in flight, or the cool-down after
    /// an abandoned one (then no fetch runs; waiters re-plan when it ends).
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

    /// When the next unknown-`kid` refetch may start, a fetch in flight aside: after the
    /// last one's `min_refresh`, and after a backoff.
    pub fn next_force_at(&self, cfg: &CacheSettings) -> i64 {
        let budget = match self.last_forced {
            0 => 0,
            t => add(t, cfg.min_refresh),
        };
        budget.max(self.next_attempt)
    }

    /// What a request whose token names a `kid` missing from the published keys does.
    /// `since`: [`last_lease`](Self::last_lease) when the request first saw the `kid` unknown
    /// (`None`: it sees it now for the first time); `remembered`: the `kid` is remembered
    /// absent from the published keys; `room`: the request may start waiting (fewer than the
    /// bound wait already).
    ///
    /// A flood of unknown `kid`s thus costs the key service at most one refetch per
    /// `min_refresh`, and every waiting request is answered by the first fetch that started
    /// after it came: a rotated key is found within about `min_refresh`.
    pub fn unknown_kid(
        &self,
        cfg: &CacheSettings,
        now: i64,
        since: Option<u64>,
        remembered: bool,
        room: bool,
    ) -> KidPlan {
        if let Some(since) = since {
            if self.last_ended > since {
                return if self.last_ok > since {
                    KidPlan::Absent
                } else {
                    KidPlan::Failed
                };
            }
        }
        if self.may_force(cfg, now) {
            return KidPlan::Refetch;
        }
        if since.is_some() {
            return KidPlan::Wait;
        }
        if remembered {
            return KidPlan::Remembered;
        }
        if self.next_force_at(cfg) > add(now, KID_WAIT_AHEAD) {
            return KidPlan::NotSoon;
        }
        if !room {
            return KidPlan::Full;
        }
        KidPlan::Wait
    }

    /// A fetch starts: take the lease. Returns its id (never 0), which the fetch passes back
    /// when it ends. Any earlier lease is outdated from now on.
    pub fn start(&mut self, cfg: &CacheSettings, now: i64, forced: bool) -> u64 {
        self.last_lease = self.last_lease.wrapping_add(1).max(1);
        self.lease_id = self.last_lease;
        self.lease_until = add(now, cfg.lease.max(1));
        if forced {
            self.last_forced = now;
        }
        self.lease_id
    }

    /// Whether `lease` is the fetch in flight.
    pub fn holds(&self, lease: u64) -> bool {
        lease != 0 && lease == self.lease_id
    }

    /// The fetch of `lease` delivered a usable key set. `new_generation` is `Some` when the set
    /// differs from the published one (or none was published): the caller's next zone-wide
    /// generation, non-zero (`Some(0)` counts as `None`). `None` keeps the generation, so
    /// workers keep their parsed keys and cached tokens. Returns false, changing nothing, when
    /// `lease` is outdated; the caller must then not publish its body.
    pub fn succeed(&mut self, lease: u64, now: i64, new_generation: Option<u64>) -> bool {
        if !self.holds(lease) {
            return false;
        }
        if let Some(g) = new_generation.filter(|&g| g != 0) {
            self.generation = g;
        }
        self.fetched_at = now;
        self.last_ended = lease;
        self.last_ok = lease;
        self.lease_id = 0;
        self.lease_until = 0;
        self.failures = 0;
        self.abandons = 0;
        self.next_attempt = 0;
        true
    }

    /// The fetch of `lease` failed: keep the published keys, back off. Returns false, changing
    /// nothing, when `lease` is outdated.
    pub fn fail(&mut self, lease: u64, now: i64) -> bool {
        if !self.holds(lease) {
            return false;
        }
        self.last_ended = lease;
        self.lease_id = 0;
        self.lease_until = 0;
        self.failures = self.failures.saturating_add(1);
        self.abandons = 0;
        self.next_attempt = add(now, backoff(self.failures));
        true
    }

    /// The fetch of `lease` ended without an outcome (the client went away): free the lease,
    /// but keep a cool-down that backs off (1 s, then 2 s for further consecutive abandons,
    /// reset by any outcome: longer would hold legitimate clients that wait for keys), so
    /// clients that connect and abort cannot drive more fetches than the backoff allows. During it [`plan`](Self::plan) answers
    /// `WaitForOther` for unusable keys and `Verify` for stale ones. No failure is counted.
    /// Returns false, changing nothing, when `lease` is outdated.
    pub fn abandon(&mut self, lease: u64, now: i64) -> bool {
        if !self.holds(lease) {
            return false;
        }
        self.lease_id = 0;
        self.abandons = self.abandons.saturating_add(1);
        self.lease_until = self
            .lease_until
            .min(add(now, backoff(self.abandons).min(MAX_ABANDON_COOL_DOWN)));
        true
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
        let dead = s.start(&CFG, 1000, false);
        assert_ne!(dead, 0);
        assert_eq!(s.plan(&CFG, 1000), Plan::WaitForOther);
        assert_eq!(s.plan(&CFG, 1029), Plan::WaitForOther);
        // The lease expires: a worker that died mid-fetch does not block refreshes.
        assert_eq!(s.plan(&CFG, 1030), Plan::FetchAndWait);
        let lease = s.start(&CFG, 1030, false);
        assert!(s.succeed(lease, 1031, Some(7)));
        assert_eq!(s.generation, 7);
        assert_eq!(s.plan(&CFG, 1032), Plan::Verify);
    }

    #[test]
    fn lease_ids_are_fresh_and_non_zero() {
        let mut s = SourceState::default();
        assert!(!s.holds(0), "no lease: 0 is never current");
        let a = s.start(&CFG, 0, false);
        let b = s.start(&CFG, 100, false);
        assert!(a != 0 && b != 0 && a != b);
        assert!(s.holds(b) && !s.holds(a));
        // Even after the counter wraps, 0 is never handed out.
        s.last_lease = u64::MAX;
        assert_eq!(s.start(&CFG, 200, false), 1);
    }

    #[test]
    fn outdated_lease_changes_nothing() {
        let mut s = SourceState::default();
        let old = s.start(&CFG, 0, false);
        // Its lease expires and another fetch starts.
        let new = s.start(&CFG, 30, false);
        let before = s;
        assert!(!s.succeed(old, 31, Some(5)));
        assert!(!s.fail(old, 31));
        assert!(!s.abandon(old, 31));
        assert!(!s.succeed(0, 31, Some(5)));
        assert_eq!(s, before, "the outdated fetch touched nothing");
        assert_eq!(
            s.plan(&CFG, 31),
            Plan::WaitForOther,
            "the newer fetch keeps its lease"
        );
        assert!(s.holds(new));
        assert!(s.succeed(new, 32, Some(5)));
        assert_eq!((s.generation, s.fetched_at), (5, 32));
        // A lease ends once: repeating its outcome does nothing.
        assert!(!s.succeed(new, 33, Some(6)));
        assert!(!s.fail(new, 33));
        assert_eq!((s.generation, s.failures), (5, 0));
    }

    #[test]
    fn late_outcome_of_an_expired_lease_counts_if_no_other_fetch_started() {
        let mut s = SourceState::default();
        let lease = s.start(&CFG, 0, false);
        assert!(s.succeed(lease, 45, Some(1)), "expired, but not replaced");
        assert_eq!(s.plan(&CFG, 46), Plan::Verify);
    }

    #[test]
    fn stale_while_revalidate_then_fail_closed() {
        let mut s = SourceState::default();
        let l = s.start(&CFG, 0, false);
        assert!(s.succeed(l, 0, Some(1)));
        assert_eq!(s.plan(&CFG, 299), Plan::Verify);
        assert_eq!(s.plan(&CFG, 300), Plan::VerifyAndRefresh);
        let l = s.start(&CFG, 300, false);
        assert_eq!(s.plan(&CFG, 301), Plan::Verify, "one refresh at a time");
        assert!(s.fail(l, 301));
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
        let l = s.start(&CFG, 10, false);
        assert!(s.fail(l, 10));
        assert_eq!(s.plan(&CFG, 10), Plan::Unavailable);
        assert_eq!(s.plan(&CFG, 11), Plan::FetchAndWait);
        let l = s.start(&CFG, 11, false);
        assert!(s.fail(l, 11));
        assert_eq!(s.plan(&CFG, 12), Plan::Unavailable);
        assert_eq!(s.plan(&CFG, 13), Plan::FetchAndWait);
        let l = s.start(&CFG, 13, false);
        assert!(s.succeed(l, 13, Some(1)));
        assert_eq!((s.failures, s.next_attempt), (0, 0));
    }

    #[test]
    fn forced_refetch_is_rate_limited() {
        let mut s = SourceState::default();
        let l = s.start(&CFG, 0, false);
        assert!(s.succeed(l, 0, Some(1)));
        assert!(s.may_force(&CFG, 5));
        let l = s.start(&CFG, 5, true);
        assert!(!s.may_force(&CFG, 6), "in flight");
        assert!(s.succeed(l, 6, None));
        assert_eq!(s.generation, 1, "same keys: same generation");
        assert!(!s.may_force(&CFG, 14));
        assert!(s.may_force(&CFG, 15));
    }

    #[test]
    fn never_published_stays_unusable_without_a_generation() {
        let mut s = SourceState::default();
        let l = s.start(&CFG, 0, false);
        assert!(s.succeed(l, 0, Some(0)), "Some(0) counts as None");
        assert_eq!(s.generation, 0);
        assert_eq!(s.freshness(&CFG, 1), Freshness::Unusable);
    }

    #[test]
    fn abandon_frees_the_lease_after_a_one_second_cool_down() {
        let mut s = SourceState::default();
        let l = s.start(&CFG, 0, false);
        assert!(s.abandon(l, 0));
        assert_eq!(s.failures, 0, "not a failure");
        assert!(!s.holds(l));
        assert_eq!(s.plan(&CFG, 0), Plan::WaitForOther);
        assert_eq!(s.plan(&CFG, 1), Plan::FetchAndWait);
        // An abandon late in a lease that already expired leaves no cool-down.
        let l = s.start(&CFG, 1, false);
        assert!(s.abandon(l, 40));
        assert_eq!(s.plan(&CFG, 40), Plan::FetchAndWait);
        // With stale keys, requests keep verifying during the cool-down.
        let l = s.start(&CFG, 40, false);
        assert!(s.succeed(l, 40, Some(1)));
        let l = s.start(&CFG, 400, false);
        assert!(s.abandon(l, 400));
        assert_eq!(s.plan(&CFG, 400), Plan::Verify);
        assert_eq!(s.plan(&CFG, 401), Plan::VerifyAndRefresh);
    }

    #[test]
    fn consecutive_abandons_cool_down_longer() {
        let mut s = SourceState::default();
        let mut starts = vec![];
        for second in 1000..1010 {
            if s.plan(&CFG, second) == Plan::FetchAndWait {
                let l = s.start(&CFG, second, false);
                starts.push(second);
                assert!(s.abandon(l, second));
            }
        }
        assert_eq!(
            starts,
            vec![1000, 1001, 1003, 1005, 1007, 1009],
            "1 s, then 2 s apart"
        );
        // An outcome resets it.
        let l = s.start(&CFG, 1011, false);
        assert!(s.fail(l, 1011));
        assert_eq!(s.abandons, 0);
    }

    #[test]
    fn abusive_aborts_start_at_most_one_fetch_a_second() {
        let mut s = SourceState::default();
        for second in [1000, 1001, 1002] {
            let mut starts = 0;
            // Ten clients in this second each get to start a fetch if the plan says so, then
            // go away mid-fetch.
            for _ in 0..10 {
                if s.plan(&CFG, second) == Plan::FetchAndWait {
                    let l = s.start(&CFG, second, false);
                    starts += 1;
                    assert!(s.abandon(l, second));
                    assert!(!s.may_start(second) && !s.may_force(&CFG, second), "cool-down");
                }
            }
            assert!(starts <= 1, "second {second}: {starts} starts");
        }
    }

    #[test]
    fn default_min_refresh_is_one_second() {
        assert_eq!(CacheSettings::default().min_refresh, 1);
    }

    const FAST: CacheSettings = CacheSettings {
        valid: 300,
        stale: 3600,
        min_refresh: 1,
        lease: 30,
    };

    fn published(cfg: &CacheSettings, at: i64) -> SourceState {
        let mut s = SourceState::default();
        let l = s.start(cfg, at, false);
        assert!(s.succeed(l, at, Some(1)));
        s
    }

    #[test]
    fn unknown_kid_refetches_at_once_when_the_budget_allows() {
        let s = published(&FAST, 100);
        assert_eq!(s.unknown_kid(&FAST, 100, None, false, true), KidPlan::Refetch);
        // Remembered absent does not stop a refetch the budget allows (a key may have come in).
        assert_eq!(s.unknown_kid(&FAST, 100, None, true, true), KidPlan::Refetch);
    }

    #[test]
    fn unknown_kid_waits_for_the_next_refetch_then_is_answered_by_it() {
        let mut s = published(&FAST, 100);
        let first = s.start(&FAST, 100, true);
        assert!(s.succeed(first, 100, None));
        // The budget is spent until 101: a new kid waits (bounded by the caller).
        let since = s.last_lease;
        assert_eq!(s.unknown_kid(&FAST, 100, None, false, true), KidPlan::Wait);
        assert_eq!(s.unknown_kid(&FAST, 100, Some(since), false, true), KidPlan::Wait);
        // Past the bound on waiters: refused at once.
        assert_eq!(s.unknown_kid(&FAST, 100, None, false, false), KidPlan::Full);
        // Remembered absent: refused at once, no wait.
        assert_eq!(s.unknown_kid(&FAST, 100, None, true, true), KidPlan::Remembered);
        // At 101 one waiter starts the refetch; the others go on waiting for its outcome.
        assert_eq!(
            s.unknown_kid(&FAST, 101, Some(since), false, true),
            KidPlan::Refetch
        );
        let l = s.start(&FAST, 101, true);
        assert_eq!(s.unknown_kid(&FAST, 101, Some(since), false, true), KidPlan::Wait);
        assert!(s.succeed(l, 101, None));
        assert_eq!(
            s.unknown_kid(&FAST, 101, Some(since), false, true),
            KidPlan::Absent
        );
        // A request that first saw its kid after that fetch started is not answered by it.
        assert_eq!(s.unknown_kid(&FAST, 101, Some(l), false, true), KidPlan::Wait);
    }

    #[test]
    fn only_a_fetch_started_after_the_kid_came_proves_it_absent() {
        let mut s = published(&FAST, 100);
        // A background refresh is in flight when the token comes.
        let early = s.start(&FAST, 100, false);
        let since = s.last_lease;
        assert_eq!(s.unknown_kid(&FAST, 100, Some(since), false, true), KidPlan::Wait);
        assert!(s.succeed(early, 100, None));
        assert_eq!(
            s.unknown_kid(&FAST, 100, Some(since), false, true),
            KidPlan::Refetch,
            "its keys may predate a rotation: refetch"
        );
    }

    #[test]
    fn a_failed_refetch_answers_its_waiters() {
        let mut s = published(&FAST, 100);
        let since = s.last_lease;
        let l = s.start(&FAST, 100, true);
        assert!(s.fail(l, 100));
        assert_eq!(
            s.unknown_kid(&FAST, 100, Some(since), false, true),
            KidPlan::Failed
        );
        // The backoff after it is within the wait bound; longer backoffs are not waited for.
        assert_eq!(s.unknown_kid(&FAST, 100, None, false, true), KidPlan::Wait);
        s.next_attempt = 110;
        assert_eq!(s.unknown_kid(&FAST, 100, None, false, true), KidPlan::NotSoon);
    }

    #[test]
    fn a_long_min_refresh_is_not_waited_for() {
        let mut s = published(&CFG, 100);
        let l = s.start(&CFG, 100, true);
        assert!(s.succeed(l, 100, None));
        assert_eq!(s.unknown_kid(&CFG, 101, None, false, true), KidPlan::NotSoon);
        assert_eq!(s.unknown_kid(&CFG, 109, None, false, true), KidPlan::Wait);
        assert_eq!(s.unknown_kid(&CFG, 110, None, false, true), KidPlan::Refetch);
    }

    #[test]
    fn a_flood_of_unknown_kids_refetches_at_most_once_per_min_refresh() {
        let mut s = published(&FAST, 1000);
        let mut refetches = 0;
        let mut waiting: Vec<u64> = vec![];
        // 100 new kids every second for 10 s; every refetch ends at once, without them.
        for second in 1000..1010 {
            for _ in 0..100 {
                let since = s.last_lease;
                match s.unknown_kid(&FAST, second, None, false, waiting.len() < 64) {
                    KidPlan::Refetch => {
                        let l = s.start(&FAST, second, true);
                        refetches += 1;
                        assert!(s.succeed(l, second, None));
                    }
                    KidPlan::Wait => waiting.push(since),
                    KidPlan::Full => {}
                    other => panic!("{other:?}"),
                }
                // Waiters answered by a refetch leave.
                waiting.retain(|&w| s.unknown_kid(&FAST, second, Some(w), false, true) == KidPlan::Wait);
            }
        }
        assert_eq!(refetches, 10);
    }
}
