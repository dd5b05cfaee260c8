//! The status page: its model and its views, all plain Rust, unit-tested.
//!
//! The glue (`src/status.rs`) reads the shared zone once into a [`Snapshot`] ([`model`]),
//! picks the view ([`negotiate`]) and sends what the view writes: [`json`], [`prometheus`]
//! or [`html`]. The views only format the snapshot; each escapes every text that came from a
//! key service, a token or the configuration for its own format, and writes through [`Page`],
//! so running out of memory fails the answer (the glue sends 500) instead of aborting the
//! worker. A new number on the page is a field of the model and a line in each view.

use core::fmt;

pub mod html;
pub mod json;
pub mod model;
pub mod negotiate;
pub mod prometheus;

pub use html::{render_html, Dur, Esc, HTML_CSP, HTML_REFRESH_SECONDS};
pub use json::render_json;
pub use model::{Counts, DiscoveryView, FeedState, Health, ReplayCache, Revocations, Snapshot, Source};
pub use negotiate::{choose_format, prefers_html, Format};
pub use prometheus::render_prometheus;

/// A view being written. Every write reserves its room first (`try_reserve`): running out
/// of memory fails the view instead of aborting the worker.
pub(crate) struct Page {
    out: String,
}

impl Page {
    /// An empty page with room for `bytes`, or `None` when that cannot be reserved.
    fn with_room(bytes: usize) -> Option<Page> {
        let mut out = String::new();
        out.try_reserve(bytes).ok()?;
        Some(Page { out })
    }

    /// What was written.
    fn into_string(self) -> String {
        self.out
    }
}

impl fmt::Write for Page {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.try_reserve(s.len()).map_err(|_| fmt::Error)?;
        self.out.push_str(s);
        Ok(())
    }
}

/// Writes a view into a page with room for `bytes` to start with; `None` when memory ran out.
fn render(bytes: usize, view: impl FnOnce(&mut Page) -> fmt::Result) -> Option<String> {
    let mut page = Page::with_room(bytes)?;
    view(&mut page).ok()?;
    Some(page.into_string())
}

/// Snapshots for the views' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::freshness::{CacheSettings, SourceState};
    use crate::status::{render_html, Counts, Snapshot, Source};

    pub const NOW: i64 = 1_750_000_000;

    pub fn source(uri: &str) -> Source {
        Source {
            uri: uri.to_owned(),
            live: true,
            fetch: SourceState::INITIAL,
            cache: Some(CacheSettings::default()),
            fetches_ok: 0,
            fetches_failed: 0,
            kid_waits: 0,
            kid_absent: 0,
            kid_full: 0,
            absent_kids: 0,
            kids: Vec::new(),
            last_result: String::new(),
            last_result_at: 0,
            discovery: None,
        }
    }

    pub fn fetched(uri: &str, age: i64) -> Source {
        let mut s = source(uri);
        s.fetch.generation = 3;
        s.fetch.fetched_at = NOW - age;
        s.fetches_ok = 1;
        s.kids = vec!["a".into(), "b".into()];
        s.last_result = "200".into();
        s.last_result_at = NOW - age;
        s
    }

    pub fn failed(mut s: Source, failures: u32, why: &str) -> Source {
        s.fetch.failures = failures;
        s.fetches_failed = u64::from(failures);
        s.last_result = why.into();
        s.last_result_at = NOW - 3;
        s.fetch.next_attempt = NOW + 4;
        s
    }

    pub fn page(sources: Vec<Source>) -> String {
        render_html(&Snapshot {
            now: NOW,
            counts: Counts::default(),
            sources,
            dpop: None,
            revocation: None,
        })
        .unwrap()
    }

    pub fn summary(html: &str) -> &str {
        let start = html.find("<section id=\"summary\"").unwrap();
        let end = start + html[start..].find("</section>").unwrap();
        &html[start..end]
    }
}
