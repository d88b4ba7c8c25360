# Thin wrapper over CMake. `make run` builds and starts the relay on the
# defaults (or CONFIG=path/to/ostrich.toml); `make test` runs every test.
CONFIG ?=
JOBS := $(shell nproc)

.PHONY: all deps build run test bench bench-load format format-check clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build/release -j $(JOBS) --target ostrich

run: build
	./build/release/relay/ostrich $(if $(CONFIG),--config $(CONFIG))

test:
	@scripts/test.sh

bench: deps
	@bench/validate.sh

# The load benchmark of the relay (bench/run.sh): every scenario, or those
# named in SCENARIOS, e.g. `make bench-load SCENARIOS="ingest fanout"`.
bench-load: deps
	@bench/run.sh $(SCENARIOS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
