#!/usr/bin/env bash
# Release artefacts: rdp-doctor for Linux x86_64 (static, musl) and Windows x86_64 (.exe,
# GNU ABI, cross-built with mingw-w64), stripped, with SHA256SUMS.
#
#   scripts/release.sh [OUTDIR]        (default: dist/)
#
# Needs rustup (targets are added here) and, on Debian/Ubuntu, musl-tools (musl-gcc: ring
# compiles C and assembly for the musl target) and gcc-mingw-w64-x86-64 (the Windows linker);
# when run as root with apt-get available, missing packages are installed
# (--no-install-recommends). If the musl build fails, a glibc build is shipped instead and the
# reason is printed; the artefact's name says which libc it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-dist}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
LINUX_MUSL=x86_64-unknown-linux-musl
LINUX_GNU=x86_64-unknown-linux-gnu
WINDOWS=x86_64-pc-windows-gnu
t0=$SECONDS

need_pkg() { # command package
	command -v "$1" >/dev/null 2>&1 && return 0
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "== installing $2"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }
	fi
	command -v "$1" >/dev/null 2>&1
}

build() { # target -> prints the path of the built binary
	local target=$1 exe=rdp-doctor
	[[ $target == *windows* ]] && exe=rdp-doctor.exe
	rustup target add "$target" >/dev/null 2>&1 || rustup target add "$target" >&2
	local t=$SECONDS
	cargo build --release --locked --target "$target" -p rdp-doctor --bin rdp-doctor >&2
	echo "== $target built in $((SECONDS - t)) s" >&2
	echo "target/$target/release/$exe"
}

rm -rf "$OUT"
mkdir -p "$OUT"

# Linux: static musl if it builds, else glibc.
linux_name=""
if need_pkg musl-gcc musl-tools; then
	if bin=$(build "$LINUX_MUSL"); then
		linux_name="rdp-doctor-$VERSION-x86_64-linux-musl"
		cp "$bin" "$OUT/$linux_name"
	else
		echo "== the musl build failed (see above); shipping a glibc build instead" >&2
	fi
else
	echo "== musl-gcc not found (install musl-tools); shipping a glibc build instead" >&2
fi
if [[ -z $linux_name ]]; then
	bin=$(build "$LINUX_GNU")
	linux_name="rdp-doctor-$VERSION-x86_64-linux-gnu"
	cp "$bin" "$OUT/$linux_name"
fi

# Windows.
need_pkg x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64 ||
	{ echo "x86_64-w64-mingw32-gcc not found: install gcc-mingw-w64-x86-64" >&2; exit 1; }
bin=$(build "$WINDOWS")
win_name="rdp-doctor-$VERSION-x86_64-windows.exe"
cp "$bin" "$OUT/$win_name"

# The release profile already strips symbols; strip again with the target's own tool in case
# a toolchain left debug sections behind (a no-op otherwise).
strip "$OUT/$linux_name"
if command -v x86_64-w64-mingw32-strip >/dev/null; then x86_64-w64-mingw32-strip "$OUT/$win_name"; fi

"$OUT/$linux_name" --version >/dev/null # the Linux artefact runs here

(cd "$OUT" && sha256sum -- * >SHA256SUMS && sha256sum --quiet -c SHA256SUMS)

echo "== artefacts in $OUT/ (built in $((SECONDS - t0)) s):"
for f in "$OUT"/*; do
	printf '   %-46s %9s bytes  %s\n' "$(basename "$f")" "$(stat -c %s "$f")" \
		"$(file -b "$f" 2>/dev/null | cut -c1-70 || true)"
done
