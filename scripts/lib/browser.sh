# shellcheck shell=bash
# Headless Chromium and its WebDriver for the browser tests (crates/app/tests/browser).
#
#   source scripts/lib/browser.sh
#   browser_ensure_installed      # installs Debian's chromium + chromium-driver when missing
#
# The tests start chromedriver themselves (one per test binary, on a free port) and find the
# binaries at /usr/bin/chromium and /usr/bin/chromedriver, or where CHROMIUM and CHROMEDRIVER say.

# Makes sure /usr/bin/chromium and /usr/bin/chromedriver exist, installing the Debian packages
# (as pg.sh does for PostgreSQL) only when one of them is missing.
browser_ensure_installed() {
    if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
        return 0
    fi
    echo "browser.sh: chromium or chromedriver missing; installing chromium and chromium-driver" >&2
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "browser.sh: need root to install chromium" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null ||
        return 1
    if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
        echo "browser.sh: chromium or chromedriver still missing after install" >&2
        return 1
    fi
}
