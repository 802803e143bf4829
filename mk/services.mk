# generated from services.yaml by `make generate` — do not edit.
# Included by the Makefile and docker/images.mk.

# Built services (their folders exist), in manifest order.
SERVICES := data training tuning evaluation strategy
# Planned services (DESIGN §1; not built, nothing runs them).
PLANNED_SERVICES := 
# Built services whose image builds on trading-optimization-compute (torch).
COMPUTE_SERVICES := training tuning evaluation strategy
# Editable installs of the services and the pyproject.toml files they come from.
SERVICE_PACKAGES := -e services/data -e services/training -e services/tuning -e services/evaluation -e services/strategy
SERVICE_PYPROJECTS := services/data/pyproject.toml services/training/pyproject.toml services/tuning/pyproject.toml services/evaluation/pyproject.toml services/strategy/pyproject.toml
# API port of each built service.
SERVICE_PORT_data := 8001
SERVICE_PORT_training := 8002
SERVICE_PORT_tuning := 8003
SERVICE_PORT_evaluation := 8004
SERVICE_PORT_strategy := 8005
