#!/usr/bin/env bash
# Fuzzes the verification core (fuzz/: cargo-fuzz + libFuzzer on nightly Rust) for a bounded
# time per target; fails on any crash, panic, broken invariant, timeout or out-of-memory.
#
#   scripts/fuzz.sh                 20 s per target
#   scripts/fuzz.sh 600             10 minutes per target: the longer run, e.g. before a release
#   FUZZ_TARGETS="verify json" scripts/fuzz.sh 60
#
# Targets (fuzz/fuzz_targets/):
#   verify         arbitrary bytes as a token and as an Authorization value, fixed key set
#                  (RSA, P-256, P-384, Ed25519, oct), every algorithm allowed
#   verify_signed  arbitrary header/payload JSON with a valid HMAC, so the header rules, payload
#                  JSON and time claims are reached; cross-checked against serde_json
#   jwks           arbitrary bytes into KeySet::parse, then fixed tokens against the result
#   json           the strict JSON parser, cross-checked against serde_json
#
# Built with debug assertions (integer overflow is a failure). The corpus grows in
# fuzz/corpus/<target> (git-ignored) from the committed seeds in fuzz/seeds/<target>
# (fuzz/make-seeds.sh regenerates them). A failing input is saved under fuzz/artifacts/<target>/;
# replay it with: cargo +nightly fuzz run -a <target> fuzz/artifacts/<target>/<file>
# Needs rustup (the nightly toolchain is installed if missing) and cargo-fuzz (installed from
# crates.io if missing). Full libFuzzer output: fuzz/logs/<target>.log. Line coverage of the
# corpus: rustup component add --toolchain nightly llvm-tools-preview, then
# cargo +nightly fuzz coverage <target> fuzz/corpus/<target> fuzz/seeds/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
targets=${FUZZ_TARGETS:-verify verify_signed jwks json}

if ! cargo +nightly --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || { echo "fuzz: needs rustup for a nightly toolchain" >&2; exit 1; }
    rustup toolchain install nightly --profile minimal
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

mkdir -p fuzz/logs
exec 9>fuzz/logs/.lock
flock -n 9 || { echo "fuzz: another scripts/fuzz.sh is running" >&2; exit 1; }
cargo +nightly fuzz build -a

for t in $targets; do
    case $t in
        verify) max_len=9000 ;;   # past the 8 KiB token limit
        jwks) max_len=16384 ;;
        *) max_len=4096 ;;
    esac
    mkdir -p "fuzz/corpus/$t"
    log=fuzz/logs/$t.log
    if ! cargo +nightly fuzz run -a "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
        -dict=fuzz/jose.dict -print_final_stats=1 >"$log" 2>&1; then
        echo "fuzz: $t FAILED; last lines of $log:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1 || true)
    echo "fuzz: $t ok (${secs}s, $execs execs, $cov)"
done
