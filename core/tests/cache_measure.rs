//! Measures the two cache designs the token and refusal caches could share (issue 22): core's
//! preallocated, fallible `DigestCache` and `lru::LruCache` (as the token cache used it).
//! Bytes per entry (a counting allocator), time per get and put, and what happens when memory
//! is short (a child process under `ulimit -v`). Prints a table; asserts only that it ran.
//!
//!     cargo test --release -p jwt_peer_auth_core --test cache_measure -- --ignored --nocapture --test-threads=1

use std::alloc::{GlobalAlloc, Layout, System};
use std::num::NonZeroUsize;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use jwt_peer_auth_core::cache::DigestCache;
use jwt_peer_auth_core::digest::{self, Digest};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// The size of the token cache's entry (an `Rc<Checked>` and the key source).
type Value = [u64; 4];

const CAP: usize = 4096;
const OPS: usize = 2_000_000;

fn digests(n: usize) -> Vec<Digest> {
    (0..n as u64).map(|i| digest::token(&i.to_le_bytes())).collect()
}

trait Cache {
    fn name() -> &'static str;
    fn make(cap: usize) -> Option<Self>
    where
        Self: Sized;
    fn get(&mut self, d: &Digest) -> bool;
    fn put(&mut self, d: Digest);
}

impl Cache for DigestCache<Value> {
    fn name() -> &'static str {
        "core DigestCache"
    }
    fn make(cap: usize) -> Option<Self> {
        DigestCache::try_new(cap)
    }
    fn get(&mut self, d: &Digest) -> bool {
        DigestCache::get(self, d).is_some()
    }
    fn put(&mut self, d: Digest) {
        self.insert(d, [1; 4]);
    }
}

impl Cache for lru::LruCache<Digest, Value> {
    fn name() -> &'static str {
        "lru::LruCache"
    }
    fn make(cap: usize) -> Option<Self> {
        Some(lru::LruCache::new(NonZeroUsize::new(cap)?))
    }
    fn get(&mut self, d: &Digest) -> bool {
        lru::LruCache::get(self, d).is_some()
    }
    fn put(&mut self, d: Digest) {
        lru::LruCache::put(self, d, [1; 4]);
    }
}

fn measure<C: Cache>(ds: &[Digest]) -> String {
    let (live0, allocs0) = (LIVE.load(Ordering::Relaxed), ALLOCS.load(Ordering::Relaxed));
    let mut c = C::make(CAP).unwrap();
    let made = LIVE.load(Ordering::Relaxed) - live0;
    for d in &ds[..CAP] {
        c.put(*d);
    }
    let full = LIVE.load(Ordering::Relaxed) - live0;
    let allocs_fill = ALLOCS.load(Ordering::Relaxed) - allocs0;
    // Hits: the held digests in turn.
    let t = Instant::now();
    let mut hits = 0;
    for i in 0..OPS {
        hits += usize::from(c.get(&ds[(i * 7) % CAP]));
    }
    let get_ns = t.elapsed().as_nanos() as f64 / OPS as f64;
    assert_eq!(hits, OPS);
    // Puts of new digests into the full cache (each drops the least recently used).
    let allocs1 = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    for i in 0..OPS {
        c.put(ds[CAP + i % (ds.len() - CAP)]);
    }
    let put_ns = t.elapsed().as_nanos() as f64 / OPS as f64;
    let allocs_full = ALLOCS.load(Ordering::Relaxed) - allocs1;
    // Misses.
    let t = Instant::now();
    let mut found = 0;
    for i in 0..OPS {
        found += usize::from(c.get(&ds[i % CAP]));
    }
    let miss_ns = t.elapsed().as_nanos() as f64 / OPS as f64;
    std::hint::black_box(found);
    format!(
        "| {} | {} | {:.1} | {} | {} | {:.1} | {:.1} | {:.1} |",
        C::name(),
        made,
        full as f64 / CAP as f64,
        allocs_fill,
        allocs_full,
        get_ns,
        miss_ns,
        put_ns
    )
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn measure_both() {
    let ds = digests(CAP + 100_000);
    println!(
        "\n{CAP} entries of {} bytes; {OPS} operations each",
        size_of::<Value>()
    );
    println!("| design | bytes at creation | bytes per entry, full | allocations to fill | allocations in {OPS} puts when full | get hit ns | get miss ns | put (evicting) ns |");
    println!("|---|---|---|---|---|---|---|---|");
    // Each twice: the first run warms the machine.
    for _ in 0..2 {
        println!("{}", measure::<DigestCache<Value>>(&ds));
        println!("{}", measure::<lru::LruCache<Digest, Value>>(&ds));
    }
}

/// The child of `memory_short`: makes and fills a cache of `CACHE_MEASURE_CAP` entries with
/// the design in `CACHE_MEASURE_CHILD`, and prints how far it got.
#[test]
#[ignore = "run by memory_short"]
fn child() {
    let Ok(design) = std::env::var("CACHE_MEASURE_CHILD") else {
        return;
    };
    let cap: usize = std::env::var("CACHE_MEASURE_CAP").unwrap().parse().unwrap();
    let ds = digests(cap);
    fn fill<C: Cache>(cap: usize, ds: &[Digest]) {
        match C::make(cap) {
            None => println!("\nRESULT made: no (memory could not be reserved; the worker goes without)"),
            Some(mut c) => {
                println!("\nRESULT made: yes");
                for d in ds {
                    c.put(*d);
                }
                println!("RESULT filled: yes");
            }
        }
    }
    if design == "core" {
        fill::<DigestCache<Value>>(cap, &ds);
    } else {
        fill::<lru::LruCache<Digest, Value>>(cap, &ds);
    }
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn memory_short() {
    use std::os::unix::process::ExitStatusExt;
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm_kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let cap = 1_000_000;
    // Room for the digests (32 MB) and about 64 MB more than this process has now.
    let limit = vm_kib + 32 * 1024 + 64 * 1024;
    println!("\n{cap} entries, address space limited to {} MiB:", limit / 1024);
    for design in ["core", "lru"] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v {limit}; exec \"$0\" --ignored --exact child --nocapture --test-threads=1"
            ))
            .arg(&exe)
            .env("CACHE_MEASURE_CHILD", design)
            .env("CACHE_MEASURE_CAP", cap.to_string())
            .output()
            .unwrap();
        let said: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.find("RESULT ").map(|i| l[i + 7..].to_owned()))
            .collect();
        let how = match (out.status.code(), out.status.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (_, Some(s)) => format!(
                "killed by signal {s}{}",
                if s == 6 { " (SIGABRT: an abort)" } else { "" }
            ),
            _ => "?".to_owned(),
        };
        let err = String::from_utf8_lossy(&out.stderr);
        let alloc_err = err
            .lines()
            .find(|l| l.contains("memory allocation"))
            .unwrap_or("");
        println!("| {design} | {} | {how} | {alloc_err} |", said.join("; "));
    }
}
