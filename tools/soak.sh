#!/bin/sh
# tools/soak.sh [--secs N | --long] [--build DIR] [--out DIR] [--seed S] [--settle SECS] [--keep]
#
# The soak: the real DIR/ringlb (build/ by default; build/asan or build/tsan
# after `make asan` / `make tsan`) for N seconds (45; --long: 1800) under a
# mixed load (wrk keep-alive, Connection: close and TLS; L4 streams, pipelined
# requests, Upgrade tunnels, slow heads and slow bodies, every answer and byte
# checked) with reloads, nginx and echo backends killed and restarted, and a
# flood that takes memory pressure to Critical. RSS, fds, connections, the
# accountant and every pool class are sampled each second into
# OUT/soak.csv (OUT = DIR/soak; --long: soak-long.csv), plotted into
# soak.png. PASS (exit 0) when every error was one the run injected, every
# figure came back to idle, every reload was ok and ringlb exited 0 with its
# memory at zero. The work is tools/soak.py's; see its head comment.
exec python3 "$(dirname "$0")/soak.py" "$@"
