#!/bin/sh
# bench/setup.sh: install, as root, the tools `npm run bench` compares with or
# needs for the swarm, from Debian's packages, only those that are missing.
# Idempotent. Starts no service: while it installs, a policy-rc.d that
# refuses every start is in place (Debian's nginx would otherwise start on
# port 80); the bench starts nginx and opentracker itself, with its own
# config files, bound to loopback or inside its own namespaces, and stops
# them by PID. `npm test` needs none of these.
set -eu

# package:command that shows it is installed
WANTED="nginx-light:nginx aria2:aria2c iperf3:iperf3 mktorrent:mktorrent opentracker:opentracker tcpdump:tcpdump nftables:nft iproute2:tc time:/usr/bin/time curl:curl vde-switch:vde_switch vde-wirefilter:wirefilter linux-perf:perf"

have() { case "$1" in /*) [ -x "$1" ] ;; *) PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1 ;; esac; }

missing=""
for pair in $WANTED; do
  pkg=${pair%%:*}
  cmd=${pair#*:}
  if have "$cmd"; then echo "setup: $pkg already installed ($cmd)"; else missing="$missing $pkg"; fi
done

if [ -z "$missing" ]; then
  echo "setup: nothing to install"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing:$missing; run this script as root to install them (apt-get)" >&2
  exit 1
fi

# Refuse service starts during the install, unless the machine already does.
policy=/usr/sbin/policy-rc.d
placed=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# placed by p2pshare bench/setup.sh while it installs; removed after\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  placed=1
fi
cleanup() { if [ -n "$placed" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # the list is meant to split into words
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "setup: installed:$missing"

# Packages this run installed that ship a unit or init script may have
# enabled it for the next boot; the bench never wants them running on their
# own. (A service the machine had before is left as it was.)
for pkg in $missing; do
  case "$pkg" in nginx-light) unit=nginx ;; opentracker | iperf3) unit=$pkg ;; *) continue ;; esac
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  elif command -v update-rc.d >/dev/null 2>&1 && [ -e "/etc/init.d/$unit" ]; then
    update-rc.d -f "$unit" remove >/dev/null 2>&1 || true
  fi
done
