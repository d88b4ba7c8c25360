#!/bin/sh
# The container files stay valid: the real ostrich binary accepts the
# configuration the image ships (config/docker.toml) and the one
# docker-compose.yml mounts (config/compose.toml) and reads from them what
# the containers depend on; the Dockerfile and docker-compose.yml name those
# files, paths and ports; docker-compose.yml is valid YAML of the expected
# shape (when python3 has PyYAML; no Docker engine is needed).
#
# usage: test_docker_config.sh OSTRICH_BINARY SOURCE_DIR
set -eu

bin=$1
src=$2
failed=0

fail() {
    echo "FAIL: $*" >&2
    failed=1
}

# value FILE SECTION KEY: the effective value of SECTION.KEY with FILE.
value() {
    "$bin" --print-config --config "$1" | awk -v s="[$2]" -v k="$3" '
        /^\[/ { in_s = ($0 == s); next }
        in_s && $1 == k && $2 == "=" { sub(/^[^=]*= /, ""); print; exit }'
}

expect() { # FILE SECTION KEY WANT
    got=$(value "$1" "$2" "$3")
    [ "$got" = "$4" ] || fail "$1: $2.$3 is $got, want $4"
}

for f in config/docker.toml config/compose.toml; do
    if out=$("$bin" --check-config "$src/$f" 2>&1); then
        [ "$out" = "$src/$f: ok" ] || fail "ostrich --check-config $f printed: $out"
    else
        fail "ostrich --check-config $f: $out"
    fi
done

docker="$src/config/docker.toml"
expect "$docker" relay bind '"0.0.0.0"'
expect "$docker" relay port 7777
expect "$docker" storage backend '"sqlite"'
expect "$docker" storage.sqlite path '"/var/lib/ostrich/ostrich.db"'

compose="$src/config/compose.toml"
expect "$compose" relay bind '"0.0.0.0"'
expect "$compose" relay port 7777
expect "$compose" storage backend '"opensearch"'
expect "$compose" storage.opensearch url '"http://opensearch:9200"'
expect "$compose" storage.opensearch replicas 0

# has FILE LINE: FILE holds LINE exactly (leading spaces ignored).
has() {
    sed 's/^[[:space:]]*//' "$1" | grep -qxF -- "$2" || fail "${1#"$src"/} lacks: $2"
}

df="$src/Dockerfile"
has "$df" 'FROM debian:12-slim AS build'
has "$df" 'FROM debian:12-slim'
has "$df" '&& cmake --build build --target ostrich -j "$(nproc)"'
has "$df" 'COPY --from=build /src/build/relay/ostrich /usr/local/bin/ostrich'
has "$df" 'COPY config/docker.toml /etc/ostrich/ostrich.toml'
has "$df" 'USER 10001:10001'
has "$df" 'VOLUME ["/var/lib/ostrich"]'
has "$df" 'EXPOSE 7777'
has "$df" 'ENTRYPOINT ["ostrich", "--config", "/etc/ostrich/ostrich.toml"]'

yml="$src/docker-compose.yml"
has "$yml" '- ./config/compose.toml:/etc/ostrich/ostrich.toml:ro'
has "$yml" '- "7777:7777"'

if command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$yml" <<'EOF' || failed=1
import sys
import yaml

with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
problems = []
def want(cond, what):
    if not cond:
        problems.append(what)

services = doc.get("services", {})
os_ = services.get("opensearch", {})
rl = services.get("ostrich", {})
want(str(os_.get("image", "")).startswith("opensearchproject/opensearch:2."),
     "services.opensearch.image is not opensearchproject/opensearch:2.x")
env = os_.get("environment", [])
for item in ("discovery.type=single-node", "DISABLE_SECURITY_PLUGIN=true",
             "DISABLE_INSTALL_DEMO_CONFIG=true"):
    want(item in env, "services.opensearch.environment lacks " + item)
want(any(str(e).startswith("OPENSEARCH_JAVA_OPTS=") for e in env),
     "services.opensearch.environment sets no OPENSEARCH_JAVA_OPTS")
hc = os_.get("healthcheck", {})
want("_cluster/health" in " ".join(hc.get("test", [])),
     "services.opensearch.healthcheck does not ask _cluster/health")
want(any(str(v).endswith(":/usr/share/opensearch/data") and not str(v).startswith(".")
         for v in os_.get("volumes", [])),
     "services.opensearch keeps its data in no named volume")
want(rl.get("build") == ".", "services.ostrich is not built from the Dockerfile")
want(rl.get("depends_on", {}).get("opensearch", {}).get("condition") == "service_healthy",
     "services.ostrich does not wait for a healthy opensearch")
want("./config/compose.toml:/etc/ostrich/ostrich.toml:ro" in rl.get("volumes", []),
     "services.ostrich does not mount config/compose.toml")
want("7777:7777" in rl.get("ports", []), "services.ostrich does not publish 7777")
named = set((doc.get("volumes") or {}).keys())
for svc in (os_, rl):
    for v in svc.get("volumes", []):
        name = str(v).split(":")[0]
        want(name.startswith(".") or name in named, "volume %s is not declared" % name)
for p in problems:
    print("FAIL: docker-compose.yml: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
else
    echo "note: python3 with PyYAML not found; docker-compose.yml not parsed"
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "docker config: ok"
