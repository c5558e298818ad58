"""A local Kubernetes control plane for deploying the stacks without a cloud.

Real etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from their Go modules
(``scripts/k8s-toolchain``), with KWOK simulating the nodes and the pods' lifecycles: objects go
through real admission, controllers and scheduling, but no container ever runs. See
docs/local-cluster.md. Entry points: :func:`stacks.local.cluster.ensure_started` and
``todo-infra local start|stop|status``.
"""
