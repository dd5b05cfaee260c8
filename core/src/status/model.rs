//! The status page's model: what the glue reads from the shared zone at one moment, and the
//! plain-words state of each key source that every view shows.

use crate::freshness::{CacheSettings, Freshness, SourceState};
use crate::Reason;

/// Request counters of all workers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub verified: u64,
    /// Refusals by reason, in [`Reason::ALL`] order.
    pub rejected: [u64; Reason::COUNT],
    /// Refused by `jwt_peer_auth_require ... error=403`.
    pub forbidden: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Refusals answered from the refusal cache (counted in `rejected` too).
    pub refusal_cache_hits: u64,
    /// Refusals (counted in `rejected` or `forbidden` too) that `shadow` or `optional` did not
    /// enforce: the request went on.
    pub unenforced: u64,
}

/// One fetched key source, as read from the shared zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    /// Claimed by the newest configuration.
    pub live: bool,
    pub fetch: SourceState,
    /// The key cache settings the answering configuration uses for this source (the strictest
    /// of its locations); `None` for a source it does not have (retired by a reload):
    /// judged with the defaults.
    pub cache: Option<CacheSettings>,
    pub fetches_ok: u64,
    pub fetches_failed: u64,
    /// Requests with an unknown `kid`: waited for a refetch; refused at once because a
    /// refetch proved it absent; refused at once because too many were waiting.
    pub kid_waits: u64,
    pub kid_absent: u64,
    pub kid_full: u64,
    /// `kid`s remembered absent from the published keys.
    pub absent_kids: u64,
    /// Key ids of the published set (printable, as the glue stored them).
    pub kids: Vec<String>,
    /// What the last fetch gave ("200", "status 502", ...); empty: no fetch ended yet.
    pub last_result: String,
    /// When (Unix seconds; 0: never).
    pub last_result_at: i64,
    /// For a `jwt_peer_auth_discovery` source: what its documents said.
    pub discovery: Option<DiscoveryView>,
}

/// A discovery source's documents, as read from the shared zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryView {
    /// The `jwks_uri` of the last accepted document (empty: none yet).
    pub jwks_uri: String,
    /// Why the last refused document was refused (empty: none was).
    pub last_error: String,
    /// When (Unix seconds; 0: never).
    pub last_error_at: i64,
}

/// Everything the status page shows, read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Unix seconds when it was read.
    pub now: i64,
    pub counts: Counts,
    pub sources: Vec<Source>,
    /// The runtime revocation list, where `jwt_peer_auth_revocation` is configured.
    pub revocation: Option<Revocations>,
    /// The DPoP replay cache, where a location uses DPoP.
    pub dpop: Option<ReplayCache>,
}

/// The DPoP replay cache as the status page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayCache {
    /// Slots (one remembered proof each, 24 bytes).
    pub capacity: u64,
    /// Slots holding an entry, live or expired (an expired one is reused in place).
    pub used: u64,
    /// Proofs remembered; refused as replays; refused because the cache was full.
    pub stored: u64,
    pub replays: u64,
    pub full: u64,
    /// Episodes of refusals for a full cache (one `[error]` each).
    pub full_episodes: u64,
}

/// The revocation list as the status page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocations {
    /// The zone's name.
    pub zone: String,
    /// The entries that have not expired, sorted by name and value.
    pub entries: Vec<crate::revocation::Entry>,
    /// The revocation feed the list follows, if any.
    pub feed: Option<FeedState>,
}

/// A revocation feed's state (`jwt_peer_auth_revocation_feed`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedState {
    pub uri: String,
    /// `fresh`, `waiting` (no answer yet) or `stale` (refusing).
    pub state: String,
    /// Seconds since the last successful fetch.
    pub age: Option<u64>,
    pub entries: u64,
    /// Answers: `200` applied, `304`, failures.
    pub fetched: u64,
    pub not_modified: u64,
    pub failures: u64,
    pub error: Option<String>,
}

/// A key source's state in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Keys within their `valid` time, last fetch good.
    Fresh,
    /// Keys past their `valid` time (still used, within `stale`); the last fetch did not fail.
    Stale,
    /// Keys usable, but the last fetch failed.
    Failing,
    /// No usable keys: none published yet, or past the stale limit.
    None,
}

impl Health {
    pub fn word(self) -> &'static str {
        match self {
            Health::Fresh => "fresh",
            Health::Stale => "stale",
            Health::Failing => "failing",
            Health::None => "none",
        }
    }
}

/// How much a state needs attention, for the top of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Severity {
    /// Nothing to say.
    Fine,
    /// Worth knowing, nothing wrong (no keys yet because none was needed yet).
    Note,
    Warn,
    Bad,
}

impl Severity {
    pub(super) fn class(self) -> &'static str {
        match self {
            Severity::Fine => "ok",
            Severity::Note => "info",
            Severity::Warn => "warn",
            Severity::Bad => "bad",
        }
    }
}

impl Source {
    pub fn published(&self) -> bool {
        self.fetch.generation > 0
    }

    /// Seconds since the published set was fetched.
    pub fn age(&self, now: i64) -> Option<i64> {
        self.published().then(|| now - self.fetch.fetched_at)
    }

    pub fn last_result_age(&self, now: i64) -> Option<i64> {
        (self.last_result_at > 0).then(|| now - self.last_result_at)
    }

    /// Seconds until a fetch may start after failures (0: now).
    pub fn next_attempt_in(&self, now: i64) -> i64 {
        (self.fetch.next_attempt - now).max(0)
    }

    pub(super) fn settings(&self) -> CacheSettings {
        self.cache.unwrap_or_default()
    }

    pub fn health(&self, now: i64) -> Health {
        match self.fetch.freshness(&self.settings(), now) {
            Freshness::Unusable => Health::None,
            _ if self.fetch.failures > 0 => Health::Failing,
            Freshness::Stale => Health::Stale,
            Freshness::Fresh => Health::Fresh,
        }
    }

    /// Seconds past the `valid` time (for stale keys).
    pub(super) fn stale_for(&self, now: i64) -> i64 {
        let valid = i64::try_from(self.settings().valid).unwrap_or(i64::MAX);
        self.age(now).map_or(0, |a| a.saturating_sub(valid).max(0))
    }

    /// Whether no fetch of this source ever ended (and none failed): nothing is wrong yet.
    pub(super) fn never_fetched(&self) -> bool {
        self.fetches_ok == 0 && self.fetches_failed == 0 && self.fetch.failures == 0
    }

    pub(super) fn severity(&self, now: i64) -> Severity {
        match self.health(now) {
            Health::Fresh => Severity::Fine,
            Health::Stale => Severity::Warn,
            Health::Failing => Severity::Bad,
            Health::None if self.never_fetched() => Severity::Note,
            // Unused for longer than the stale limit: the next request fetches (and waits).
            Health::None if self.fetch.failures == 0 => Severity::Warn,
            Health::None => Severity::Bad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::fixtures::*;

    #[test]
    fn health_by_age_and_failures() {
        assert_eq!(fetched("/k", 10).health(NOW), Health::Fresh);
        assert_eq!(fetched("/k", 301).health(NOW), Health::Stale);
        assert_eq!(
            failed(fetched("/k", 10), 1, "status 502").health(NOW),
            Health::Failing
        );
        assert_eq!(
            failed(fetched("/k", 8000), 2, "status 502").health(NOW),
            Health::Failing
        );
        assert_eq!(fetched("/k", 300 + 86_400).health(NOW), Health::None);
        assert_eq!(source("/k").health(NOW), Health::None);
        assert_eq!(failed(source("/k"), 1, "status 404").health(NOW), Health::None);
        // Judged by the configured settings.
        let mut short = fetched("/k", 10);
        short.cache = Some(CacheSettings {
            valid: 5,
            ..CacheSettings::default()
        });
        assert_eq!(short.health(NOW), Health::Stale);
    }
}
