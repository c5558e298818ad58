"""The control plane's certificates, keys and kubeconfigs, generated once per state folder.

One local CA signs everything: the API server's and etcd's serving certificates, and a client
certificate per component, whose subject is the identity RBAC sees (``system:kube-scheduler``
...). ECDSA P-256 keys, because they are generated in milliseconds; the API server signs
service-account tokens with one too (ES256).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stacks.local.settings import ClusterSettings

LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
# The first address of the service range (kube-apiserver --service-cluster-ip-range): in-cluster
# clients reach the API server as the `kubernetes` Service there.
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = ipaddress.IPv4Address("10.96.0.1")
API_SERVER_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class Identity:
    """A client certificate's subject: the user name and groups the API server authorizes."""

    file: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = Identity("admin", "todo-local-admin", ("system:masters",))
CONTROLLER_MANAGER = Identity("kube-controller-manager", "system:kube-controller-manager")
SCHEDULER = Identity("kube-scheduler", "system:kube-scheduler")
# KWOK writes the status of every node and pod, as all the kubelets of a cluster would; the
# Node authorizer admits a kubelet only for its own node, so KWOK runs as an administrator.
KWOK = Identity("kwok", "system:kwok", ("system:masters",))
ETCD_CLIENT = Identity("etcd-client", "kube-apiserver-etcd-client")
CLIENTS = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KWOK, ETCD_CLIENT)


@dataclass(frozen=True)
class Pki:
    """Paths of the generated files, as the components' flags name them."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def service_account_key(self) -> Path:
        return self.dir / "service-account.key"

    @property
    def service_account_pub(self) -> Path:
        return self.dir / "service-account.pub"

    def cert(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    def kubeconfig(self, identity: Identity) -> Path:
        return self.dir / f"{identity.file}.kubeconfig"


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _issue(
    pki: Pki,
    name: str,
    subject: x509.Name,
    usages: list[x509.ObjectIdentifier],
    alt_names: list[x509.GeneralName] | None = None,
) -> None:
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)  # _create_ca writes an EC key
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(pki.key(name), key)
    pki.cert(name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _create_ca(pki: Pki) -> None:
    key = _new_key()
    subject = _name("todo-local-cluster-ca")
    cert = (
        _builder(subject, subject, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(pki.ca_key, key)
    pki.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_kubeconfig(pki: Pki, identity: Identity, server: str) -> None:
    """A kubeconfig with the CA and the client's certificate embedded, so it can be copied."""

    def data(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "todo-local",
                "cluster": {"server": server, "certificate-authority-data": data(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": identity.user,
                "user": {
                    "client-certificate-data": data(pki.cert(identity.file)),
                    "client-key-data": data(pki.key(identity.file)),
                },
            }
        ],
        "contexts": [
            {"name": "todo-local", "context": {"cluster": "todo-local", "user": identity.user}}
        ],
        "current-context": "todo-local",
    }
    path = pki.kubeconfig(identity)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def ensure_pki(settings: ClusterSettings) -> Pki:
    """The state folder's PKI, created on first use and reused after, like the etcd data it
    protects. Kubeconfigs are rewritten each time, so a changed API port takes effect."""
    pki = Pki(settings.pki_dir)
    if not pki.ca_cert.exists():
        pki.dir.mkdir(parents=True, exist_ok=True)
        pki.dir.chmod(0o700)
        _create_ca(pki)
        server = [ExtendedKeyUsageOID.SERVER_AUTH]
        client = [ExtendedKeyUsageOID.CLIENT_AUTH]
        loopback: list[x509.GeneralName] = [x509.IPAddress(LOOPBACK), x509.DNSName("localhost")]
        _issue(
            pki,
            "kube-apiserver",
            _name("kube-apiserver"),
            server,
            [
                *loopback,
                x509.IPAddress(KUBERNETES_SERVICE_IP),
                *(x509.DNSName(name) for name in API_SERVER_NAMES),
            ],
        )
        # Peers authenticate each other with it too, hence both usages.
        _issue(pki, "etcd", _name("etcd"), [*server, *client], loopback)
        for identity in CLIENTS:
            _issue(pki, identity.file, _name(identity.user, identity.groups), client)
        _write_key(pki.service_account_key, _new_key())
        sa_key = serialization.load_pem_private_key(
            pki.service_account_key.read_bytes(), password=None
        )
        pki.service_account_pub.write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    for identity in (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KWOK):
        _write_kubeconfig(pki, identity, settings.api_url)
    return pki
