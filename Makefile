# Quiver's two entry points. Both install libclang (needed by RocksDB's bindings) when missing.

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
ROWS ?= 100000

.PHONY: deps demo test bench

# libclang for rocksdb's bindgen, a C++ compiler for RocksDB itself, and tmux for the test
# that drives the interactive prompt in a real terminal.
deps:
	@# bindgen loads libclang.so / libclang-NN.so; libclang-cpp.so (often present alone) is not it.
	@if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* \
			/usr/lib/*/libclang-[0-9]*.so* >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then \
		echo "installing clang and libclang-dev (needed to build RocksDB)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq clang libclang-dev; \
	fi
	@command -v tmux >/dev/null 2>&1 || { echo "installing tmux (the shell's terminal test)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tmux; }

# The shell on ./quiver-data with the reference accounts workload ($(ROWS) rows).
demo: deps
	cargo run --release -p quiver -- demo --rows $(ROWS)

# Every test of the workspace (the benchmark crate is not a default member). The example runs
# without -p so that it shares the test build's features instead of needing a second build.
test: deps
	cargo test
	cargo run -q --example embed

# The benchmark at 100k and 1M rows (release build).
bench: deps
	cargo run --release -p quiver-bench -- --rows 100000 --rows 1000000
