#!/bin/bash
# Readiness of the IB Gateway: the TWS API handshake on the gateway's own
# loopback port, not a TCP connect to the socat relay (which accepts while the
# gateway is down or waits for a 2FA approval).
#   api-handshake.sh PORT TIMEOUT_SECONDS
# Sends "API\0" and the length-prefixed client version range, as every TWS API
# client does first, and succeeds when the gateway answers with the 4-byte
# length of its server-version message. No client id is taken (the probe
# never sends startApi), so it does not disturb the runtime's session.
set -u
port="${1:?port}"
wait="${2:-5}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'API\0\0\0\0\x09v100..176' >&3 || exit 1
got=$(timeout "${wait}" head -c 4 <&3 | wc -c)
exec 3<&-
[ "${got}" -eq 4 ]
