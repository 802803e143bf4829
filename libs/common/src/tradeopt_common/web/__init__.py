"""FastAPI glue shared by every service: app factory, problem+json, auth, health, pagination."""
