# Thin wrapper over CMake. `make run` builds and starts the relay on the
# defaults (or CONFIG=path/to/ostrich.toml); `make test` runs every test.
CONFIG ?=
JOBS := $(shell nproc)

.PHONY: all deps build run test bench format format-check clean

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

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
