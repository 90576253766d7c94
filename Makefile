# Canopy's Makefile. Every target builds what it needs into ./bin (cached by version), so a machine
# with Linux and Go is enough. `make help` lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BIN ?= $(CURDIR)/bin
GO ?= go
IMG ?= ghcr.io/canopy-dev/canopy:v0.1.0
CONTAINER_TOOL ?= docker

# Pinned tool versions; hack/tools/*/go.mod pin the same versions for the build.
CONTROLLER_GEN_VERSION := v0.23.0
KUBE_VERSION := v1.37.2
ETCD_VERSION := v3.6.16
VERSITYGW_VERSION := v1.8.0
KWOK_VERSION := v0.8.0
PROMETHEUS_OPERATOR_VERSION := v0.91.0
CERT_MANAGER_VERSION := v1.20.3
OPM_VERSION := v1.65.0
OLM_VERSION := v0.42.0
GOLANGCI_LINT_VERSION := v2.15.0
COREDNS_VERSION := v1.12.4
POSTGRES_EXPORTER_VERSION := v0.17.1
# The real-pods tier's PostgreSQL root file system (hack/realpods/postgres-rootfs.sh): bump when
# the script changes.
POSTGRES_ROOTFS_VERSION := v1

CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUBE_APISERVER := $(BIN)/k8s/kube-apiserver-$(KUBE_VERSION)
ETCD := $(BIN)/k8s/etcd-$(ETCD_VERSION)
KUBE_CONTROLLER_MANAGER := $(BIN)/k8s/kube-controller-manager-$(KUBE_VERSION)
KUBE_SCHEDULER := $(BIN)/k8s/kube-scheduler-$(KUBE_VERSION)
KWOK := $(BIN)/k8s/kwok-$(KWOK_VERSION)
KWOKCTL := $(BIN)/k8s/kwokctl-$(KWOK_VERSION)
PROMETHEUS_OPERATOR := $(BIN)/k8s/prometheus-operator-$(PROMETHEUS_OPERATOR_VERSION)
# cert-manager's controllers, run by a small program of ours on its public packages.
CERT_MANAGER := $(BIN)/k8s/cert-manager-$(CERT_MANAGER_VERSION)
# operator-registry's opm: renders, validates and serves the file-based catalog (cgo, for sqlite).
OPM := $(BIN)/opm-$(OPM_VERSION)
# OLM v0's two operators, run as local processes by the OLM end-to-end test (make e2e-olm).
OLM := $(BIN)/k8s/olm-$(OLM_VERSION)
OLM_CATALOG := $(BIN)/k8s/catalog-$(OLM_VERSION)
OLM_LDFLAGS := -X github.com/operator-framework/operator-lifecycle-manager/pkg/version.OLMVersion=$(OLM_VERSION:v%=%)
# The real-pods tier (e2e/real): the node's programs, the cluster DNS, and the images' contents.
KUBELET := $(BIN)/k8s/kubelet-$(KUBE_VERSION)
KUBE_PROXY := $(BIN)/k8s/kube-proxy-$(KUBE_VERSION)
COREDNS := $(BIN)/k8s/coredns-$(COREDNS_VERSION)
POSTGRES_EXPORTER := $(BIN)/k8s/postgres-exporter-$(POSTGRES_EXPORTER_VERSION)
POSTGRES_ROOTFS := $(BIN)/real/postgres-15-rootfs-$(POSTGRES_ROOTFS_VERSION).tar
# The S3-compatible server the backup agent's tests store backups in.
VERSITYGW := $(BIN)/versitygw-$(VERSITYGW_VERSION)
# envtest finds etcd and kube-apiserver under these plain names.
ENVTEST_ASSETS := $(BIN)/envtest-$(KUBE_VERSION)-$(ETCD_VERSION)

KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) \
	-X k8s.io/component-base/version.gitTreeState=clean

GO_TEST_FLAGS ?= -count=1
TEST_TIMEOUT ?= 20m

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs (config/crd/bases) and RBAC (config/rbac/role.yaml) from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./apis/..." paths="./controllers/..." paths="./internal/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy functions for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./apis/..."

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) $(OPM) ## Fail when generated files (CRDs, RBAC, bundle, catalog) are stale.
	CONTROLLER_GEN=$(CONTROLLER_GEN) OPM=$(OPM) hack/verify-generated.sh

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	gofmt -w $$(git ls-files -co --exclude-standard '*.go')

.PHONY: verify-fmt
verify-fmt: ## Fail when a Go file is not gofmt-formatted.
	@out="$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...
	for m in $(TEST_MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml: standard linters, gosec, importas, depguard, lll).
	$(GOLANGCI_LINT) run ./...

.PHONY: tidy-check
tidy-check: ## Fail when go.mod or go.sum are not tidy.
	hack/verify-tidy.sh

.PHONY: postgres
postgres: ## Install PostgreSQL 15 (apt, as root) for the tests that run a real server.
	@bash hack/install-postgres.sh || { [ -z "$${CI:-}" ] && echo "postgres: not installed; the real-PostgreSQL tests will be skipped"; }

.PHONY: test
test: verify-fmt vet lint tidy-check verify-generated envtest postgres $(VERSITYGW) cluster-tools olm-tools build ## Run every check and test, both end-to-end tiers included (the CI command).
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) CANOPY_VERSITYGW=$(VERSITYGW) CANOPY_OPM=$(OPM) $(GO) test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...
	$(TEST_MODULES_TEST)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)
	$(E2E_TEST)
	$(E2E_REAL_TEST)

# Test-only modules (test/*/go.mod) hold tests whose dependencies must stay out of the operator's
# module graph, such as Prometheus' rule engine. They read files of the repository, which Go's test
# cache does not track: -count=1.
# bench/ is one too: its plotting library stays out of the operator's go.mod, and its test keeps the
# benchmark compiling and its rendering right without running it.
TEST_MODULES := $(patsubst %/go.mod,%,$(wildcard test/*/go.mod)) bench
TEST_MODULES_TEST = for m in $(TEST_MODULES); do (cd $$m && $(GO) test -count=1 ./...) || exit 1; done

# The end-to-end suites, each on a simulated cluster it starts and stops itself (e2e/README.md):
# the main suite (./e2e) and the OLM install (./e2e/olm), one package after the other (-p 1) so
# neither runs with half the cores.
E2E_TEST = $(GO) test -tags e2e -count=1 -p 1 -timeout 15m -v ./e2e/... 2>&1 | grep -v '^=== '

.PHONY: e2e
e2e: cluster-tools olm-tools build ## Run only the end-to-end suites (main and OLM) on local simulated clusters (kwok).
	$(E2E_TEST)

# The benchmark (bench/, issue 18): Canopy's convergence, API cost, idle cost and memory at each N
# of BENCH_N (default 1,10,100,500,1000) against the API server's floor, each N on a simulated
# cluster of its own; writes bench/results.json, bench/RESULTS.md and SVG plots. Not part of make
# test: it takes about an hour to N = 1,000. Settings (BENCH_WORKERS, BENCH_IDLE, ...): bench/README.md.
.PHONY: bench
bench: cluster-tools build ## Measure Canopy at 1 to 1,000 Stacks against the API server's floor (bench/RESULTS.md).
	cd bench && $(GO) run . -root .. -out .

# The faults of e2e/README.md ("Faults") run in make e2e bounded (10 manager kills, one control-plane
# restart); make soak runs them longer and writes their figures (faults injected, survived, data
# lost) to bench/soak.json. CANOPY_FAULT_SEED replays the random points of a run (its log names it).
SOAK_KILLS ?= 100
SOAK_RESTARTS ?= 5
.PHONY: soak
soak: cluster-tools build ## Run the faults tests longer (SOAK_KILLS manager kills, SOAK_RESTARTS control-plane restarts); figures in bench/soak.json.
	@mkdir -p bench
	CANOPY_SOAK_KILLS=$(SOAK_KILLS) CANOPY_SOAK_RESTARTS=$(SOAK_RESTARTS) CANOPY_SOAK_OUT=$(CURDIR)/bench/soak.json \
		$(GO) test -tags e2e -count=1 -timeout 90m -v -run '^TestFault' ./e2e/ 2>&1 | grep -v '^=== '

.PHONY: e2e-olm
e2e-olm: cluster-tools olm-tools build ## Run only the OLM install test (e2e/olm; also part of make e2e).
	$(GO) test -tags e2e -count=1 -timeout 10m -v ./e2e/olm/ 2>&1 | grep -v '^=== '

# The real-pods tier (e2e/real, docs/real-pods.md): a single-node cluster whose pods really run,
# inside private network and mount namespaces; root only. The test binary starts itself again in
# the namespaces and checks the host afterwards.
.PHONY: e2e-real
e2e-real: real-tools ## Run the real-pods tier (root): Canopy's Stacks on a real kubelet, containerd and runc.
	$(GO) test -tags realpods -count=1 -parallel 3 -timeout 30m -v ./e2e/real/ 2>&1 | grep -v '^=== '

# make test runs the tier where it can: as root, or in CI (where a missing root fails it).
E2E_REAL_TEST = @if [ "$$(id -u)" -eq 0 ] || [ -n "$${CI:-}" ]; then $(MAKE) --no-print-directory e2e-real; \
	else echo "e2e-real: skipped (the real-pods tier needs root)"; fi

.PHONY: real-packages
real-packages: ## Install the Debian packages of the real-pods tier (apt, as root): containerd, runc, CNI plugins, iptables, mmdebstrap.
	@bash hack/install-realpods.sh

.PHONY: real-tools
real-tools: real-packages envtest $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBELET) $(KUBE_PROXY) $(COREDNS) $(CERT_MANAGER) \
	$(PROMETHEUS_OPERATOR) $(VERSITYGW) $(POSTGRES_EXPORTER) $(POSTGRES_ROOTFS) ## Build what the real-pods tier runs.
	@mkdir -p $(BIN)/real
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/real/canopy ./cmd/canopy
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/real/sample-app ./cmd/sample-app
	$(GO) build -o $(BIN)/real/kubectl-canopy ./cmd/kubectl-canopy
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/real/pause ./e2e/real/cmd/pause

.PHONY: demo-real
demo-real: real-tools ## Run the sample Stack on the real-pods tier (root); Ctrl-C stops it and checks the host.
	$(GO) build -o $(BIN)/real/demo ./e2e/real/cmd/demo
	$(BIN)/real/demo

.PHONY: demo
demo: cluster-tools build ## Run Canopy on a local simulated cluster with the sample Stack; Ctrl-C stops it.
	$(GO) build -o $(BIN)/canopy-demo ./e2e/cmd/demo
	$(BIN)/canopy-demo

# Go native fuzz targets: every func FuzzX of the repository's tests (today those of the builders,
# internal/desired/*/fuzz_test.go). go test ./... runs their committed corpus as ordinary tests, and
# internal/desired's TestFuzzCorpusIsAdmitted dry-runs it against an API server; make fuzz explores
# further, FUZZTIME per target. make test also runs make fuzz, bounded to TEST_FUZZTIME per target
# after go test ./..., which itself does not fuzz: 4 targets x 4s is 16 s of fuzzing; with the
# instrumented builds and the corpus baselines, 45 to 75 s of wall time on a 2-core machine.
FUZZTIME ?= 10s
TEST_FUZZTIME ?= 4s
# Minimizing each new interesting input may take the fuzzer up to a minute by default, during
# which it explores nothing: a short run keeps inputs as found.
FUZZMINIMIZETIME ?= 1s

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (10s); new failing inputs land in the package's testdata/fuzz.
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		for n in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -c6-); do \
			echo "fuzz: $$n ($$(dirname $$f))"; \
			$(GO) test -run='^$$' -fuzz="^$$n\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) ./$$(dirname $$f); \
		done; \
	done

.PHONY: test-unit
test-unit: ## Run only the tests that need no control plane.
	$(GO) test $(GO_TEST_FLAGS) -short ./...
	$(TEST_MODULES_TEST)

##@ Build and run

.PHONY: build
build: ## Build bin/canopy (manager and backup agent) and bin/kubectl-canopy (the kubectl plugin).
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/canopy ./cmd/canopy
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/kubectl-canopy ./cmd/kubectl-canopy

.PHONY: install
install: ## Install the CRDs into the cluster of the current kubeconfig.
	$(GO) run ./hack/install-crds config/crd/bases

.PHONY: run
run: install ## Run the manager against the current kubeconfig (installs the CRDs first).
	$(GO) run ./cmd/canopy manager --metrics-bind-address=0 --leader-elect=false $(RUN_ARGS)

.PHONY: docker-build
docker-build: ## Build the operator image (needs a container engine, which CI machines lack).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: bundle
bundle: ## Generate the OLM bundle (bundle/manifests, metadata, tests) and config/namespaced's RBAC from config/ and internal/images.
	$(GO) run ./hack/gen-bundle -root . -out bundle -namespaced config/namespaced

.PHONY: catalog
catalog: $(OPM) ## Render the bundle into the file-based catalog (catalog/) and run opm validate on it.
	OPM=$(OPM) hack/gen-catalog.sh

.PHONY: bundle-build
bundle-build: ## Build the OLM bundle image (needs a container engine).
	$(CONTAINER_TOOL) build -f bundle.Dockerfile -t $(IMG:canopy:%=canopy-bundle:%) .

##@ Tools (built from source into ./bin, skipped when present)

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) envtest $(VERSITYGW) $(OPM) ## Build every tool.

$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	cd hack/tools/controller-gen && $(GO) build -trimpath -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

# About 6 minutes cold on 2 cores (1.5 minutes of module downloads).
$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	cd hack/tools/golangci-lint && $(GO) build -trimpath -ldflags "-X main.version=$(GOLANGCI_LINT_VERSION:v%=%)" \
		-o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

$(KUBE_APISERVER):
	@mkdir -p $(dir $@)
	cd hack/tools/kube && $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(KUBE_CONTROLLER_MANAGER):
	@mkdir -p $(dir $@)
	cd hack/tools/kube && $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-controller-manager

$(KUBE_SCHEDULER):
	@mkdir -p $(dir $@)
	cd hack/tools/kube && $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-scheduler

$(KUBELET):
	@mkdir -p $(dir $@)
	cd hack/tools/kube && $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kubelet

$(KUBE_PROXY):
	@mkdir -p $(dir $@)
	cd hack/tools/kube && $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-proxy

# CoreDNS with only the plugins the tier's cluster DNS uses (hack/tools/coredns/main.go).
$(COREDNS):
	@mkdir -p $(dir $@)
	cd hack/tools/coredns && CGO_ENABLED=0 $(GO) build -trimpath -o $@ .

$(POSTGRES_EXPORTER):
	@mkdir -p $(dir $@)
	cd hack/tools/postgres-exporter && CGO_ENABLED=0 $(GO) build -trimpath \
		-ldflags "-X github.com/prometheus/common/version.Version=$(POSTGRES_EXPORTER_VERSION:v%=%)" \
		-o $@ github.com/prometheus-community/postgres_exporter/cmd/postgres_exporter

$(POSTGRES_ROOTFS): | real-packages
	@mkdir -p $(dir $@)
	hack/realpods/postgres-rootfs.sh $@

$(KWOK):
	@mkdir -p $(dir $@)
	cd hack/tools/kwok && $(GO) build -trimpath -o $@ sigs.k8s.io/kwok/cmd/kwok

$(KWOKCTL):
	@mkdir -p $(dir $@)
	cd hack/tools/kwok && $(GO) build -trimpath -o $@ sigs.k8s.io/kwok/cmd/kwokctl

.PHONY: cluster-tools
cluster-tools: envtest $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KWOK) $(KWOKCTL) $(PROMETHEUS_OPERATOR) $(CERT_MANAGER) ## Build the simulated cluster's binaries.

$(PROMETHEUS_OPERATOR):
	@mkdir -p $(dir $@)
	cd hack/tools/prometheus-operator && $(GO) build -trimpath -ldflags "-X github.com/prometheus/common/version.Version=$(PROMETHEUS_OPERATOR_VERSION:v%=%)" \
		-o $@ github.com/prometheus-operator/prometheus-operator/cmd/operator

$(CERT_MANAGER): $(wildcard hack/tools/cert-manager/*.go) hack/tools/cert-manager/go.mod
	@mkdir -p $(dir $@)
	cd hack/tools/cert-manager && $(GO) build -trimpath -o $@ .

$(ETCD):
	@mkdir -p $(dir $@)
	cd hack/tools/etcd && $(GO) build -trimpath -o $@ go.etcd.io/etcd/server/v3

# cgo for sqlite (json1), and the openpgp build of containers/image so no gpgme is needed.
$(OPM):
	@mkdir -p $(dir $@)
	cd hack/tools/opm && CGO_ENABLED=1 $(GO) build -trimpath -tags json1,containers_image_openpgp \
		-ldflags "-X github.com/operator-framework/operator-registry/cmd/opm/version.opmVersion=$(OPM_VERSION)" \
		-o $@ github.com/operator-framework/operator-registry/cmd/opm

$(OLM):
	@mkdir -p $(dir $@)
	cd hack/tools/olm && $(GO) build -trimpath -ldflags "$(OLM_LDFLAGS)" -o $@ github.com/operator-framework/operator-lifecycle-manager/cmd/olm

$(OLM_CATALOG):
	@mkdir -p $(dir $@)
	cd hack/tools/olm && $(GO) build -trimpath -ldflags "$(OLM_LDFLAGS)" -o $@ github.com/operator-framework/operator-lifecycle-manager/cmd/catalog

.PHONY: olm-tools
olm-tools: $(OLM) $(OLM_CATALOG) $(OPM) ## Build OLM's olm and catalog operators and opm (the OLM end-to-end test).

.PHONY: opm
opm: $(OPM) ## Build opm (operator-registry), which make catalog and the catalog tests use.

$(VERSITYGW):
	@mkdir -p $(BIN)
	cd hack/tools/versitygw && $(GO) build -trimpath -ldflags "-X main.Version=$(VERSITYGW_VERSION)" -o $@ github.com/versity/versitygw/cmd/versitygw

.PHONY: versitygw
versitygw: $(VERSITYGW) ## Build the S3-compatible server (versitygw) the backup agent's tests use.

.PHONY: envtest
envtest: $(KUBE_APISERVER) $(ETCD) ## Build the control plane binaries envtest runs (KUBEBUILDER_ASSETS).
	@mkdir -p $(ENVTEST_ASSETS)
	@ln -sf $(KUBE_APISERVER) $(ENVTEST_ASSETS)/kube-apiserver
	@ln -sf $(ETCD) $(ENVTEST_ASSETS)/etcd
	@echo "KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS)"
