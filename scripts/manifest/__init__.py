"""The services manifest (``services.yaml``): its schema, loader, generators and checks.

``python -m scripts.manifest.generate`` rewrites every generated file; ``--check`` fails, naming
the service and the place, when a generated or checked file disagrees with the manifest.
"""

from scripts.manifest.model import Manifest, ManifestError, Service, load

__all__ = ["Manifest", "ManifestError", "Service", "load"]
