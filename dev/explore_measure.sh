#!/usr/bin/env bash
# The explorer page at MNIST scale: page size, time to the first frame in headless Chromium, and
# frame time while panning. Writes t-SNE runs of 10,000 (test split) and 70,000 (all) images with
# snapshots and the page, then loads each page in Chromium (tests/explore.rs, measure_pages).
#   bash dev/explore_measure.sh MNIST_DIR [SIZES]     SIZES: 10000,70000 (default)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:?usage: dev/explore_measure.sh MNIST_DIR [10000,70000]}"
sizes="${2:-10000,70000}"
out="${LATENTVIZ_MEASURE_DIR:-target/explore_measure}"
mkdir -p "$out"
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
# LATENTVIZ_BIN: a latentviz already built (default: build the release one).
bin="${LATENTVIZ_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release --quiet
    bin=target/release/latentviz
fi
pages=()
for n in ${sizes//,/ }; do
    split=test
    [ "$n" -gt 10000 ] && split=all
    rm -rf "$out/snaps_$n"
    /usr/bin/time -f "t-SNE + page, $n points: %e s" "$bin" tsne --quiet \
        --mnist "$data" --split "$split" --subset "$n" --out "$out/y_$n.npy" \
        --snapshots "$out/snaps_$n" --metrics "$out/metrics_$n.jsonl" --explore "$out/page_$n.html"
    pages+=("$(realpath "$out/page_$n.html")")
done
LATENTVIZ_EXPLORE_PAGES="$(IFS=,; echo "${pages[*]}")" \
    cargo test --release --test suite measure_pages -- --ignored --nocapture
