#!/usr/bin/env bash
# Debian packages the test suite needs, and the local PostgreSQL the hub's tests use.
# Idempotent and quick when everything is already there.
set -euo pipefail

# The tray's menu on Linux: PyGObject (built by pip from its sdist: headers and pkg-config),
# the GTK 3 and Ayatana AppIndicator typelibs; its smoke test clicks with xdotool and runs a
# private dbus-daemon session bus.
tray=(pkg-config gcc libgirepository1.0-dev libcairo2-dev gir1.2-gtk-3.0
      gir1.2-ayatanaappindicator3-0.1 xdotool dbus-daemon fonts-dejavu-core)
need=()
for pkg in xvfb trayer x11-utils systemd iproute2 wixl msitools chromium "${tray[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "system-deps: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "system-deps: missing ${need[*]} (not root: the tests that need them will skip)" >&2
  fi
fi

# PostgreSQL on 127.0.0.1:5432 for the hub's PostgreSQL contract tests.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "system-deps: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
exit 0
