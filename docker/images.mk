# Container images. Included from the root Makefile (`include docker/images.mk`); run from the
# repository root.
#   make images                                  # all images, tag $(VERSION)
#   make images REGISTRY=ghcr.io/acme/ VERSION=1.2.0 && make images-push REGISTRY=... VERSION=...
#   make images TORCH_VARIANT=cu128              # CUDA build: compute and the ML services tagged
#                                                # $(VERSION)-cu128 (base, data, gateway, cli: $(VERSION))
# Every service image builds FROM base (or compute for the ML services) of the same VERSION.

REGISTRY ?=
VERSION ?= dev
ifeq ($(origin REVISION),undefined)
REVISION := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
endif
ifeq ($(origin CREATED),undefined)
CREATED := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
endif
TORCH_VARIANT ?= cpu
DOCKER ?= docker
DOCKER_BUILD ?= $(DOCKER) build
export DOCKER_BUILDKIT := 1
# Optional BuildKit cache backend for buildx builders (CI: BUILD_CACHE=gha), one scope per image.
BUILD_CACHE ?=
comma := ,
cache_args = $(if $(BUILD_CACHE),--cache-from type=$(BUILD_CACHE)$(comma)scope=$(1) --cache-to type=$(BUILD_CACHE)$(comma)scope=$(1)$(comma)mode=max)

# Services and their API port (DESIGN §1). Add a service here when its folder lands.
IMAGE_SERVICES ?= data training evaluation
COMPUTE_SERVICES := training tuning evaluation
SERVICE_PORT_data := 8001
SERVICE_PORT_training := 8002
SERVICE_PORT_tuning := 8003
SERVICE_PORT_evaluation := 8004
SERVICE_PORT_strategy := 8005

IMAGE_PREFIX := $(REGISTRY)trading-optimization
COMPUTE_TAG := $(VERSION)$(if $(filter-out cpu,$(TORCH_VARIANT)),-$(TORCH_VARIANT))
OCI_ARGS = --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg CREATED=$(CREATED)
base_of = $(if $(filter $(1),$(COMPUTE_SERVICES)),$(IMAGE_PREFIX)-compute:$(COMPUTE_TAG),$(IMAGE_PREFIX)-base:$(VERSION))
# ML service images carry the torch variant in their tag, like compute: a CUDA build never
# overwrites the CPU image of the same VERSION.
# The CLI runs every service in-process: once an ML service is built, it builds on compute too.
cli_base = $(if $(needs_compute),$(IMAGE_PREFIX)-compute:$(COMPUTE_TAG),$(IMAGE_PREFIX)-base:$(VERSION))
TORCH_IMAGES = compute $(COMPUTE_SERVICES) $(if $(needs_compute),cli)
tag_of = $(if $(filter $(1),$(TORCH_IMAGES)),$(COMPUTE_TAG),$(VERSION))
needs_compute := $(filter $(COMPUTE_SERVICES),$(IMAGE_SERVICES))

IMAGE_NAMES := base $(if $(needs_compute),compute) $(IMAGE_SERVICES) gateway cli

.PHONY: images images-push image-base image-compute image-gateway image-cli images-list \
	$(addprefix image-,$(IMAGE_SERVICES))

images: image-base $(if $(needs_compute),image-compute) $(addprefix image-,$(IMAGE_SERVICES)) image-gateway image-cli

image-base:
	$(DOCKER_BUILD) -f docker/base.Dockerfile $(OCI_ARGS) $(call cache_args,base) -t $(IMAGE_PREFIX)-base:$(VERSION) .

image-compute: image-base
	$(DOCKER_BUILD) -f docker/compute.Dockerfile $(OCI_ARGS) $(call cache_args,compute-$(TORCH_VARIANT)) \
		--build-arg BASE_IMAGE=$(IMAGE_PREFIX)-base:$(VERSION) \
		--build-arg TORCH_VARIANT=$(TORCH_VARIANT) \
		-t $(IMAGE_PREFIX)-compute:$(COMPUTE_TAG) .

$(addprefix image-,$(IMAGE_SERVICES)): image-%: image-base $(if $(needs_compute),image-compute)
	$(DOCKER_BUILD) -f docker/service.Dockerfile $(OCI_ARGS) $(call cache_args,$*) \
		--build-arg SERVICE=$* --build-arg SERVICE_PORT=$(SERVICE_PORT_$*) \
		--build-arg BASE_IMAGE=$(call base_of,$*) \
		-t $(IMAGE_PREFIX)-$*:$(call tag_of,$*) .

image-gateway:
	$(DOCKER_BUILD) -f docker/gateway.Dockerfile $(OCI_ARGS) $(call cache_args,gateway) -t $(IMAGE_PREFIX)-gateway:$(VERSION) .

image-cli: image-base $(if $(needs_compute),image-compute)
	$(DOCKER_BUILD) -f docker/cli.Dockerfile $(OCI_ARGS) $(call cache_args,cli) \
		--build-arg BASE_IMAGE=$(cli_base) \
		-t $(IMAGE_PREFIX)-cli:$(call tag_of,cli) .

images-push:
	@for image in $(IMAGE_NAMES); do \
		tag=$(VERSION); case " $(TORCH_IMAGES) " in *" $$image "*) tag=$(COMPUTE_TAG) ;; esac; \
		echo "push $(IMAGE_PREFIX)-$$image:$$tag"; \
		$(DOCKER) push $(IMAGE_PREFIX)-$$image:$$tag || exit 1; \
	done

images-list:
	@for image in $(IMAGE_NAMES); do \
		tag=$(VERSION); case " $(TORCH_IMAGES) " in *" $$image "*) tag=$(COMPUTE_TAG) ;; esac; \
		echo $(IMAGE_PREFIX)-$$image:$$tag; \
	done
