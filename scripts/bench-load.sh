#!/usr/bin/env bash
# The harness as a load generator against the best tools, on the same servers, interleaved: `http` steps
# against `wrk -t1 -cN` on nginx serving a 1 KiB file, and `redis` steps against `redis-benchmark -P 1 -c N`
# on a stock redis-server, at N connections (the event loop at 1, 4, 16 and 64; sync at 1; threaded and
# multiprocess at 4 and 16). Every round measures each pair once, back to back, the order of the two
# alternating from round to round; each ratio is the harness's request rate over the tool's in the same
# round, and the script prints the median ratio over the rounds with its smallest and largest. Beside the
# rates, the client's CPU time per request (user and system; the tool's as the shell times it, the
# harness's run from runs.csv), whose ratio (the tool's over the harness's) a machine busy with other work
# disturbs much less than the rates.
# docs/measurement.md has the figures.
#
#   cargo build --release --workspace
#   scripts/bench-load.sh [ROUNDS] [CASES]      # default 5 rounds; CASES a regex over "http async 16" ...
#
# With BASELINE=PATH, a `harness` binary of another build with its executor plugins beside it (a copy of
# target/release made before a change), every round measures that build too, in the same rounds (the order
# of the three alternating), and a second table gives this build against it: the rate ratio and the CPU
# time per request of each.
#
# With PLACEMENT=same, the servers and every client run on CPU 0 alone; with PLACEMENT=apart, the servers
# on CPU 1 and the clients on CPU 0; by default (PLACEMENT=free) the kernel places them. On one CPU a round
# trip is the client's and the server's CPU time and nothing else (no CPU goes idle to be woken again), so
# the rates compare what each client costs a request. Apart or free, a one-connection round trip also waits
# for an idle CPU to wake, twice, which on a virtual machine can be most of it and is neither client's doing
# (scripts/bench-one-connection.sh measures how much).
#
# Installs nginx-light, redis-server, redis-tools and wrk with apt-get when they are missing. Both servers
# run on one core each at most (one nginx worker; redis is single-threaded), on ports picked free, with
# their files in a temporary folder removed at the end. On a machine shared with other work the rates swing:
# the ratios of the same round are what to read, not the rates.
set -euo pipefail

rounds=${1:-5}
cases=${2:-.}
root=$(cd "$(dirname "$0")/.." && pwd)
harness=$root/target/release/harness
# Requests per measurement: about a second each at the rates of a two-core machine.
http_tasks=${HTTP_TASKS:-40000}
redis_tasks=${REDIS_TASKS:-50000}
wrk_seconds=${WRK_SECONDS:-1}

source "$root/scripts/bench-lib.sh"
bench_placement

[ -x "$harness" ] || { echo "build the harness first: cargo build --release --workspace" >&2; exit 1; }
baseline=${BASELINE:-}
[ -z "$baseline" ] || [ -x "$baseline" ] || { echo "BASELINE=$baseline is not an executable harness" >&2; exit 1; }
missing=()
command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v redis-server > /dev/null || missing+=(redis-server)
command -v redis-benchmark > /dev/null || missing+=(redis-tools)
command -v wrk > /dev/null || missing+=(wrk)
command -v curl > /dev/null || missing+=(curl)
[ "$placement" = free ] || command -v taskset > /dev/null || missing+=(util-linux)
command -v python3 > /dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]}" >&2
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
redis_port=$(free_port)

mkdir -p "$work/nginx/www"
head -c 1024 /dev/zero | tr '\0' 'x' > "$work/nginx/www/1KiB.txt"
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
user root;
pid $work/nginx/nginx.pid;
error_log stderr;
events { worker_connections 1024; }
http {
    access_log off;
    # Every client keeps its connections for the whole measurement (nginx closes one after 1,000 by default).
    keepalive_requests 100000000;
    client_body_temp_path $work/nginx/b;
    proxy_temp_path $work/nginx/p;
    fastcgi_temp_path $work/nginx/f;
    uwsgi_temp_path $work/nginx/u;
    scgi_temp_path $work/nginx/s;
    server {
        listen 127.0.0.1:$http_port;
        root $work/nginx/www;
    }
}
CONF
"${server_on[@]}" "$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e stderr 2> "$work/nginx.log" &
pids+=($!)
"${server_on[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no > "$work/redis.log" &
pids+=($!)
ready=""
for _ in $(seq 100); do
    if curl -sf "http://127.0.0.1:$http_port/1KiB.txt" > /dev/null 2>&1 && redis-cli -p "$redis_port" ping > /dev/null 2>&1; then
        ready=yes
        break
    fi
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "nginx or redis-server did not answer within 10 s; their logs:" >&2
    cat "$work/nginx.log" "$work/redis.log" >&2
    exit 1
fi

# The harness's rate and CPU time per request (µs): one run (no warmup) of one cell, from runs.csv.
harness_rate() { # HARNESS KIND EXECUTOR N
    local bin=$1 kind=$2 executor=$3 n=$4 tasks step options="" workers=1
    case $kind in
        http) tasks=$http_tasks; step="{ http = { url = \"http://127.0.0.1:$http_port/1KiB.txt\" } }" ;;
        redis) tasks=$redis_tasks; step="{ redis = { command = [\"INCR\", \"counter\"], url = \"redis://127.0.0.1:$redis_port/\" } }" ;;
    esac
    case $executor in
        async) options="[executors.async]
flavor = \"current_thread\"
concurrency = $n" ;;
        *) workers=$n ;;
    esac
    cat > "$work/load.toml" <<TOML
[experiment]
name = "load"
repetitions = 1
warmup = 0

[workloads.w]
tasks = $tasks
steps = [$step]

[matrix]
executor = ["$executor"]
workers = [$workers]

$options
TOML
    "${client_on[@]}" "$bin" run --quiet --out "$work/results" "$work/load.toml" > /dev/null
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i }
        NR > 1 { print $c["throughput_per_s"], ($c["user_cpu_s"] + $c["system_cpu_s"]) / $c["tasks"] * 1e6 }' \
        "$work/results/load/latest/runs.csv"
}

# The tool's rate (wrk's Requests/sec, or redis-benchmark's requests per second) and CPU time per request
# (µs), its user and system time as the shell's `time` reports them.
tool_rate() { # KIND N
    local TIMEFORMAT='%U %S' cpu
    case $1 in
        http) cpu=$( { time "${client_on[@]}" wrk -t1 -c"$2" -d"${wrk_seconds}s" "http://127.0.0.1:$http_port/1KiB.txt" > "$work/tool.txt"; } 2>&1 )
            awk -v cpu="$cpu" '/requests in/ { n = $1 } /^Requests\/sec/ { r = $2 }
                END { split(cpu, t, " "); print r, (t[1] + t[2]) / n * 1e6 }' "$work/tool.txt" ;;
        redis) cpu=$( { time "${client_on[@]}" redis-benchmark -p "$redis_port" -P 1 -c "$2" -n "$redis_tasks" --csv INCR counter > "$work/tool.txt"; } 2>&1 )
            awk -F, -v cpu="$cpu" -v n="$redis_tasks" 'NR == 2 { gsub(/"/, "", $2); r = $2 }
                END { split(cpu, t, " "); print r, (t[1] + t[2]) / n * 1e6 }' "$work/tool.txt" ;;
    esac
}

tool_name() { case $1 in http) echo "wrk -t1 -c$2" ;; redis) echo "redis-benchmark -P 1 -c $2" ;; esac; }

all=()
for kind in http redis; do
    for n in 1 4 16 64; do all+=("$kind async $n"); done
    all+=("$kind sync 1")
    for executor in threaded multiprocess; do for n in 4 16; do all+=("$kind $executor $n"); done; done
done
chosen=()
for case in "${all[@]}"; do [[ $case =~ $cases ]] && chosen+=("$case"); done

echo "$("$harness" --version 2>/dev/null | head -1), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(redis-benchmark --version 2>/dev/null || redis-server --version | cut -d' ' -f1-3), $(nproc) CPUs, placement $placement, $rounds rounds" >&2
: > "$work/rates.txt"
for round in $(seq "$rounds"); do
    for case in "${chosen[@]}"; do
        read -r kind executor n <<< "$case"
        b=""
        if [ $((round % 2)) -eq 1 ]; then
            h=$(harness_rate "$harness" "$kind" "$executor" "$n"); t=$(tool_rate "$kind" "$n")
            [ -z "$baseline" ] || b=$(harness_rate "$baseline" "$kind" "$executor" "$n")
        else
            [ -z "$baseline" ] || b=$(harness_rate "$baseline" "$kind" "$executor" "$n")
            t=$(tool_rate "$kind" "$n"); h=$(harness_rate "$harness" "$kind" "$executor" "$n")
        fi
        echo "$kind $executor $n $round $h $t $b" >> "$work/rates.txt"
        [ -z "${RATES:-}" ] || cp "$work/rates.txt" "$RATES"
    done
    echo "round $round of $rounds done" >&2
done

# An awk function: the median of a[1..m], leaving the lowest and highest in lo and hi.
median='function median(a, m,   s, i, j, t) {
    for (i = 1; i <= m; i++) s[i] = a[i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
    lo = s[1]; hi = s[m]
    return (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
}'
printf '| step | executor | connections | harness (req/s) | tool | tool (req/s) | rate ratio | harness CPU (µs/req) | tool CPU (µs/req) | CPU ratio |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for case in "${chosen[@]}"; do
    read -r kind executor n <<< "$case"
    # Fields: kind executor n round harness_rate harness_cpu tool_rate tool_cpu. Medians over the rounds;
    # each ratio is taken within a round, then its median, lowest and highest.
    awk -v k="$kind" -v e="$executor" -v n="$n" -v tool="$(tool_name "$kind" "$n")" "$median"'
        $1 == k && $2 == e && $3 == n && $5 > 0 && $7 > 0 {
            m++; hr[m] = $5; hc[m] = $6; tr[m] = $7; tc[m] = $8; rr[m] = $5 / $7; cr[m] = ($6 > 0) ? $8 / $6 : 0
        }
        END {
            if (m == 0) { printf "| %s | %s | %s | - | `%s` | - | no measurement | | | |\n", k, e, n, tool; exit }
            r = median(rr, m); rlo = lo; rhi = hi
            c = median(cr, m); clo = lo; chi = hi
            printf "| %s | %s | %s | %.0f | `%s` | %.0f | %.3f (%.3f to %.3f) | %.2f | %.2f | %.3f (%.3f to %.3f) |\n",
                k, e, n, median(hr, m), tool, median(tr, m), r, rlo, rhi, median(hc, m), median(tc, m), c, clo, chi
        }' "$work/rates.txt"
done

[ -n "$baseline" ] || exit 0
echo
printf '| step | executor | connections | this build (req/s) | build before (req/s) | rate ratio | this build CPU (µs/req) | build before CPU (µs/req) | CPU ratio |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for case in "${chosen[@]}"; do
    read -r kind executor n <<< "$case"
    # Fields 5 and 6: this build's rate and CPU; 9 and 10: the build before's. The CPU ratio is the build
    # before's over this build's: above 1 this build spends less per request.
    awk -v k="$kind" -v e="$executor" -v n="$n" "$median"'
        $1 == k && $2 == e && $3 == n && $5 > 0 && $9 > 0 {
            m++; hr[m] = $5; hc[m] = $6; br[m] = $9; bc[m] = $10; rr[m] = $5 / $9; cr[m] = ($6 > 0) ? $10 / $6 : 0
        }
        END {
            if (m == 0) { printf "| %s | %s | %s | - | - | no measurement | | | |\n", k, e, n; exit }
            r = median(rr, m); rlo = lo; rhi = hi
            c = median(cr, m); clo = lo; chi = hi
            printf "| %s | %s | %s | %.0f | %.0f | %.3f (%.3f to %.3f) | %.2f | %.2f | %.3f (%.3f to %.3f) |\n",
                k, e, n, median(hr, m), median(br, m), r, rlo, rhi, median(hc, m), median(bc, m), c, clo, chi
        }' "$work/rates.txt"
done
