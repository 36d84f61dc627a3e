#!/usr/bin/env bash
# Remove the OfficeSync node. Keeps the configuration (/etc/officesync) and the data
# (/var/lib/officesync) unless --purge is given. Honours DESTDIR like install.sh (files only).
#
#   sudo installer/linux/uninstall.sh [--purge]
set -euo pipefail

DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
PURGE=0
for arg in "$@"; do
  case "$arg" in
    --purge) PURGE=1 ;;
    *) printf 'usage: %s [--purge]\n' "$0" >&2; exit 2 ;;
  esac
done

say() { printf 'officesync: %s\n' "$*"; }

if [ -z "$DESTDIR" ]; then
  [ "$(id -u)" = "0" ] || { say "cần quyền root (sudo) / must run as root (sudo)" >&2; exit 1; }
  if [ -d /run/systemd/system ]; then
    systemctl disable --now officesync.service 2>/dev/null || true
  fi
fi

rm -f "$DESTDIR/etc/systemd/system/officesync.service" \
      "$DESTDIR/etc/xdg/autostart/officesync-tray.desktop"
if [ -L "$DESTDIR/usr/local/bin/officesync" ]; then rm -f "$DESTDIR/usr/local/bin/officesync"; fi
rm -rf "$DESTDIR/opt/officesync"

if [ "$PURGE" = "1" ]; then
  say "xoá cấu hình và dữ liệu / removing configuration and data (--purge)"
  rm -rf "$DESTDIR/etc/officesync" "$DESTDIR/var/lib/officesync"
  if [ -z "$DESTDIR" ] && id -u officesync >/dev/null 2>&1; then userdel officesync || true; fi
else
  say "giữ cấu hình và dữ liệu / kept /etc/officesync and /var/lib/officesync (--purge removes them)"
fi
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
say "đã gỡ / removed"
