# Sourced by the benchmark scripts: the share of the machine's CPU time that processes other than this
# script's used while it measured. Call both functions in the script's own shell, never in $(...): `times`
# reports the CPU time of the processes this shell waited for.
#
#   others_start DIR     notes the machine's busy CPU time, this shell's children's and the time, in DIR
#   others_share DIR     sets `others` to the share (0 to 1) other processes used since others_start

# Busy CPU seconds of the whole machine (everything but idle and iowait).
busy_s() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }
# CPU seconds of the processes this shell waited for, from the output of `times` in FILE.
children_cpu_s() { awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"; }

others_start() {
    busy_s > "$1/busy.before"
    times > "$1/times.before"
    date +%s.%N > "$1/started"
}

others_share() {
    times > "$1/times.after"
    local elapsed ours
    elapsed=$(echo "$(date +%s.%N) - $(cat "$1/started")" | bc)
    ours=$(echo "$(children_cpu_s "$1/times.after") - $(children_cpu_s "$1/times.before")" | bc -l)
    others=$(echo "($(busy_s) - $(cat "$1/busy.before") - $ours) / ($elapsed * $(nproc))" | bc -l)
    # /proc/stat and `times` count in ticks of their own: on an idle machine the difference can come out
    # a hair below zero.
    if (( $(echo "$others < 0" | bc -l) )); then others=0; fi
}
