"""A local Kubernetes control plane for deploying the stacks without a cloud.

Real etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from their Go modules
(``scripts/k8s-toolchain``), with KWOK simulating the nodes and the pods' lifecycles, and Dapr's
Sentry, operator and sidecar injector (``stacks.local.dapr_control_plane``): objects go through
real admission (Dapr's injection included), controllers and scheduling, but no container ever
runs. See docs/local-cluster.md. Entry points: :func:`stacks.local.cluster.ensure_started` and
``todo-infra local start|stop|status``.
"""
