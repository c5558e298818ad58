"""An EKS cluster in its own VPC, with IRSA, a managed node group, EBS CSI and a gp3 class.

Layout: a VPC over three availability zones, each with a small public subnet (NAT gateway and
load balancers only) and a large private subnet (nodes and pods). Nodes never get public
addresses; the API endpoint is private, and public only for ``api_public_cidrs``.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Sequence
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field

from infra.cluster.access import cluster_provider, exec_kubeconfig
from infra.cluster.backup_store import BackupAccount
from infra.cluster.eks_backups import EksBackupStore
from infra.cluster.irsa import irsa_trust
from infra.cluster.settings import EksSettings, RegistrySettings
from infra.cluster.storage import STORAGE_CLASSES, default_storage_class
from infra.labels import MANAGED_BY, PART_OF

ZONES = 3
"""Three zones: a zone outage leaves two thirds of the nodes, and Kafka keeps its quorum."""

_MANAGED = "arn:aws:iam::aws:policy/"
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
"""The one policy the control plane needs (ENIs, load balancers, the cluster security group)."""
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
)
"""Join the cluster, run the VPC CNI, pull images: read-only ECR, nothing else."""
REGISTRY_PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
"""What pulling an image from one repository takes; the login token comes with the managed
pull-only policy (``ecr:GetAuthorizationToken`` has no repository to scope it to)."""
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"


class EksClusterArgs(BaseModel):
    """What the EKS component needs: its validated settings block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: EksSettings = Field(description="The stack's `cluster` block (provider: eks).")
    backup: BackupAccount | None = Field(
        default=None, description="The backup CronJob's account, for an S3 bucket of its own."
    )


def subnet_cidrs(vpc_cidr: str) -> tuple[list[str], list[str]]:
    """Split the VPC into three private quarters and three small public blocks in the fourth.

    Private subnets hold every pod (the VPC CNI gives pods VPC addresses), so they get nearly
    all of the space; public subnets hold only NAT gateways and load balancer ENIs.
    """
    vpc = ipaddress.IPv4Network(vpc_cidr)
    quarters = list(vpc.subnets(prefixlen_diff=2))
    public = list(quarters[3].subnets(prefixlen_diff=2))[:ZONES]
    return [str(block) for block in quarters[:ZONES]], [str(block) for block in public]


def _assume_role(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )


def _zone_subnet(
    name: str,
    *,
    vpc: aws.ec2.Vpc,
    cidr: str,
    zone: pulumi.Input[str],
    load_balancers: Literal["elb", "internal-elb"],
    route_table: aws.ec2.RouteTable,
    opts: pulumi.ResourceOptions,
) -> aws.ec2.Subnet:
    """A subnet of one zone, routed by ``route_table``; no instance in it gets a public address.

    ``load_balancers`` is the tag by which the AWS load balancer integration picks the subnets
    for internet-facing (``elb``) or internal (``internal-elb``) load balancers.
    """
    subnet = aws.ec2.Subnet(
        name,
        vpc_id=vpc.id,
        cidr_block=cidr,
        availability_zone=zone,
        map_public_ip_on_launch=False,
        tags={"Name": name, f"kubernetes.io/role/{load_balancers}": "1"},
        opts=opts,
    )
    aws.ec2.RouteTableAssociation(
        name, subnet_id=subnet.id, route_table_id=route_table.id, opts=opts
    )
    return subnet


def _service_role(
    name: str, *, service: str, policies: Sequence[str], opts: pulumi.ResourceOptions
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """The role ``{name}-role`` that the AWS ``service`` assumes, with the AWS managed
    ``policies`` attached as ``{name}-<policy>``.

    The attachments are returned so that what runs under the role can depend on them: it is
    created only once its policies are attached, and destroyed before they are detached.
    """
    role = aws.iam.Role(f"{name}-role", assume_role_policy=_assume_role(service), opts=opts)
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy}", role=role.name, policy_arn=_MANAGED + policy, opts=opts
        )
        for policy in policies
    ]
    return role, attachments


def _pull_policy(repository_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": list(REGISTRY_PULL_ACTIONS),
                    "Resource": repository_arn,
                }
            ],
        }
    )


def _registry(
    name: str, settings: RegistrySettings, *, node_role: aws.iam.Role, opts: pulumi.ResourceOptions
) -> tuple[aws.ecr.Repository, aws.iam.RolePolicy]:
    """The app image's ECR repository and the node role's right to pull from it.

    Tags are immutable, so a tag the stack names always means the same image, and every push is
    scanned. The managed pull-only policy already reaches every repository of the account (it
    is how nodes pull EKS's own add-on images); the statement naming this repository keeps the
    grant explicit, survives a narrower node policy, and is what the cluster's provider waits
    for before any pod asks for the image.
    """
    repository = aws.ecr.Repository(
        f"{name}-repository",
        name=settings.name,
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
            scan_on_push=True
        ),
        opts=opts,
    )
    pull = aws.iam.RolePolicy(
        f"{name}-node-pull",
        role=node_role.name,
        policy=repository.arn.apply(_pull_policy),
        opts=opts,
    )
    return repository, pull


def _zone(names: list[str], *, index: int) -> str:
    if len(names) < ZONES:
        raise ValueError(
            f"the region offers {len(names)} availability zones ({', '.join(names)}); "
            f"EKS here needs {ZONES}"
        )
    return names[index]


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    """The cluster's OIDC issuer URL, which EKS reports once the cluster exists."""
    for identity in identities or ():
        for oidc in identity.oidcs or ():
            if oidc.issuer:
                return oidc.issuer
    raise ValueError("the EKS cluster reports no OIDC issuer: IRSA cannot be set up")


def _kubeconfig(args: list[Any], region: str) -> str:
    name, endpoint, ca_data = args
    return exec_kubeconfig(
        cluster=name,
        server=endpoint,
        ca_data=ca_data,
        command="aws",
        args=["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
    )


class EksCluster(pulumi.ComponentResource):
    """A production EKS cluster; ``provider`` deploys onto it, ``kubeconfig`` is secret."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    storage_class_name: str
    oidc_provider_arn: pulumi.Output[str]
    registry_url: pulumi.Output[str] | None
    backup_store: EksBackupStore | None

    def __init__(
        self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:EksCluster", name, None, opts)
        settings = args.settings
        aws_provider = aws.Provider(
            f"{name}-aws",
            region=settings.region,
            default_tags=aws.ProviderDefaultTagsArgs(
                tags={"part-of": PART_OF, "managed-by": MANAGED_BY, **settings.tags}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=aws_provider)

        zones = aws.get_availability_zones_output(
            region=settings.region,
            state="available",
            opts=pulumi.InvokeOutputOptions(parent=self, provider=aws_provider),
        )
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            opts=child,
        )
        private_cidrs, public_cidrs = subnet_cidrs(settings.vpc_cidr)
        private_subnets: list[aws.ec2.Subnet] = []
        for index in range(ZONES):
            zone = zones.names.apply(functools.partial(_zone, index=index))
            public = _zone_subnet(
                f"{name}-public-{index}",
                vpc=vpc,
                cidr=public_cidrs[index],
                zone=zone,
                load_balancers="elb",
                route_table=public_route_table,
                opts=child,
            )
            address = aws.ec2.Eip(
                f"{name}-nat-{index}",
                domain="vpc",
                tags={"Name": f"{name}-nat-{index}"},
                opts=child,
            )
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{index}",
                allocation_id=address.id,
                subnet_id=public.id,
                tags={"Name": f"{name}-nat-{index}"},
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=[gateway])
                ),
            )
            # One NAT gateway per zone: a zone outage does not cut the other zones' egress.
            private_route_table = aws.ec2.RouteTable(
                f"{name}-private-{index}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                opts=child,
            )
            private = _zone_subnet(
                f"{name}-private-{index}",
                vpc=vpc,
                cidr=private_cidrs[index],
                zone=zone,
                load_balancers="internal-elb",
                route_table=private_route_table,
                opts=child,
            )
            private_subnets.append(private)
        private_ids = [subnet.id for subnet in private_subnets]

        cluster_role, cluster_attachments = _service_role(
            f"{name}-cluster", service="eks.amazonaws.com", policies=CLUSTER_POLICIES, opts=child
        )
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            role_arn=cluster_role.arn,
            version=settings.version,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=private_ids,
                endpoint_private_access=True,
                endpoint_public_access=bool(settings.api_public_cidrs),
                public_access_cidrs=list(settings.api_public_cidrs) or None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=cluster_attachments)
            ),
        )
        issuer = cluster.identities.apply(_oidc_issuer)
        # The VPC CNI enforces NetworkPolicies only when told to; the stack relies on them.
        aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=cluster.name,
            addon_name="vpc-cni",
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=child,
        )
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            opts=child,
        )

        self.backup_store = (
            EksBackupStore(
                f"{name}-backups", args.backup, region=settings.region, oidc=oidc, opts=child
            )
            if args.backup
            else None
        )

        node_role, node_attachments = _service_role(
            f"{name}-node", service="ec2.amazonaws.com", policies=NODE_POLICIES, opts=child
        )
        pool = settings.node_pool
        node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=private_ids,
            instance_types=[pool.instance_type],
            capacity_type=settings.capacity_type,
            disk_size=pool.disk_gb,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min, max_size=pool.max, desired_size=max(pool.min, 1)
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={"app.kubernetes.io/part-of": PART_OF},
            # The cluster autoscaler owns the current size; Pulumi owns only the bounds.
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=node_attachments, ignore_changes=["scalingConfig.desiredSize"]
                ),
            ),
        )

        registry = (
            _registry(f"{name}-registry", settings.registry, node_role=node_role, opts=child)
            if settings.registry.enabled
            else None
        )

        ebs_role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=pulumi.Output.all(oidc.arn, oidc.url).apply(
                lambda values: irsa_trust(values[0], values[1], EBS_CSI_SERVICE_ACCOUNT)
            ),
            opts=child,
        )
        ebs_attachment = aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy",
            role=ebs_role.name,
            policy_arn=_MANAGED + EBS_CSI_POLICY,
            opts=child,
        )
        ebs_csi = aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=cluster.name,
            addon_name="aws-ebs-csi-driver",
            service_account_role_arn=ebs_role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[node_group, ebs_attachment])
            ),
        )

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name, cluster.endpoint, cluster.certificate_authority.data
            ).apply(lambda values: _kubeconfig(values, settings.region))
        )
        self.provider = cluster_provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            identifier=cluster.arn,
            parent=self,
            depends_on=[node_group, ebs_csi, *([registry[1]] if registry else [])],
        )
        self.storage_class_name = STORAGE_CLASSES["eks"].name
        default_storage_class(
            f"{name}-storage-class",
            "eks",
            provider=self.provider,
            parent=self,
            depends_on=[ebs_csi],
        )
        self.oidc_provider_arn = oidc.arn
        self.registry_url = registry[0].repository_url if registry else None
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "cluster_name": cluster.name,
                "oidc_provider_arn": oidc.arn,
                "vpc_id": vpc.id,
                "registry_url": self.registry_url,
            }
        )
