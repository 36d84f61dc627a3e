#!/usr/bin/env bash
# Install or upgrade the OfficeSync node on a systemd Linux machine.
#
#   sudo installer/linux/install.sh          # from a source checkout; run again to upgrade
#
# Lays down:  /opt/officesync/venv (the program), /etc/systemd/system/officesync.service,
#             /etc/officesync/config.toml (only if absent), /etc/xdg/autostart/officesync-tray.desktop,
#             /usr/local/bin/officesync, /opt/officesync/share/doc/
# Then (not with DESTDIR): makes the system user `officesync`, enables and (re)starts the service.
#
# Environment:
#   DESTDIR=/some/dir                  lay the files under it only: no useradd, no systemctl
#   PYTHON=python3.11                  the interpreter for the venv (3.11 or newer)
#   OFFICESYNC_EXTRAS=tray             pip extras to install ("" for a headless server)
#   OFFICESYNC_PIP_ARGS="..."          extra pip arguments (e.g. --no-index --find-links DIR)
#   OFFICESYNC_INSTALL_SKIP_VENV=1     do not make the venv (tests of the file layout)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
PREFIX=/opt/officesync
VENV="$PREFIX/venv"
PYTHON="${PYTHON:-python3}"
EXTRAS="${OFFICESYNC_EXTRAS-tray}"
SERVICE_USER=officesync

say() { printf 'officesync: %s\n' "$*"; }
die() { printf 'officesync: %s\n' "$*" >&2; exit 1; }

[ -f "$SRC/pyproject.toml" ] || die "không thấy mã nguồn ở $SRC / no source tree at $SRC"
if [ -z "$DESTDIR" ] && [ "$(id -u)" != "0" ]; then
  die "cần quyền root (sudo) / must run as root (sudo)"
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "cần Python 3.11 trở lên ($PYTHON) / Python 3.11 or newer is needed ($PYTHON)"

make_venv() {
  local venv="$DESTDIR$VENV" build spec
  say "cài chương trình vào / installing the program into $venv"
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  # Build from a clean copy so the source tree stays untouched (and may be read-only).
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' RETURN
  tar -C "$SRC" --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./dist \
      --exclude='*.egg-info' --exclude=__pycache__ --exclude=./officesync-data -cf - . \
    | tar -C "$build" -xf -
  spec="$build"
  [ -n "$EXTRAS" ] && spec="$build[$EXTRAS]"
  # shellcheck disable=SC2086  # OFFICESYNC_PIP_ARGS is a list of words on purpose
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
      ${OFFICESYNC_PIP_ARGS:-} "$spec"
}

lay_files() {
  install -d -m 0755 "$DESTDIR$PREFIX/share/doc" "$DESTDIR/usr/local/bin"
  install -D -m 0644 "$HERE/officesync.service" "$DESTDIR/etc/systemd/system/officesync.service"
  install -D -m 0644 "$HERE/officesync-tray.desktop" \
      "$DESTDIR/etc/xdg/autostart/officesync-tray.desktop"
  for doc in docs/operations.md config.example.toml README.md; do
    if [ -f "$SRC/$doc" ]; then install -m 0644 "$SRC/$doc" "$DESTDIR$PREFIX/share/doc/"; fi
  done
  ln -sfn "$VENV/bin/officesync" "$DESTDIR/usr/local/bin/officesync"
  install -d -m 0755 "$DESTDIR/etc/officesync"
  if [ -e "$DESTDIR/etc/officesync/config.toml" ]; then
    say "giữ cấu hình hiện có / keeping the existing /etc/officesync/config.toml"
  else
    install -m 0640 "$HERE/config.toml" "$DESTDIR/etc/officesync/config.toml"
    say "đã ghi cấu hình / wrote /etc/officesync/config.toml"
  fi
}

system_setup() {
  if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    say "tạo người dùng hệ thống / creating the system user $SERVICE_USER"
    useradd --system --home-dir /var/lib/officesync --no-create-home \
            --shell /usr/sbin/nologin --user-group "$SERVICE_USER"
  fi
  chgrp "$SERVICE_USER" /etc/officesync /etc/officesync/config.toml
  chmod 0750 /etc/officesync
  if [ ! -d /run/systemd/system ]; then
    say "systemd không chạy: hãy tự khởi động dịch vụ / systemd is not running: start the service yourself"
    return
  fi
  systemctl daemon-reload
  systemctl enable officesync.service >/dev/null
  if systemctl is-active --quiet officesync.service; then
    say "khởi động lại (nâng cấp) / restarting (upgrade)"
    systemctl restart officesync.service
  else
    systemctl start officesync.service
  fi
  say "dịch vụ đang chạy / the service is running: systemctl status officesync"
}

if [ "${OFFICESYNC_INSTALL_SKIP_VENV:-0}" = "1" ]; then
  say "bỏ qua venv (OFFICESYNC_INSTALL_SKIP_VENV=1) / skipping the venv"
else
  make_venv
fi
lay_files
if [ -n "$DESTDIR" ]; then
  say "DESTDIR=$DESTDIR: chỉ chép tệp / files only (no useradd, no systemctl)"
else
  system_setup
fi
say "xong / done"
