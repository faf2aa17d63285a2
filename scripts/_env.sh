# Shared by scripts/run, scripts/test and scripts/lock: a project virtualenv in .venv, installed
# from a lock file (every version and hash pinned, see scripts/lock), again whenever that lock or
# pyproject.toml changed since the last install.
set -euo pipefail
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi

ensure_installed() {  # $1: requirements.lock (the service) or requirements-test.lock (and the test tools)
  local lock=$1
  local stamp=".venv/.installed-${lock}"
  local want
  want=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing from $lock into .venv"
    local pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
    "${pip[@]}" --require-hashes -r "$lock"
    # The project itself, with the setuptools the lock pinned (no other download).
    "${pip[@]}" --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
  fi
}

apt_install() {  # $1: what they are for; then Debian packages, installed as root when missing
  local why=$1
  shift
  [ $# -eq 0 ] && return
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing $* (apt-get) for $why"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "warning: missing $*; $why will fail. Install: sudo apt-get install -y $*" >&2
  fi
}

system_packages_missing() {  # $@: Debian packages; prints those not installed
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || echo "$package"
  done
}

SYSTEM_PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-core"
ensure_system_packages() {  # what the service itself needs from Debian: the bulletins' PDFs
  # WeasyPrint (app/bulletins/render.py) lays text out with pango and harfbuzz, in Debian's
  # Noto fonts: Latin and Arabic script (Arabic and Sorani), found through fontconfig.
  command -v dpkg-query >/dev/null || return 0  # not Debian: see the README
  # shellcheck disable=SC2046
  apt_install "the bulletins' PDFs" $(system_packages_missing $SYSTEM_PACKAGES)
}

ensure_test_tools() {  # Debian's Chromium (browser tests), wrk (benchmark smoke tests) and
  # poppler-utils (pdftotext, pdftoppm: the bulletins' tests read their PDFs), as root (CI)
  ensure_system_packages
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium chromium-driver)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v pdftotext >/dev/null || missing+=(poppler-utils)
  apt_install "the browser, benchmark and bulletin tests" "${missing[@]}"
}
