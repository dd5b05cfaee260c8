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

/// Remembers a key set this worker just parsed and published.
pub fn install(slot: usize, generation: u64, keys: Rc<KeySet>) {
    LOCAL.with(|l| l.borrow_mut()[slot] = Some((generation, keys)));
}

/// The key set of `slot` at `generation`, parsed from the zone if this worker has an older one.
pub fn get(zone: &Zone, slot: usize, generation: u64) -> Option<Rc<KeySet>> {
    if let Some(keys) = LOCAL.with(|l| {
        l.borrow()[slot]
            .as_ref()
            .filter(|(g, _)| *g == generation)
            .map(|(_, k)| k.clone())
    }) {
        return Some(keys);
    }
    let (g, body) = zone.body(slot)?;
    let keys = Rc::new(KeySet::parse(&body).ok()?);
    install(slot, g, keys.clone());
    Some(keys)
}
