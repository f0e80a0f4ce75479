#!/usr/bin/env sh
# The console's browser test (tests/e2e/test_console_browser.py) drives headless Chromium
# through chromedriver: Debian's chromium and chromium-driver packages. Installed here when
# missing (as root with apt-get, as on CI). When they cannot be installed, CI=true fails the
# run; elsewhere the test is skipped with the reason.
# A Japanese font (fonts-ipafont-gothic) is added when it can be, for readable screenshots;
# the test does not depend on it.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver (the console's browser test needs them)"
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null
    then
        apt-get install -y -q fonts-ipafont-gothic >/dev/null 2>&1 || true
        exit 0
    fi
fi
if [ "${CI:-}" = "true" ]; then
    echo "CI=true but chromium and chromedriver are missing and could not be installed" >&2
    exit 1
fi
echo "chromium/chromedriver not installed: the console's browser test will be skipped" >&2
exit 0
