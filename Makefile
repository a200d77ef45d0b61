# gpulease — every target runs on the Node 24 that the `node` devDependency installs (npm puts
# node_modules/.bin first on PATH for npm scripts and npx).
SHELL := bash
NODES ?= 4
INTERNAL_NODES ?= 2
GPUS ?= 8
PRODUCT ?= NVIDIA-H100-80GB-HBM3
KUBECONFIG_LOCAL := .cluster/kubeconfig
# The release's version is package.json's; the image tag follows it (config/manager and the chart name
# the same tag, and a test holds them to it).
VERSION := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' package.json)
IMG ?= ghcr.io/gpulease/gpulease:$(VERSION)

.PHONY: all deps controlplane kueue build lint fmt typecheck test test-unit test-e2e cluster-up cluster-down demo \
	deploy undeploy manifests image kind-e2e bench bench-smoke clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

## controlplane: build (once, cached in ~/.cache/gpulease) etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
controlplane:
	bash hack/build-controlplane.sh >/dev/null

build: deps
	npm run build

## lint: the linter and formatter (Biome), the type checker, and the Dockerfile's lint
lint: deps
	npm run lint
	npm run typecheck
	npx dockerfile-utils lint Dockerfile

fmt: deps
	npm run format

typecheck: deps
	npm run typecheck

## test: everything CI runs: lint, type check, unit tests and end-to-end tests against a real control plane
test: deps controlplane tools kueue lint
	npm test

test-unit: deps
	npm run test:unit

test-e2e: deps controlplane tools kueue
	npm run test:e2e

## cluster-up: a local control plane with simulated GPU nodes in the background; kubeconfig in .cluster/kubeconfig
cluster-up: deps controlplane
	npm run cluster:up -- --nodes $(NODES) --internal-nodes $(INTERNAL_NODES) --gpus $(GPUS) --product $(PRODUCT)

cluster-down: deps
	npm run cluster:down

## demo: the local cluster, the CRDs, the operator and sample tenants; Ctrl-C stops everything
demo: deps controlplane
	npm run demo

## manifests: render the install bundle (CRDs, RBAC, operator, admission policies) to dist/install.yaml
manifests:
	mkdir -p dist && kubectl kustomize config/default > dist/install.yaml

## deploy / undeploy: install or remove gpulease on the cluster of the current kubeconfig context
deploy:
	kubectl apply --server-side -k config/default

undeploy:
	kubectl delete --ignore-not-found -k config/default

## image: the operator's container image, tagged $(IMG): with Docker when an engine answers, else podman
## (the base image made locally, no pull; see hack/build-image.sh)
image: deps
	IMG=$(IMG) bash hack/build-image.sh >/dev/null

## kueue: Kueue's manager, CRDs and webhook manifests for the Kueue e2e tests (built once, cached)
kueue:
	bash hack/build-kueue.sh >/dev/null

## tools: helm and promtool for the chart and alert tests (built once from the Go module proxy, cached)
tools:
	bash hack/build-tools.sh >/dev/null

## release: dist/install.yaml, the packaged chart and the image tarball of package.json's version
release: deps
	IMG=$(IMG) bash hack/release.sh

## kind-e2e: for users with Docker (untested here: no Docker engine): a kind cluster of kind's default
## node image, the image built here loaded into it (never pulled), the bundle deployed, the samples applied
kind-e2e:
	@docker info >/dev/null 2>&1 || { echo "kind-e2e needs a Docker engine"; exit 1; }
	IMG=$(IMG) CONTAINER_ENGINE=docker bash hack/build-image.sh >/dev/null
	kind create cluster --name gpulease
	kind load docker-image $(IMG) --name gpulease
	kubectl --context kind-gpulease apply --server-side -k config/default
	kubectl --context kind-gpulease -n gpulease-system set image deploy/gpulease-operator operator=$(IMG)
	kubectl --context kind-gpulease -n gpulease-system rollout status deploy/gpulease-operator --timeout=180s
	kubectl --context kind-gpulease apply -f config/samples/
	kubectl --context kind-gpulease get gpuleases -A

## bench: every benchmark at full size (prints tables, writes bench/results/*.json and BENCHMARKS.md)
bench: deps controlplane
	npm run bench

## bench-smoke: a small run of every benchmark (about 30 s; never judged on wall time)
bench-smoke: deps controlplane
	npm run bench:smoke

clean:
	rm -rf dist .cluster
