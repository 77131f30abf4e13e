# Sourced by scripts/arm64.sh: Debian's cross toolchain for aarch64-unknown-linux-gnu, kept apart
# from the rustup toolchain on PATH (which builds everything else): /usr/bin/cargo and
# /usr/bin/rustc (rustc-web 1.96 with libstd-rust-web-dev:arm64) are called by path, with their own
# target directory, gcc-aarch64-linux-gnu links, and qemu-aarch64 runs the test binaries.
export RUSTC=/usr/bin/rustc
export RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_DIR="${ARM64_TARGET_DIR:-target/aarch64-debian}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="${QEMU_AARCH64:-qemu-aarch64} -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
CARGO=/usr/bin/cargo
