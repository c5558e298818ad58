"""Dapr on the platform: sidecar annotations, components, configuration and subscriptions."""
