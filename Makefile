# MiniLLM: `make demo` runs the whole pipeline, `make test` runs the test suite.
# Both install missing system packages first (scripts/bootstrap).

SWIFT ?= swift
CONFIG ?= release

# AVX2/FMA from the command line when this CPU has them (never in Package.swift: unsafe flags
# would make the package unusable as a dependency). Without them the code stays correct.
HAS_AVX2 := $(shell grep -q -w avx2 /proc/cpuinfo 2>/dev/null && grep -q -w fma /proc/cpuinfo 2>/dev/null && echo yes)
ifeq ($(HAS_AVX2),yes)
CPU_FLAGS ?= -Xswiftc -target-cpu -Xswiftc haswell -Xcc -mavx2 -Xcc -mfma
else
CPU_FLAGS ?=
endif

BUILD_FLAGS = -c $(CONFIG) $(CPU_FLAGS)
DEMO_ARGS ?=
DEMO_MINUTES ?= 15

.PHONY: all bootstrap peers build test test-cores lint format demo bench clean

all: build

bootstrap:
	@scripts/bootstrap

# The interop tests' peers (PyTorch CPU, transformers, llama.cpp, Chromium, ...) in
# .build/peers-venv, installed once per clone (scripts/peers).
peers:
	@scripts/peers

build: bootstrap
	$(SWIFT) build $(BUILD_FLAGS)

test: bootstrap peers lint
	$(SWIFT) build $(BUILD_FLAGS) --build-tests
	$(SWIFT) test $(BUILD_FLAGS) --skip-build --xunit-output .build/test-results.xml

# The suite once per OpenBLAS kernel set (Haswell SkylakeX Zen Sandybridge Prescott) and once on
# one thread; CORES="Haswell one-thread" runs some of the passes.
CORES ?=
test-cores: bootstrap peers
	$(SWIFT) build $(BUILD_FLAGS) --build-tests
	SWIFT=$(SWIFT) BUILD_FLAGS="$(BUILD_FLAGS)" scripts/test-cores $(CORES)

lint:
	$(SWIFT) format lint --strict --recursive --parallel Package.swift Sources Examples Tests

format:
	$(SWIFT) format --in-place --recursive --parallel Package.swift Sources Examples Tests

# `make demo` as a whole (bootstrap and build included) aims at DEMO_MINUTES: the demo gets the
# minutes the build left (at least 5). `DEMO_ARGS="--minutes M"` overrides that.
demo:
	@start=$$(date +%s); \
	scripts/bootstrap && $(SWIFT) build $(BUILD_FLAGS) && \
	minutes=$$(awk -v s=$$start -v now=$$(date +%s) -v m=$(DEMO_MINUTES) \
	  'BEGIN { r = m - (now - s) / 60; if (r < 5) r = 5; printf "%.1f", r }') && \
	echo "make demo: $$minutes of $(DEMO_MINUTES) minutes left for minillm demo" && \
	$(SWIFT) run $(BUILD_FLAGS) --skip-build minillm demo --minutes $$minutes $(DEMO_ARGS)

bench: build
	$(SWIFT) run $(BUILD_FLAGS) --skip-build minillm bench gemm

clean:
	rm -rf .build
