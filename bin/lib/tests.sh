#!/usr/bin/env bash
# Sourceable: runs test files one process each, under a time bound, and sums them up.
#
# Why not `node --test FILE...`: its parent process reads each file's results as V8-serialized
# frames mixed with whatever the tests print, and Node 20's reader can spin forever on bytes it
# takes for an unfinished frame (nodejs/node#62693). A CI run stopped that way, silent, until the
# 90-minute limit. Here each file runs in its own `node`, printing its spec report straight to
# the terminal, and `timeout` ends a file that hangs (its whole process group: pulumi, ssh, docker
# included), so a hang fails one file with a message instead of the whole run.

# run_test_files LIMIT_SECONDS FILE...: every file, even after a failure; returns 1 if any failed.
run_test_files() {
  local limit="$1"
  shift
  local results file started rc seconds verdict failed=0
  results="$(mktemp)"
  for file in "$@"; do
    step "test file $file"
    started="$SECONDS"
    # node's own status, whether the caller set pipefail or not (set -e does not act inside a
    # list ended by ||).
    rc=0
    {
      timeout --kill-after=30 "$limit" \
        node --import tsx --test-reporter=spec "$file" 2>&1 | tee "$results.out"
      rc="${PIPESTATUS[0]}"
    } || true
    seconds=$((SECONDS - started))
    case "$rc" in
      0) verdict=passed ;;
      124 | 137) verdict="TIMED OUT after ${limit} s" ;;
      *) verdict="FAILED (exit $rc)" ;;
    esac
    ((rc == 0)) || failed=1
    printf '%s\t%s\t%s\t%s\n' "$seconds" "$file" "$verdict" "$(count_tests "$results.out")" >>"$results"
  done
  summarize_test_files "$results"
  rm -f "$results" "$results.out"
  return "$failed"
}

# "pass N, fail N, skipped N" from one file's spec report (its closing ℹ lines).
count_tests() {
  awk '/^ℹ (pass|fail|skipped) [0-9]+$/ { parts = parts (parts ? ", " : "") $2 " " $3 }
       END { print parts ? parts : "no summary (ended early)" }' "$1"
}

# The files by time taken, the failures named again, and the totals.
summarize_test_files() {
  local results="$1"
  step "test files: seconds, file, result (slowest first)"
  sort -t $'\t' -k1,1nr "$results" | awk -F '\t' '{ printf "%6d s  %-50s %s (%s)\n", $1, $2, $3, $4 }' >&2
  awk -F '\t' '
    { total += $1; split($4, parts, ", ")
      for (i in parts) { split(parts[i], kv, " "); sum[kv[1]] += kv[2] } }
    $3 != "passed" { bad = bad "\n  " $2 ": " $3 }
    END {
      printf "%d files in %d s: %d passed, %d failed, %d skipped tests\n",
        NR, total, sum["pass"], sum["fail"], sum["skipped"]
      if (bad) printf "failed files:%s\n", bad
    }' "$results" >&2
}
