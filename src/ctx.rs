//! The per-request state of the module, and the one way to reach it.
//!
//! The state lives in a pool cleanup of the main request's pool, as NGINX's realip module keeps
//! its context: an internal redirect (`error_page`, `try_files`, `X-Accel-Redirect`, named
//! locations) empties the request's module contexts, but not its pool, so the decision and
//! the verified identity survive it. The cleanup drops the state with the request.
//!
//! Only shared references are ever handed out; fields change through `Cell`/`RefCell`, so a
//! variable read while the access handler works (a claim rule's value may use `$jwt_claim_*`)
//! never aliases a `&mut`.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::rc::Rc;

use jwt_peer_auth_core::{Reason, Verified};
use ngx::ffi::{ngx_http_request_t, ngx_table_elt_t};
use ngx::http::HttpModule;

use crate::config::LocConf;
use crate::glue::{add_cleanup, find_cleanup};
use crate::JwtPeerAuthModule;

/// What the module decided for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Refused(Reason),
    /// Refused by `jwt_peer_auth_require ... error=403`.
    Forbidden,
    /// A refusal for this reason that the location does not enforce (`optional` without a
    /// token, `shadow`): the request goes on, without identity.
    Passed(Reason),
}

/// The decision for a request: what, for which location's checks, and the identity admitted.
/// Set only through [`RequestCtx::decide`] and [`RequestCtx::forget`]; read by the variables
/// and by re-entry after an internal redirect.
#[derive(Clone)]
pub struct Decision {
    pub outcome: Outcome,
    /// The location whose checks decided.
    pub location: *const LocConf,
    /// The admitted token (`Allowed` only): never set for a refused request.
    pub identity: Option<Identity>,
}

/// A verified token as the request holds it.
#[derive(Clone)]
pub struct Identity {
    pub verified: Rc<Verified>,
    /// The key source that verified it, and the token (request memory): a location reached
    /// by an internal redirect trusts the decision only for its own key sources and the same
    /// token.
    pub by: crate::token_cache::Source,
    pub token: (*const u8, usize),
}

/// Per-request state of the module (main requests only: the access phase skips sub-requests).
pub struct RequestCtx {
    /// Its waits for keys (see keys.rs).
    pub waits: crate::keys::Waits,
    /// The decision, for the variables (`$jwt_peer_auth_status`, the identity) and re-entry
    /// after an internal redirect.
    decision: RefCell<Option<Decision>>,
    /// A refused request is checked again (at its error page): counted once, logged as such.
    pub again: Cell<bool>,
    /// The token needs a signature verification, left for the preaccess handler after the
    /// limiters (`$jwt_peer_auth_unverified_addr` is the client address meanwhile).
    pub pending: Cell<bool>,
    /// The access phase checked a preaccess location that the preaccess phase left undecided
    /// (another module ended that phase first): logged once.
    pub late_check: Cell<bool>,
    /// The `WWW-Authenticate` header this module added to the response, and its value's
    /// address: a refusal checked again at an error page adds no second challenge while this
    /// one is still on the response.
    pub challenge: Cell<(*const ngx_table_elt_t, *const u8)>,
    /// The client certificate's thumbprint, once computed for `jwt_peer_auth_cert_binding`.
    pub thumbprint: RefCell<Option<String>>,
    /// What variable values were withheld (control characters) and logged: each is logged
    /// once per request.
    pub withheld: RefCell<Vec<String>>,
    /// DPoP: the scheme of the credentials and the accepted proof's key.
    pub dpop: crate::dpop::check::Cell,
}

impl Default for RequestCtx {
    fn default() -> Self {
        RequestCtx {
            waits: Default::default(),
            decision: RefCell::default(),
            again: Cell::default(),
            pending: Cell::default(),
            late_check: Cell::default(),
            challenge: Cell::new((std::ptr::null(), std::ptr::null())),
            thumbprint: RefCell::default(),
            withheld: RefCell::default(),
            dpop: Default::default(),
        }
    }
}

impl RequestCtx {
    /// Records the decision of `location`'s checks: the one place it is set.
    pub fn decide(&self, location: &LocConf, outcome: Outcome, identity: Option<Identity>) {
        *self.decision.borrow_mut() = Some(Decision {
            outcome,
            location,
            identity,
        });
    }

    /// Forgets a decision that does not carry over to the location now checking the request:
    /// nothing of it shows meanwhile (its certificate thumbprint included).
    pub fn forget(&self) {
        self.decision.borrow_mut().take();
        self.thumbprint.borrow_mut().take();
    }

    /// The outcome decided, if any.
    pub fn outcome(&self) -> Option<Outcome> {
        self.decision.borrow().as_ref().map(|d| d.outcome)
    }

    /// Whether `location`'s checks made the decision.
    pub fn decided_for(&self, location: &LocConf) -> bool {
        self.decision
            .borrow()
            .as_ref()
            .is_some_and(|d| std::ptr::eq(d.location, location))
    }

    /// The admitted token, if the decision admitted one.
    pub fn identity(&self) -> Option<Identity> {
        self.decision.borrow().as_ref()?.identity.clone()
    }

    /// The verified token, if the decision admitted one.
    pub fn verified(&self) -> Option<Rc<Verified>> {
        Some(
            self.decision
                .borrow()
                .as_ref()?
                .identity
                .as_ref()?
                .verified
                .clone(),
        )
    }
}

extern "C" fn cleanup(data: *mut c_void) {
    // SAFETY: `data` is the RequestCtx written by `get_or_create`, dropped exactly once here,
    // when the request pool is destroyed.
    let _ = std::panic::catch_unwind(|| unsafe { std::ptr::drop_in_place(data.cast::<RequestCtx>()) });
}

fn slot(r: &ngx_http_request_t) -> *mut *mut c_void {
    // SAFETY: every request has a `ctx` array with a slot per HTTP module.
    unsafe { r.ctx.add(JwtPeerAuthModule::module().ctx_index) }
}

/// The request's state, if the access handler created one (also after internal redirects).
/// For a sub-request, its main request's state. The state lives in the request pool, not in
/// the request structure, so the reference is not tied to the borrow of `r`: callers keep it
/// only while handling the request (it is shared-only, so it never aliases a `&mut`).
pub fn get<'c>(r: &ngx_http_request_t) -> Option<&'c RequestCtx> {
    // SAFETY: `main` is the main request, valid while any of its sub-requests is.
    let main = unsafe { r.main.as_ref() }?;
    // SAFETY: the slot is NULL or a RequestCtx set below.
    let mut p = unsafe { *slot(main) }.cast::<RequestCtx>();
    if p.is_null() {
        p = find_cleanup(main.pool, cleanup).cast();
        if !p.is_null() {
            // Re-attach after an internal redirect emptied the module contexts.
            // SAFETY: the main request's ctx slot.
            unsafe { *slot(main) = p.cast() };
        }
    }
    // SAFETY: NULL or the RequestCtx in the main request's pool, which outlives `r`.
    unsafe { p.as_ref() }
}

/// The request's state, created on first use.
pub fn get_or_create<'c>(r: &ngx_http_request_t) -> Option<&'c RequestCtx> {
    if let Some(c) = get(r) {
        return Some(c);
    }
    let p = add_cleanup(r.pool, RequestCtx::default(), cleanup);
    if p.is_null() {
        return None;
    }
    // SAFETY: the request's own ctx slot (the access handler runs for main requests only).
    unsafe { *slot(r) = p.cast() };
    // SAFETY: just written, lives in the request pool.
    unsafe { p.as_ref() }
}
