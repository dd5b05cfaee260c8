//! Worker-local parsed key sets of fetched key sources. A worker parses a key set once per
//! generation published in the zone, never per request.

use std::cell::RefCell;
use std::rc::Rc;

use jwt_peer_auth_core::KeySet;

use jwt_peer_auth_core::freshness::{CacheSettings, Plan, SourceState};

use crate::zone::{Zone, MAX_SOURCES};

/// A parsed key set and the generation it was parsed from.
type Parsed = Option<(u64, Rc<KeySet>)>;

thread_local! {
    static LOCAL: RefCell<[Parsed; MAX_SOURCES]> = RefCell::new(std::array::from_fn(|_| None));
    /// The last fresh state read from the zone per slot, and the second it was read.
    static STATES: RefCell<[Option<(i64, SourceState)>; MAX_SOURCES]> = const { RefCell::new([None; MAX_SOURCES]) };
    /// Slots of key sources by name.
    static SLOTS: RefCell<Vec<(String, usize)>> = const { RefCell::new(Vec::new()) };
}

/// The zone slot of key source `name` (looked up in the zone once per worker).
pub fn slot(zone: &Zone, name: &str) -> Option<usize> {
    if let Some(i) = SLOTS.with(|s| s.borrow().iter().find(|(n, _)| n == name).map(|(_, i)| *i)) {
        return Some(i);
    }
    let i = zone.slot(name.as_bytes())?;
    SLOTS.with(|s| s.borrow_mut().push((name.to_owned(), i)));
    Some(i)
}

/// Drops this worker's copy of the state of `slot`.
pub fn forget_state(slot: usize) {
    STATES.with(|s| s.borrow_mut()[slot] = None);
}

/// The shared state of `slot`. While the keys are fresh, a worker re-reads it from the zone at
/// most once a second (cached time), so the common case takes no lock; every other case (stale,
/// missing keys, fetches) reads the zone.
pub fn state(zone: &Zone, slot: usize, cfg: &CacheSettings, now: i64) -> SourceState {
    let cached = STATES.with(|s| s.borrow()[slot]);
    if let Some((at, st)) = cached {
        if at == now && st.plan(cfg, now) == Plan::Verify {
            return st;
        }
    }
    let st = zone.state(slot);
    STATES.with(|s| s.borrow_mut()[slot] = Some((now, st)));
    st
}

/// Remembers a key set this worker just parsed or published. A new generation drops the
/// worker's verified-token cache, so a removed key stops being accepted at once.
pub fn install(slot: usize, generation: u64, keys: Rc<KeySet>) {
    let changed = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let changed = l[slot].as_ref().is_some_and(|(g, _)| *g != generation);
        l[slot] = Some((generation, keys));
        changed
    });
    STATES.with(|s| s.borrow_mut()[slot] = None);
    if changed {
        crate::token_cache::clear();
    }
}

/// The key set of `slot` (and its generation), parsed from the zone if this worker only has
/// one older than `generation`.
pub fn get(zone: &Zone, slot: usize, generation: u64) -> Option<(u64, Rc<KeySet>)> {
    let local = LOCAL.with(|l| {
        l.borrow()[slot]
            .as_ref()
            .filter(|(g, _)| *g == generation)
            .cloned()
    });
    if local.is_some() {
        return local;
    }
    let (g, body) = zone.body(slot)?;
    let keys = Rc::new(KeySet::parse(&body).ok()?);
    install(slot, g, keys.clone());
    Some((g, keys))
}
