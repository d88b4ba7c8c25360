#!/usr/bin/env bash
# Compiles every header of ours alone in a one-line translation unit, so a
# header that forgets an include of its own fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
inc=$(pkg-config --cflags libwebsockets libsecp256k1 sqlite3 libcurl openssl)
bad=0
for h in $(git ls-files '*.h' | grep -v '^tests/'); do
    echo "#include \"$h\"" >"$tmp/t.c"
    # shellcheck disable=SC2086
    if ! gcc -std=c17 -D_GNU_SOURCE -I. $inc -Wall -Wextra -Werror -Wstrict-prototypes \
        -fsyntax-only "$tmp/t.c" 2>"$tmp/err"; then
        echo "$h does not compile alone:"
        cat "$tmp/err"
        bad=1
    fi
done
exit $bad
