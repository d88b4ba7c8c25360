#!/usr/bin/env bash
# Fails when a static library of ours exports a symbol that does not start
# with a module prefix (a header's file stem followed by '_', or "ost_").
# This also catches clashes with lws_, secp256k1_, sqlite3_, curl_ and
# OpenSSL names.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
mapfile -t stems < <(git ls-files '*.h' | xargs -n1 basename | sed 's/\.h$//' | sort -u)
bad=0
while IFS= read -r lib; do
    while read -r _ type sym; do
        ok=0
        [[ $sym == ost_* ]] && ok=1
        for s in "${stems[@]}"; do
            [[ $sym == "${s}"_* ]] && ok=1 && break
        done
        if [ $ok -eq 0 ]; then
            echo "$(basename "$lib"): exported symbol without a module prefix: $sym ($type)"
            bad=1
        fi
    done < <(nm --defined-only --extern-only "$lib" | grep -E '^[0-9a-f]+ [A-Z] ')
done < <(find "$build" -name 'libost_*.a')
exit $bad
