#!/usr/bin/env bash
# Runs experiments/quickstart.toml with a release build into results/example/ and draws its charts and
# reports there: the example result that the README shows. About a minute on two cores, after the build.
#
#   scripts/example-result.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --workspace --quiet

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
target/release/harness run experiments/quickstart.toml --out "$scratch" --quiet
run="$(cd "$scratch/quickstart/latest" && pwd -P)"

rm -rf results/example
cp -R "$run" results/example
# environment.json names the files of the run by absolute path and the machine by its host name: keep
# neither in the repository. Everything else is as measured.
sed -i -E -e "s#$root/##g" -e "s#$scratch#OUT#g" -e 's/"hostname": "[^"]*"/"hostname": "example-host"/' \
    -e 's/"parent_cgroup": "[^"]*"/"parent_cgroup": "(not kept)"/' results/example/environment.json
target/release/harness report results/example
