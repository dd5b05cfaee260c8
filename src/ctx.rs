//! The per-request state of the module: fetch progress, the verified token and the outcome.

use jwt_peer_auth_core::{Reason, Verified};
use ngx::http::{HttpModule, Request};

use crate::zone::Zone;
use crate::JwtPeerAuthModule;

/// Per-request state of the module, in the request pool (dropped with it).
pub struct RequestCtx {
    pub zone: Option<Zone>,
    pub slot: usize,
    pub uri: &'static str,
    /// This request started the fetch in flight and holds its lease.
    pub lease: bool,
    /// A waited sub-request is in flight.
    pub waiting: bool,
    /// A key request was started and its outcome is not recorded yet.
    pub pending: bool,
    /// An unknown-kid refetch was already done for this request.
    pub forced: bool,
    /// The zone was already re-read for newer keys after an unknown kid.
    pub rechecked: bool,
    /// Timer polls so far while waiting for another request's fetch.
    pub polls: u32,
    /// The key request's response was larger than the limit and was dropped.
    pub too_big: bool,
    /// The verified token, for the variables.
    pub verified: Option<std::rc::Rc<Verified>>,
    /// The outcome, for `$jwt_peer_auth_status`: `None` until decided.
    pub status: Option<Result<(), Reason>>,
}

impl RequestCtx {
    pub fn new() -> RequestCtx {
        RequestCtx {
            zone: None,
            slot: 0,
            uri: "",
            lease: false,
            waiting: false,
            pending: false,
            forced: false,
            rechecked: false,
            polls: 0,
            too_big: false,
            verified: None,
            status: None,
        }
    }
}

impl Drop for RequestCtx {
    /// A request that goes away with its fetch unfinished frees the lease at once.
    fn drop(&mut self) {
        if self.lease {
            if let Some(z) = &self.zone {
                z.abandon(self.slot);
            }
        }
    }
}

/// The request's context, created on first use (in the request pool, dropped with it).
pub fn get_or_create(request: &mut Request) -> Option<*mut RequestCtx> {
    let module = JwtPeerAuthModule::module();
    if let Some(c) = request.get_module_ctx::<RequestCtx>(module) {
        return Some(std::ptr::from_ref(c).cast_mut());
    }
    let p = request.pool().allocate(RequestCtx::new());
    if p.is_null() {
        return None;
    }
    request.set_module_ctx(p.cast(), module);
    Some(p)
}

/// The main request's context, if the access handler ran (variables may be read from
/// sub-requests).
pub fn of_main(r: &ngx::ffi::ngx_http_request_t) -> Option<&RequestCtx> {
    // SAFETY: `main` is the main request, valid while any of its sub-requests is; its `ctx`
    // slot for this module is NULL or a RequestCtx set by get_or_create.
    unsafe {
        let main = r.main.as_ref()?;
        (*main.ctx.add(JwtPeerAuthModule::module().ctx_index))
            .cast::<RequestCtx>()
            .as_ref()
    }
}
