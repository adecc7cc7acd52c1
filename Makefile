# scd — make run builds the bundled sample; make test is what CI runs.
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
FUZZTIME    ?= 8s
FUZZMINTIME ?= 1s
BENCHTIME   ?= 3x

.PHONY: all build run test test-short fuzz fuzz-long bench lint clean less-deps

all: build

build: less-deps
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/scd ./cmd/scd
	$(GO) build -o bin/scd-gen ./cmd/scd-gen

# The main job on the bundled fixtures: 3 themes × their locales.
run: build
	./bin/scd --matrix fixtures/sample/themes.yml

# Unit, end-to-end (txtar) and acceptance tests, then a short run of every fuzz target.
# Under the race detector builder/precompress alone takes 3–4 minutes on two cores
# (pure-Go brotli over megabyte inputs), too close to go test's default 10-minute
# timeout on a loaded machine; the timeout is raised for the whole run.
test: less-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) fuzz

test-short: less-deps
	$(GO) test -count=1 ./...

# less.js for the LESS compiler (builder/less), at the version its package-lock.json
# pins: tests, and a binary built here, load it from builder/less/node_modules.
less-deps: builder/less/node_modules/.package-lock.json

builder/less/node_modules/.package-lock.json: builder/less/package.json builder/less/package-lock.json
	npm ci --prefix builder/less --no-audit --no-fund

# Every Fuzz* target for FUZZTIME (make fuzz FUZZTIME=5m for a long run).
# Each input that finds new coverage is minimized for at most FUZZMINTIME:
# with go test's default (60s) a short run spends most of its time
# minimizing one input (0 execs/s).
# Go 1.26's fuzzing coordinator can end a run that found nothing with a bare
# "context deadline exceeded" when FUZZTIME runs out (golang/go#75804,
# fixed in Go 1.27): such a run, with no failing input written, is reported
# and not counted as a failure. Any other failing run is shown and run once
# more: an input that crashes is saved under testdata/fuzz and fails the
# second run too, while a fuzzing worker lost to a loaded machine does not.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    if $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINTIME) $$pkg >$$log 2>&1; then \
	      continue; \
	    fi; \
	    if grep -qx '    context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
	      echo "fuzz $$pkg $$f: ended by the coordinator's deadline race (golang/go#75804), no failing input"; \
	      continue; \
	    fi; \
	    tail -30 $$log; echo "fuzz $$pkg $$f failed; running it again"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINTIME) $$pkg; \
	  done; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZTIME=5m

# Go benchmarks of every stage, and the matrix benchmarks of benchmarks/RESULTS.md.
bench: less-deps
	$(GO) test -run='^$$' -bench=. -benchtime=$(BENCHTIME) ./benchmarks/ ./builder/...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

clean:
	rm -rf bin fixtures/sample/build
