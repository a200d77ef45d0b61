# gpulease — every target runs on the Node 24 that the `node` devDependency installs (npm puts
# node_modules/.bin first on PATH for npm scripts and npx).
SHELL := bash
NODES ?= 4
INTERNAL_NODES ?= 2
GPUS ?= 8
PRODUCT ?= NVIDIA-H100-80GB-HBM3
KUBECONFIG_LOCAL := .cluster/kubeconfig

.PHONY: all deps controlplane build lint fmt typecheck test test-unit test-e2e cluster-up cluster-down demo clean

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

## lint: the linter and formatter (Biome) and the type checker
lint: deps
	npm run lint
	npm run typecheck

fmt: deps
	npm run format

typecheck: deps
	npm run typecheck

## test: everything CI runs: lint, type check, unit tests and end-to-end tests against a real control plane
test: deps controlplane lint
	npm test

test-unit: deps
	npm run test:unit

test-e2e: deps controlplane
	npm run test:e2e

## cluster-up: a local control plane with simulated GPU nodes in the background; kubeconfig in .cluster/kubeconfig
cluster-up: deps controlplane
	npm run cluster:up -- --nodes $(NODES) --internal-nodes $(INTERNAL_NODES) --gpus $(GPUS) --product $(PRODUCT)

cluster-down: deps
	npm run cluster:down

## demo: the local cluster, the CRDs, the operator and sample tenants; Ctrl-C stops everything
demo: deps controlplane
	npm run demo

clean:
	rm -rf dist .cluster
