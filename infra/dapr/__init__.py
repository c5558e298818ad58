"""Dapr on the platform: sidecar annotations, components and configuration."""
