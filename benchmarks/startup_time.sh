#!/bin/bash
# Start-up time of the bioseq command (benchmarks/RESULTS.md, "Start-up time (issue 17)").
# usage: bash benchmarks/startup_time.sh REPO  -> median wall time of 5 warm runs of each start-up command
cd "$1"
export PYTHONPATH="$1"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() {
  local label=$1; shift
  "$@" >/dev/null 2>&1  # warm the file cache
  for i in 1 2 3 4 5; do /usr/bin/time -f "%e" "$@" 2>&1 >/dev/null | tail -1; done | median | xargs printf "%-40s %s s\n" "$label"
}
run "python -m bioseq --help" python -m bioseq --help
run "python -m bioseq info lambda.gbk" python -m bioseq info bioseq/data/lambda_NC_001416.gbk
run "python -c 'import bioseq.io'" python -c "import bioseq.io"
out=$(mktemp -d)  # a command that writes a table (issue 18's make-text-variants; no model)
run "python -m bioseq make-text-variants" python -m bioseq make-text-variants --out "$out/v.tsv"
rm -rf "$out"
