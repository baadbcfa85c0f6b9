# The two set-up commands (see README.md):
#   make run    install what is missing, build, fetch the default model, embed sample sentences
#   make test   install what is missing, build, run the whole suite (plus sanitizer build, fuzz smoke)
# Everything else here is a step of those two, but `make install PREFIX=DIR` (default /usr/local):
# the library, sutra.h, sutra.pc, the CMake package and the CLI, as `cmake --install` puts them.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
CUDA_BUILD ?= build-cuda
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)
export SUTRA_MODELS_DIR ?= $(HOME)/.cache/sutra/models

.PHONY: run test deps model build test-unit test-asan fuzz-smoke cuda-build install clean

run: deps model build
	./$(BUILD)/sutra info
	./$(BUILD)/sutra embed --similarity \
	  "A man is playing a guitar." \
	  "Someone is strumming a guitar." \
	  "The stock market fell sharply today." \
	  "Ein Mann spielt Gitarre."

# The CUDA compile (its GPU tests skip without a GPU), fuzz smoke and sanitizer build run first,
# and the main CTest suite last, so the log ends with the suite's own pass/fail summary.
test: deps model build cuda-build fuzz-smoke test-asan test-unit
	@echo "make test: all stages passed (cuda-build, fuzz-smoke, test-asan, test-unit)"

deps:
	@bash scripts/install-deps.sh
	@bash scripts/install-pydeps.sh

model:
	@bash scripts/fetch-model.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The suite includes CTest's `install`: this build installed into a temporary prefix and used from
# outside through pkg-config and find_package(Sutra) (tests/install/run.sh).
test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j 2

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSUTRA_SANITIZE=ON > /dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -j 2 -LE slow

fuzz-smoke:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSUTRA_FUZZ=ON -DSUTRA_TESTS=OFF > /dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	bash scripts/fuzz-smoke.sh $(FUZZ_BUILD)

# The CUDA backend compiles wherever nvcc is installed (with the CUTLASS headers that
# scripts/fetch-cutlass.sh installs, when it can); its tests skip (with a message) when there is
# no GPU. GPU correctness and speed are checked on a GPU machine: scripts/gpu-check.sh.
cuda-build:
	@if command -v nvcc > /dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then \
	  export PATH="$$PATH:/usr/local/cuda/bin"; \
	  bash scripts/fetch-cutlass.sh || echo "cuda-build: CUTLASS headers not fetched; building without the Hopper fused-GELU product"; \
	  cmake -S . -B $(CUDA_BUILD) -DCMAKE_BUILD_TYPE=Release -DSUTRA_CUDA=ON > /dev/null && \
	  cmake --build $(CUDA_BUILD) -j $(JOBS) && \
	  ctest --test-dir $(CUDA_BUILD) --output-on-failure -L cuda && \
	  { nvidia-smi -L > /dev/null 2>&1 || echo "cuda-build: CUDA code compiled; GPU tests SKIPPED: no CUDA device on this machine (run scripts/gpu-check.sh on a GPU machine)"; }; \
	else echo "cuda-build: SKIP: no nvcc on this machine"; fi

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(CUDA_BUILD)
