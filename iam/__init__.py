"""registry-iam: IAM-style access manager and token service for container registries."""

__version__ = "0.1.0"
