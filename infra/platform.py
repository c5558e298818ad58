"""TodoPlatform: the whole application on one Kubernetes namespace, wired in dependency order.

The order follows the architecture: Namespace, then settings and credentials, then accounts,
then the data services (PostgreSQL, Redis, Kafka and its topics), then the app workloads.
Ordering that matters at deploy time is explicit (``depends_on``): objects wait for their
Namespace, every workload for the settings, credentials and ServiceAccount its pods use, the
topics Job for Kafka, the app workloads for the data services, the Ingress for the Services it
routes to. The engine deletes in the reverse order, so nothing is removed while in use.

``PlatformArgs`` is everything a stack can set, already validated; ``stacks.config.StackConfig``
extends it with the profile it came from. The platform reads no config and knows no
environment names: dev, staging and prod differ only in the data they pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pydantic import Field, SecretStr, model_validator

from app.object_store import Scheme, bucket_problem
from infra.addons import AddonsSettings, ClusterAddons, ClusterAddonsArgs, check_for_cloud
from infra.addons.jaeger import OTLP_HTTP_ENDPOINT as JAEGER_OTLP_HTTP_ENDPOINT
from infra.addons.kube_prometheus_stack import NAMESPACE as MONITORING_NAMESPACE
from infra.alerts import AlertRules, AlertRulesArgs
from infra.app_config import AppConfig, AppConfigArgs, AppSettings, config_map_name
from infra.autoscaling import Autoscaler, AutoscalerArgs, AutoscalingSettings, ReplicaRange
from infra.backend import API_PORT, Backend, BackendArgs
from infra.backend import SERVICE_PORT as API_SERVICE_PORT
from infra.backup import Backup, BackupArgs, BackupSettings
from infra.cluster import ClusterSettings, NoCluster
from infra.cluster.backup_store import BackupAccount, BackupStore
from infra.component import SettingsModel
from infra.cron import runs_every_day
from infra.dapr.resources import Dapr, DaprArgs, configuration_name
from infra.dapr.settings import DaprSettings
from infra.dashboards import Dashboards, DashboardsArgs
from infra.deployment import Spread
from infra.frontend import SERVICE_PORT as WEB_SERVICE_PORT
from infra.frontend import WEB_PORT, Frontend, FrontendArgs
from infra.ingress import Ingress, IngressArgs, IngressSettings
from infra.kafka import CLIENT_PORT as KAFKA_PORT
from infra.kafka import CONTROLLER_PORT as KAFKA_CONTROLLER_PORT
from infra.kafka import EXPORTER_PORT as KAFKA_EXPORTER_PORT
from infra.kafka import Kafka, KafkaArgs, KafkaSettings, bootstrap_servers, kafka_names
from infra.kafka_topics import KafkaTopics, KafkaTopicsArgs, TopicSettings
from infra.labels import PinnedImage, selector_labels
from infra.monitoring import MonitoringSettings, PodMonitors, PodMonitorsArgs, ScrapeTarget
from infra.namespace import Namespace, NamespaceArgs
from infra.naming import child_name, require_dns_label
from infra.network_policies import (
    DataService,
    NetworkPolicies,
    NetworkPoliciesArgs,
    NetworkPolicySettings,
    Pods,
    ingress_networks,
    ingress_peers,
    with_dapr_metrics,
)
from infra.postgres import EXPORTER_PORT as POSTGRES_EXPORTER_PORT
from infra.postgres import POSTGRES_PORT, Postgres, PostgresArgs, PostgresSettings, postgres_names
from infra.rbac import Rbac, RbacArgs, service_account_name
from infra.redis import EXPORTER_PORT as REDIS_EXPORTER_PORT
from infra.redis import EXPORTER_TARGET as REDIS_EXPORTER_TARGET
from infra.redis import REDIS_PORT, Redis, RedisArgs, RedisSettings, redis_names
from infra.relay import METRICS_PORT as RELAY_METRICS_PORT
from infra.relay import Relay, RelayArgs
from infra.secrets import (
    REDIS_PASSWORD_KEY,
    Credentials,
    CredentialsArgs,
    dapr_app_token_secret_name,
    secret_name,
)
from infra.sizes import Size
from infra.tracing import TracingSettings, app_tracing_environment, dapr_tracing
from infra.workload import HTTP_PORT_NAME, METRICS_PORT_NAME, ZoneSpread

WORKLOADS: tuple[str, ...] = (
    "backend",
    "relay",
    "frontend",
    "postgres",
    "redis",
    "kafka",
    "kafka-exporter",
    "kafka-topics",
)
"""Every workload, each with its own ServiceAccount; the backup CronJob's, when it is on, too."""
OBJECT_STORE_SCHEMES: dict[str, Scheme] = {"eks": "s3", "gke": "gs", "aks": "az"}
"""The object store each cloud's stack keeps its dumps in."""


class WorkloadSettings(SettingsModel):
    """What a stack may set about one app Deployment (backend, relay, frontend)."""

    image: PinnedImage | None = Field(
        default=None, description="Image, pinned; unset uses `appImage` (frontend: nginx)."
    )
    replicas: int = Field(
        default=1, ge=1, le=100, description="Pods; with autoscaling, the autoscaler's minimum."
    )
    size: Size = Field(default="small", description="Resource preset or explicit numbers.")
    spread: Spread = Field(
        default="preferred", description="Anti-affinity over nodes: none, preferred, required."
    )
    zones: ZoneSpread = Field(
        default="none",
        description="Spread over availability zones: none, preferred, required (prod: "
        "preferred for the backend and frontend).",
    )
    min_available: int | None = Field(
        default=None, ge=1, description="PDB minAvailable; default all replicas but one."
    )

    @model_validator(mode="after")
    def _budget_below_replicas(self) -> WorkloadSettings:
        if self.min_available is not None and 1 < self.replicas <= self.min_available:
            raise ValueError(
                f"minAvailable={self.min_available} must be below replicas={self.replicas}"
            )
        return self


class PlatformArgs(SettingsModel):
    """Everything that differs between deployments of the platform."""

    namespace: str = Field(description="Namespace every object goes into.")
    instance: str = Field(
        default="todo", description="Instance name: prefix of every object name and label."
    )
    app_image: PinnedImage = Field(
        description="Image of the bundled service (API, migrations and relay) that you build "
        "and push (docs/images.md): `repo:tag`, `repo@sha256:<digest>` (recommended for prod) "
        "or both. Only the dev profile has a default, a local name nothing publishes.",
    )
    app: AppSettings = Field(default_factory=AppSettings, description="Service settings.")
    backend: WorkloadSettings = Field(default_factory=WorkloadSettings, description="The API.")
    relay: WorkloadSettings = Field(
        default_factory=WorkloadSettings, description="The outbox relay."
    )
    frontend: WorkloadSettings = Field(
        default_factory=WorkloadSettings, description="The web UI server."
    )
    postgres: PostgresSettings = Field(default_factory=PostgresSettings, description="Database.")
    backup: BackupSettings = Field(
        default_factory=BackupSettings,
        description="Scheduled dumps of the database to a volume (docs/operations.md).",
    )
    redis: RedisSettings = Field(
        default_factory=RedisSettings, description="Cache and Dapr state store."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings, description="Event broker.")
    topics: TopicSettings = Field(
        default_factory=TopicSettings, description="Layout of the task.* topics."
    )
    dapr: DaprSettings = Field(default_factory=DaprSettings, description="Dapr sidecars.")
    ingress: IngressSettings = Field(
        default_factory=IngressSettings, description="Public entry: host, TLS, limits, CORS."
    )
    autoscaling: AutoscalingSettings = Field(
        default_factory=AutoscalingSettings, description="HPAs of the frontend and backend."
    )
    network_policies: NetworkPolicySettings = Field(
        default_factory=NetworkPolicySettings, description="Default-deny ingress and its allows."
    )
    cluster: ClusterSettings = Field(
        default_factory=NoCluster,
        description="Where to deploy: an existing cluster (none) or one made on EKS, GKE or AKS.",
    )
    addons: AddonsSettings = Field(
        default_factory=AddonsSettings,
        description="Cluster add-ons: ingress-nginx, cert-manager, Dapr, metrics-server, "
        "kube-prometheus-stack, Jaeger; all off.",
    )
    monitoring: MonitoringSettings = Field(
        default_factory=MonitoringSettings,
        description="PodMonitors and alerts for the Prometheus Operator (docs/monitoring.md).",
    )
    tracing: TracingSettings = Field(
        default_factory=TracingSettings,
        description="OTLP export of the service's and the Dapr sidecars' spans (docs/traces.md).",
    )
    postgres_password: SecretStr = Field(
        min_length=16, description="Database password (secret config, at least 16 characters)."
    )
    redis_password: SecretStr = Field(
        min_length=16, description="Redis password (secret config, at least 16 characters)."
    )
    jwt_secret: SecretStr = Field(
        min_length=32, description="JWT signing key (secret config, at least 32 characters)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> PlatformArgs:
        require_dns_label(self.namespace, field="namespace")
        require_dns_label(self.instance, field="instance")
        if self.topics.replication_factor > self.kafka.nodes:
            raise ValueError(
                f"topics.replicationFactor={self.topics.replication_factor} exceeds "
                f"kafka.nodes={self.kafka.nodes}: a partition cannot have more copies than nodes"
            )
        processed, readable = self.app.processed_event_retention_hours, self.topics.readable_hours
        if processed < readable:
            raise ValueError(
                f"app.processedEventRetentionHours={processed} is shorter than the "
                f"{readable} h an event stays readable with topics.retentionHours="
                f"{self.topics.retention_hours} (plus up to {self.topics.segment_hours} h "
                "until its segment is deleted, and 1 h for the broker's check): a consumer "
                "replaying the topics would apply events whose ids were pruned a second time"
            )
        if self.autoscaling.enabled:
            for workload, bounds in (
                ("backend", self.autoscaling.backend),
                ("frontend", self.autoscaling.frontend),
            ):
                keep = getattr(self, workload).min_available
                if keep is not None and bounds.min_replicas > 1 and keep >= bounds.min_replicas:
                    raise ValueError(
                        f"{workload}.minAvailable={keep} must be below "
                        f"autoscaling.{workload}.minReplicas={bounds.min_replicas}: "
                        "the autoscaler may scale down to that many pods"
                    )
        check_for_cloud(self.addons, self.cluster.provider, self.ingress.class_name)
        scraper = self.network_policies.monitoring_namespace
        if (
            self.addons.kube_prometheus_stack.enabled
            and self.network_policies.enabled
            and scraper != MONITORING_NAMESPACE
        ):
            raise ValueError(
                f"networkPolicies.monitoringNamespace={scraper!r} must be "
                f"{MONITORING_NAMESPACE!r}, where addons.kubePrometheusStack.enabled=true runs "
                "Prometheus: the policies would keep it from scraping the pods"
            )
        if self.network_policies.enabled:
            ingress_peers(self.network_policies, self.ingress.class_name)
        self._backup_store_fits_the_cloud()
        if (
            self.tracing.enabled
            and self.tracing.endpoint is None
            and not self.addons.jaeger.enabled
        ):
            raise ValueError(
                "tracing.enabled=true needs a collector: set tracing.endpoint to its OTLP/HTTP "
                "URL, or addons.jaeger.enabled=true to install one"
            )
        if self.tracing.enabled and self.dapr.tracing.exporter != "none":
            raise ValueError(
                f"tracing.enabled=true sets the sidecars' tracing too, but "
                f"dapr.tracing.exporter={self.dapr.tracing.exporter!r} sets it again: keep one"
            )
        if (
            self.backup.enabled
            and self.monitoring.enabled
            and not runs_every_day(self.backup.schedule)
        ):
            raise ValueError(
                f"backup.schedule={self.backup.schedule!r} skips some days, and with "
                "monitoring.enabled=true the TodoBackupMissing alert fires after 26 h without "
                "a successful dump: schedule a dump at least daily (e.g. '30 2 * * *')"
            )
        return self

    @property
    def tracing_endpoint(self) -> str:
        """Where spans go: the stack's collector, else the Jaeger add-on."""
        return self.tracing.endpoint or JAEGER_OTLP_HTTP_ENDPOINT

    @property
    def effective_dapr(self) -> DaprSettings:
        """``dapr`` with its tracing sent where the service's goes, when the stack traces."""
        if not self.tracing.enabled:
            return self.dapr
        return self.dapr.model_copy(
            update={"tracing": dapr_tracing(self.tracing, self.tracing_endpoint)}
        )

    def _backup_store_fits_the_cloud(self) -> None:
        """``backup.objectStore`` needs a cloud cluster the stack makes, and names that cloud
        accepts; each error names the key."""
        store = self.backup.object_store
        if store is None:
            return
        provider = self.cluster.provider
        if not self.backup.enabled:
            raise ValueError("backup.objectStore is set but backup.enabled is false")
        scheme = OBJECT_STORE_SCHEMES.get(provider)
        if scheme is None:
            raise ValueError(
                f"backup.objectStore needs cluster.provider eks, gke or aks (got {provider!r}): "
                "the stack creates the bucket and its workload identity with the cluster"
            )
        problem = bucket_problem(scheme, store.bucket)
        if problem:
            raise ValueError(f"backup.objectStore.bucket: {problem}")
        if (provider == "aks") != (store.account is not None):
            raise ValueError(
                "backup.objectStore.account is required with cluster.provider aks (the storage "
                "account the stack creates) and only there"
            )

    def backup_account(self) -> BackupAccount | None:
        """Who may use the backup bucket, when the stack makes one: the CronJob's account."""
        store = self.backup.object_store
        if store is None or not self.backup.enabled:
            return None
        return BackupAccount(
            namespace=self.namespace,
            service_account=service_account_name(self.instance, "backup"),
            settings=store,
        )


class TodoPlatform(pulumi.ComponentResource):
    """The application platform; its attributes are the stack's outputs."""

    namespace: str
    endpoints: dict[str, str]
    kafka_bootstrap: str

    def __init__(
        self,
        name: str,
        args: PlatformArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        backup_store: BackupStore | None = None,
    ) -> None:
        super().__init__("todo:infra:Platform", name, None, opts)
        ns, instance = args.namespace, args.instance
        # Cluster-wide, so before the app: its Dapr objects and certificates need their CRDs.
        addons = ClusterAddons(
            f"{name}-addons",
            ClusterAddonsArgs(
                settings=args.addons,
                cloud=args.cluster.provider,
                ingress_class=args.ingress.class_name,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        namespace = Namespace(
            f"{name}-namespace",
            NamespaceArgs(namespace=ns, instance=instance),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        postgres_host = postgres_names(instance, args.postgres.image).host(ns)
        redis_host = redis_names(instance, args.redis.image).host(ns)
        bootstrap = bootstrap_servers(instance, ns)
        secret = secret_name(instance)
        settings_map = config_map_name(instance)
        dapr_config = configuration_name(instance)

        app_settings = AppConfig(
            f"{name}-settings",
            AppConfigArgs(
                namespace=ns,
                instance=instance,
                settings=args.app,
                kafka_bootstrap=bootstrap,
                database_migration_role=args.postgres.migration_role,
                tracing_environment=app_tracing_environment(args.tracing, args.tracing_endpoint),
                ingress_networks=(
                    ingress_networks(args.network_policies, args.ingress.class_name)
                    if args.network_policies.enabled
                    else ()
                ),
            ),
            opts=in_namespace,
        )
        credentials = Credentials(
            f"{name}-credentials",
            CredentialsArgs(
                namespace=ns,
                instance=instance,
                postgres_password=args.postgres_password,
                redis_password=args.redis_password,
                jwt_secret=args.jwt_secret,
                postgres_host=postgres_host,
                postgres_port=POSTGRES_PORT,
                postgres_database=args.postgres.database,
                postgres_user=args.postgres.user,
                postgres_app_user=args.postgres.app_user,
                postgres_monitor_user=args.postgres.monitor_user,
                postgres_backup_user=args.postgres.backup_user,
                redis_host=redis_host,
                redis_port=REDIS_PORT,
                redis_exporter_target=REDIS_EXPORTER_TARGET,
                dapr_sidecars=args.dapr.enabled,
            ),
            opts=in_namespace,
        )
        rbac = Rbac(
            f"{name}-rbac",
            RbacArgs(
                namespace=ns,
                instance=instance,
                workloads=(*WORKLOADS, "backup") if args.backup.enabled else WORKLOADS,
            ),
            opts=in_namespace,
            annotations={"backup": backup_store.service_account_annotations}
            if backup_store
            else None,
        )

        def account(workload: str) -> str:
            return service_account_name(instance, workload)

        def runs_as(
            *workloads: str, after: Sequence[pulumi.Resource] = ()
        ) -> pulumi.ResourceOptions:
            """Options of a workload component: it waits for what its pods use (namespace,
            settings, credentials, the workloads' ServiceAccounts) and for ``after``, so it is
            created after them and deleted before them. Pods refer to these objects by name
            only, so without the edges the engine would order them at random."""
            accounts = [rbac.accounts[workload] for workload in workloads]
            return pulumi.ResourceOptions(
                parent=self,
                depends_on=[namespace, app_settings, credentials, *accounts, *after],
            )

        postgres = Postgres(
            f"{name}-postgres",
            PostgresArgs(
                namespace=ns,
                instance=instance,
                settings=args.postgres,
                secret_name=secret,
                service_account_name=account("postgres"),
            ),
            opts=runs_as("postgres"),
        )
        backup = (
            Backup(
                f"{name}-backup",
                BackupArgs(
                    namespace=ns,
                    instance=instance,
                    settings=args.backup,
                    image=args.postgres.image,
                    app_image=args.app_image,
                    postgres_host=postgres.host,
                    postgres_port=postgres.port,
                    database=args.postgres.database,
                    user=args.postgres.backup_user,
                    secret_name=secret,
                    service_account_name=account("backup"),
                    destination=backup_store.destination if backup_store else None,
                ),
                # The bucket's grants first: a dump before them would be refused.
                opts=runs_as(
                    "backup", after=[postgres, *(backup_store.grants if backup_store else ())]
                ),
            )
            if args.backup.enabled
            else None
        )
        redis = Redis(
            f"{name}-redis",
            RedisArgs(
                namespace=ns,
                instance=instance,
                settings=args.redis,
                secret_name=secret,
                service_account_name=account("redis"),
            ),
            opts=runs_as("redis"),
        )
        kafka = Kafka(
            f"{name}-kafka",
            KafkaArgs(
                namespace=ns,
                instance=instance,
                settings=args.kafka,
                service_account_name=account("kafka"),
                exporter_service_account_name=account("kafka-exporter"),
            ),
            opts=runs_as("kafka", "kafka-exporter"),
        )
        KafkaTopics(
            f"{name}-topics",
            KafkaTopicsArgs(
                namespace=ns,
                instance=instance,
                settings=args.topics,
                image=args.kafka.image,
                bootstrap=kafka.bootstrap,
                service_account_name=account("kafka-topics"),
            ),
            opts=runs_as("kafka-topics", after=[kafka]),
        )

        # Sidecars fail to start without their Configuration, so the apps wait for Dapr's objects.
        dapr = (
            [
                Dapr(
                    f"{name}-dapr",
                    DaprArgs(
                        namespace=ns,
                        instance=instance,
                        settings=args.effective_dapr,
                        redis_address=f"{redis_host}:{REDIS_PORT}",
                        secret_name=secret,
                        redis_password_key=REDIS_PASSWORD_KEY,
                        kafka_brokers=bootstrap,
                    ),
                    opts=pulumi.ResourceOptions(
                        parent=self, depends_on=[namespace, *addons.dapr_ready]
                    ),
                )
            ]
            if args.dapr.enabled
            else []
        )
        # The API and the relay export spans, to the Jaeger add-on when the stack installs it.
        data = [
            postgres,
            redis,
            kafka,
            *dapr,
            *(addons.tracing_ready if args.tracing.enabled else []),
        ]
        scaling = args.autoscaling
        backend = Backend(
            f"{name}-backend",
            BackendArgs(
                namespace=ns,
                instance=instance,
                **_workload(
                    args.backend, args.app_image, scaling.backend if scaling.enabled else None
                ),
                service_account_name=account("backend"),
                config_map_name=settings_map,
                secret_name=secret,
                postgres_host=postgres_host,
                postgres_port=POSTGRES_PORT,
                postgres_user=args.postgres.user,
                wait_image=args.postgres.image,
                dapr=args.dapr,
                dapr_config_name=dapr_config,
                dapr_app_token_secret=dapr_app_token_secret_name(instance),
            ),
            opts=runs_as("backend", after=data),
        )
        # After the backend: its rollout completes only once migrations created the outbox.
        relay = Relay(
            f"{name}-relay",
            RelayArgs(
                namespace=ns,
                instance=instance,
                **_workload(args.relay, args.app_image),
                service_account_name=account("relay"),
                config_map_name=settings_map,
                secret_name=secret,
            ),
            opts=runs_as("relay", after=[*data, backend]),
        )
        frontend = Frontend(
            f"{name}-frontend",
            FrontendArgs(
                namespace=ns,
                instance=instance,
                **_workload(args.frontend, None, scaling.frontend if scaling.enabled else None),
                service_account_name=account("frontend"),
            ),
            opts=runs_as("frontend"),
        )
        backend_name, frontend_name = (
            child_name(instance, "backend"),
            child_name(instance, "frontend"),
        )
        if scaling.enabled:
            for workload, target, bounds in (
                ("backend", backend, scaling.backend),
                ("frontend", frontend, scaling.frontend),
            ):
                Autoscaler(
                    f"{name}-{workload}-autoscaler",
                    AutoscalerArgs(
                        namespace=ns,
                        instance=instance,
                        deployment_name=child_name(instance, workload),
                        component=workload,
                        replicas=bounds,
                        policy=scaling.policy,
                    ),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[target]),
                )
        self.url: str | None = None
        if args.ingress.enabled:
            ingress = Ingress(
                f"{name}-ingress",
                IngressArgs(
                    namespace=ns,
                    instance=instance,
                    settings=args.ingress,
                    backend_service=backend_name,
                    frontend_service=frontend_name,
                    await_address=args.ingress.await_load_balancer
                    if args.ingress.await_load_balancer is not None
                    else args.addons.ingress_nginx.enabled,
                ),
                # The routes name the Services: without these edges the Ingress was created
                # before them (the controller warns of a rule with no Service) and deleted after.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[
                        namespace,
                        backend.service,
                        frontend.service,
                        *addons.cert_manager_ready,
                    ],
                ),
            )
            self.url = ingress.url
        if args.monitoring.enabled:
            _monitoring(
                name,
                args,
                targets=tuple(
                    ScrapeTarget(component=component, selector=selector, port=port)
                    for component, selector, port in (
                        ("backend", backend.selector, HTTP_PORT_NAME),
                        ("relay", relay.selector, METRICS_PORT_NAME),
                        ("postgres", postgres.selector, METRICS_PORT_NAME),
                        ("redis", redis.selector, METRICS_PORT_NAME),
                        ("kafka-exporter", kafka.exporter_selector, METRICS_PORT_NAME),
                    )
                ),
                backup=backup,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[namespace, *addons.monitoring_ready]
                ),
            )
        if args.network_policies.enabled:
            NetworkPolicies(
                f"{name}-network-policies",
                _network_policies_args(
                    args, backend=backend, relay=relay, frontend=frontend, backup=backup
                ),
                opts=in_namespace,
            )

        self.namespace = ns
        self.kafka_bootstrap = kafka.bootstrap
        self.endpoints = {
            "api": f"http://{child_name(instance, 'backend')}.{ns}.svc.cluster.local:"
            f"{API_SERVICE_PORT}",
            "frontend": f"http://{child_name(instance, 'frontend')}.{ns}.svc.cluster.local:"
            f"{WEB_SERVICE_PORT}",
            "postgres": f"{postgres.host}:{postgres.port}",
            "redis": f"{redis.host}:{redis.port}",
            "kafka": kafka.bootstrap,
        }
        self.backend = backend
        self.frontend = frontend
        self.register_outputs(
            {
                "namespace": self.namespace,
                "endpoints": self.endpoints,
                "kafka_bootstrap": self.kafka_bootstrap,
                "url": self.url,
            }
        )


def _workload(
    settings: WorkloadSettings, default_image: str | None, autoscaled: ReplicaRange | None = None
) -> dict[str, object]:
    """The Args fields of an app workload that come straight from its settings.

    With an autoscaler (``autoscaled`` is its range) the HPA owns the count: the Deployment
    leaves ``replicas`` unset and the PDB is sized for the HPA's minimum.
    """
    fields = settings.model_dump(exclude_none=True)
    image = settings.image or default_image
    if image is not None:
        fields["image"] = image
    if autoscaled is not None:
        fields["replicas"] = autoscaled.min_replicas
        fields["autoscaled"] = True
    return fields


def _monitoring(
    name: str,
    args: PlatformArgs,
    *,
    targets: tuple[ScrapeTarget, ...],
    backup: Backup | None,
    opts: pulumi.ResourceOptions,
) -> None:
    """PodMonitors for every pod that serves metrics, the alerts and the dashboards that read
    them."""
    instance = args.instance
    PodMonitors(
        f"{name}-pod-monitors",
        PodMonitorsArgs(
            namespace=args.namespace, instance=instance, settings=args.monitoring, targets=targets
        ),
        opts=opts,
    )
    AlertRules(
        f"{name}-alerts",
        AlertRulesArgs(
            namespace=args.namespace,
            instance=instance,
            thresholds=args.monitoring.alerts,
            labels=args.monitoring.labels,
            backup_cron_job=backup.cron_job_name if backup else None,
        ),
        opts=opts,
    )
    Dashboards(
        f"{name}-dashboards",
        DashboardsArgs(namespace=args.namespace, instance=instance),
        opts=opts,
    )


def _network_policies_args(
    args: PlatformArgs,
    *,
    backend: Backend,
    relay: Relay,
    frontend: Frontend,
    backup: Backup | None,
) -> NetworkPoliciesArgs:
    """Who may reach whom: the paths of this platform, as selectors and ports."""
    instance = args.instance
    postgres = postgres_names(instance, args.postgres.image).selector
    redis = redis_names(instance, args.redis.image).selector
    kafka = kafka_names(instance, args.kafka.image).selector
    kafka_clients = (
        backend.selector,
        relay.selector,
        selector_labels("kafka-exporter", instance, "kafka-exporter"),
        selector_labels("kafka-topics", instance, "kafka-topics"),
    )
    api = Pods(name="backend", selector=backend.selector, ports=(API_PORT,))
    web = Pods(name="frontend", selector=frontend.selector, ports=(WEB_PORT,))
    exporters = (
        Pods(name="postgres", selector=postgres, ports=(POSTGRES_EXPORTER_PORT,)),
        Pods(name="redis", selector=redis, ports=(REDIS_EXPORTER_PORT,)),
        Pods(
            name="kafka-exporter",
            selector=selector_labels("kafka-exporter", instance, "kafka-exporter"),
            ports=(KAFKA_EXPORTER_PORT,),
        ),
    )
    # The web server has no metrics and no sidecar, so nothing scrapes the frontend.
    scraped_api = with_dapr_metrics(api) if args.dapr.enabled else api
    return NetworkPoliciesArgs(
        namespace=args.namespace,
        instance=instance,
        settings=args.network_policies,
        ingress_class=args.ingress.class_name,
        acme_http01=args.ingress.enabled and args.ingress.tls,
        public=(web, api),
        data_services={
            "postgres": DataService(
                pods=Pods(name="postgres", selector=postgres, ports=(POSTGRES_PORT,)),
                clients=(
                    backend.selector,
                    relay.selector,
                    *((backup.selector,) if backup else ()),
                ),
            ),
            "redis": DataService(
                pods=Pods(name="redis", selector=redis, ports=(REDIS_PORT,)),
                clients=(backend.selector,),
            ),
            "kafka": DataService(
                pods=Pods(name="kafka", selector=kafka, ports=(KAFKA_PORT,)),
                clients=kafka_clients,
                peer_ports=(KAFKA_PORT, KAFKA_CONTROLLER_PORT),
            ),
        },
        dapr_apps=(Pods(name="backend", selector=api.selector),) if args.dapr.enabled else (),
        metrics=(
            scraped_api,
            Pods(name="relay", selector=relay.selector, ports=(RELAY_METRICS_PORT,)),
            *exporters,
        ),
    )
