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

.PHONY: all deps controlplane build lint fmt typecheck test test-unit test-e2e cluster-up cluster-down demo \
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

## kind-e2e: for users with Docker: a kind cluster, the image loaded, the bundle deployed, the samples applied
kind-e2e: image
	kind create cluster --name gpulease --image kindest/node:v1.36.0
	kind load docker-image ghcr.io/gpulease/gpulease:0.1.0 --name gpulease
	kubectl --context kind-gpulease apply --server-side -k config/default
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
