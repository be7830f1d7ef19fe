# shellcheck shell=bash
# Shared by scripts/bench, scripts/bench-lists, scripts/bench-reload, scripts/bench-profile and
# scripts/soak; `source` it after cd to the repo root.
# Provides: bench_die, bench_log, bench_build, bench_free_port, bench_start (records PIDs),
# bench_stop, bench_mem, bench_wait_log, bench_list (cached gen-list output),
# bench_unbound_zones (the same list as cached unbound local-zone lines),
# bench_unbound_upstream (an authoritative-only unbound for one zone), and an EXIT trap
# that stops every process started through bench_start (by PID, never by name).

BENCH_TOOL="scripts/lib/benchtool.py"
BENCH_OUT="bench-out"
BENCH_BIN=".build/release/block-resolver"
BENCH_PIDS=()
BENCH_WORK=""

bench_die() {
    echo "${BENCH_NAME:-bench}: error: $*" >&2
    exit 1
}

bench_log() {
    printf '%s %s: %s\n' "$(date +%H:%M:%S)" "${BENCH_NAME:-bench}" "$*" >&2
}

# Stops every recorded PID (TERM, then KILL after 5 s) and removes the work folder
# unless BENCH_KEEP=1.
bench_cleanup() {
    local status=$? pid waited
    trap - EXIT INT TERM
    for pid in "${BENCH_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 50 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$BENCH_WORK" ] && [ -d "$BENCH_WORK" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
            echo "${BENCH_NAME:-bench}: work files kept in $BENCH_WORK" >&2
        else
            rm -rf "$BENCH_WORK"
        fi
    fi
    exit "$status"
}

bench_init() {
    BENCH_NAME="$1"
    command -v python3 >/dev/null 2>&1 || bench_die "python3 is not on PATH"
    mkdir -p "$BENCH_OUT/lists"
    BENCH_WORK="$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/$BENCH_NAME.XXXXXX")")"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Installs what is missing (needs root or sudo) and fails clearly when a tool is still absent.
bench_tools() {
    local package tool
    scripts/install-deps "$@" || bench_die "could not install $*; install them by hand"
    for package in "$@"; do
        case "$package" in
            unbound) tool=unbound ;;
            bind9-dnsutils) tool=dig ;;
            ldnsutils) tool=ldns-testns ;;
            dnsperf) tool=dnsperf ;;
            *) continue ;;
        esac
        command -v "$tool" >/dev/null 2>&1 || bench_die "$tool (package $package) is not on PATH"
    done
}

# Builds the release binary unless BENCH_SKIP_BUILD=1 (then it must exist already).
bench_build() {
    if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then
        [ -x "$BENCH_BIN" ] || bench_die "BENCH_SKIP_BUILD=1 but $BENCH_BIN does not exist"
        bench_log "BENCH_SKIP_BUILD=1: using the existing $BENCH_BIN"
        return
    fi
    command -v swift >/dev/null 2>&1 || bench_die "the Swift toolchain (swift) is not on PATH"
    scripts/install-deps libldns-dev pkg-config
    bench_log "building release (scripts/lib/build-release)"
    scripts/lib/build-release >&2 || bench_die "release build failed"
    [ -x "$BENCH_BIN" ] || bench_die "build finished but $BENCH_BIN is missing"
}

bench_commit() {
    local commit
    commit="$(git describe --always --dirty --abbrev=12 2>/dev/null || true)"
    echo "${commit:-unknown}"
}

# A loopback port free for both UDP and TCP right now.
bench_free_port() {
    python3 - <<'EOF'
import socket
for _ in range(50):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                tcp.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("no free loopback port")
EOF
}

# bench_start VAR LOGFILE COMMAND...: starts COMMAND in the background with stdout and stderr
# to LOGFILE, records its PID for the EXIT trap and stores it in VAR. Also sets
# BENCH_STARTED_AT (Unix time with microseconds, taken just before the fork).
bench_start() {
    local __var="$1" log="$2"
    shift 2
    # shellcheck disable=SC2034  # read by the scripts that source this file
    BENCH_STARTED_AT="$EPOCHREALTIME"
    "$@" >"$log" 2>&1 &
    local __pid=$!
    BENCH_PIDS+=("$__pid")
    printf -v "$__var" '%s' "$__pid"
}

# bench_stop PID [SECONDS]: SIGTERM, wait up to SECONDS (default 10), then SIGKILL.
bench_stop() {
    local pid="$1" limit="${2:-10}" waited=0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((limit * 10)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        bench_log "process $pid did not stop within ${limit}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# bench_mem PID: prints "RSS_KiB HWM_KiB".
bench_mem() {
    python3 "$BENCH_TOOL" mem "$1"
}

# bench_wait_log FILE PATTERN COUNT SECONDS [PID]: waits until FILE has at least COUNT lines
# matching PATTERN (grep -E); fails after SECONDS or when PID exits.
bench_wait_log() {
    local file="$1" pattern="$2" count="$3" limit="$4" pid="${5:-}" deadline have
    deadline=$(( EPOCHSECONDS + limit ))
    while :; do
        have=$(grep -cE -- "$pattern" "$file" 2>/dev/null || true)
        [ "${have:-0}" -ge "$count" ] && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            echo "${BENCH_NAME:-bench}: process $pid exited while waiting for /$pattern/ in $file" >&2
            return 1
        fi
        if [ "$EPOCHSECONDS" -ge "$deadline" ]; then
            echo "${BENCH_NAME:-bench}: no /$pattern/ (#$count) in $file within ${limit}s" >&2
            return 1
        fi
        sleep 0.05
    done
}

# bench_list N [SEED [FORMAT]]: prints the path of a cached gen-list output of N lines (FORMAT
# domains, the default, or ips; made once; the name carries a hash of scripts/gen-list, so a
# changed generator makes new lists).
bench_list() {
    local count="$1" seed="${2:-1}" format="${3:-domains}" path version
    version="$(sha256sum scripts/gen-list | cut -c1-8)"
    path="$BENCH_OUT/lists/list-$count-s$seed-$version.txt"
    [ "$format" = domains ] || path="$BENCH_OUT/lists/$format-$count-s$seed-$version.txt"
    if [ ! -s "$path" ]; then
        bench_log "generating $path (scripts/gen-list $count --seed $seed --format $format)"
        scripts/gen-list "$count" --seed "$seed" --format "$format" >"$path.tmp" || bench_die "gen-list $count failed"
        mv "$path.tmp" "$path"
    fi
    echo "$path"
}

# bench_unbound_zones LIST: prints "PATH COUNT": LIST's valid names, lower-cased and
# de-duplicated, as unbound `local-zone: "NAME." always_nxdomain` lines, cached next to LIST
# (the same cache files scripts/bench-lists uses).
bench_unbound_zones() {
    local source_list="$1" cached
    cached="${source_list%.txt}.unbound.conf"
    if [ ! -s "$cached" ] || [ ! -s "$cached.count" ] || [ "$cached" -ot "$source_list" ]; then
        bench_log "normalising $source_list for unbound ($cached)"
        rm -f "$cached.count"
        python3 "$BENCH_TOOL" unbound-zones "$source_list" "$cached" >"$cached.count.tmp" ||
            bench_die "could not write $cached"
        mv "$cached.count.tmp" "$cached.count"
    fi
    echo "$cached $(cat "$cached.count")"
}

# bench_unbound_upstream PID_VAR PORT_VAR ZONE ADDRESS: starts an authoritative-only unbound on
# 127.0.0.1 (config in the work folder, 1 thread, no remote control): every name below ZONE gets
# one A record ADDRESS with TTL 3600 (a redirect zone), everything else REFUSED. Waits (10 s at
# most) until it answers ZONE.
bench_unbound_upstream() {
    local __pid_var="$1" __port_var="$2" zone="$3" address="$4" __port __started
    __port="$(bench_free_port)"
    cat >"$BENCH_WORK/upstream.conf" <<EOF
server:
    interface: 127.0.0.1
    port: $__port
    do-daemonize: no
    use-syslog: no
    logfile: ""
    verbosity: 0
    chroot: ""
    username: ""
    directory: "$BENCH_WORK"
    pidfile: ""
    num-threads: 1
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "." refuse
    local-zone: "$zone." redirect
    local-data: "$zone. 3600 IN A $address"
remote-control:
    control-enable: no
EOF
    bench_start __started "$BENCH_WORK/upstream.log" unbound -d -c "$BENCH_WORK/upstream.conf"
    python3 "$BENCH_TOOL" wait-answer --port "$__port" --name "$zone" --expect "a:$address" \
            --timeout 10 >"$BENCH_WORK/upstream-ready.json" ||
        { cat "$BENCH_WORK/upstream-ready.json" "$BENCH_WORK/upstream.log" >&2; bench_die "unbound did not answer on port $__port"; }
    printf -v "$__pid_var" '%s' "$__started"
    printf -v "$__port_var" '%s' "$__port"
}

# bench_json FILE KEY: one value from a flat JSON object (empty when absent or null).
bench_json() {
    python3 -c 'import json,sys
value = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if value is None else value)' "$1" "$2"
}

# bench_fmt FORMAT EXPRESSION: floating-point arithmetic through awk, e.g.
# bench_fmt %.1f '1024 / 3'.
bench_fmt() {
    awk "BEGIN { printf \"$1\", $2 }" </dev/null
}

bench_machine() {
    local cpu
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "$(nproc) cores (${cpu:-unknown CPU}), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
}
