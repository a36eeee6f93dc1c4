#!/usr/bin/env bash
# Share a file on the LAN as a user would: split it, then serve and announce
# the chunk store until Ctrl-C. Run p2p-download NAME on another machine.
#
#   examples/share.sh FILE [BROADCAST]
#
# BROADCAST defaults to "auto" (every interface's subnet broadcast). To try it
# on one machine only, pass 127.255.255.255 and download on the same host:
#   examples/share.sh notes.pdf 127.255.255.255
#   p2p-download notes.pdf --broadcast 127.255.255.255
set -euo pipefail
file=${1:?usage: examples/share.sh FILE [BROADCAST]}
broadcast=${2:-auto}
bin=$(cd "$(dirname "$0")/../bin" && pwd)

"$bin/p2p-split" "$file"
"$bin/p2p-serve" & serve=$!
"$bin/p2p-announce" --broadcast "$broadcast" & announce=$!
trap 'kill $serve $announce 2>/dev/null; wait' INT TERM EXIT
echo "sharing $(basename "$file"): p2p-serve pid $serve, p2p-announce pid $announce; Ctrl-C to stop"
# The first of the two to end ends both: announcing a port nobody serves (p2p-serve could not listen) helps no one.
status=0
wait -n || status=$?
exit "$status"
