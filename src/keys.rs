//! Worker-local parsed key sets of fetched key sources. A worker parses a key set once per
//! generation published in the zone, never per request.

use std::cell::RefCell;
use std::rc::Rc;

use jwt_peer_auth_core::KeySet;

use crate::zone::{Zone, MAX_SOURCES};

/// A parsed key set and the generation it was parsed from.
type Parsed = Option<(u64, Rc<KeySet>)>;

thread_local! {
    static LOCAL: RefCell<[Parsed; MAX_SOURCES]> = RefCell::new(std::array::from_fn(|_| None));
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
    if changed {
        crate::token_cache::clear();
    }
}

/// The key set of `slot` (and its generation), parsed from the zone if this worker has an
/// older one than `generation`.
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
