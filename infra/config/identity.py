"""Cloud workload identities of the platform's ServiceAccounts (keyless object-store access).

A ServiceAccount the platform renders (the registry's, each inference service's, the team's
``kubeai-training``) can carry one cloud identity, given as a typed block instead of free-text
annotations, and rendered into what that cloud's identity webhook or metadata server reads:

* EKS, IAM roles for service accounts (IRSA): ServiceAccount annotation
  ``eks.amazonaws.com/role-arn: <role ARN>``; the EKS pod identity webhook then injects
  ``AWS_ROLE_ARN``, ``AWS_WEB_IDENTITY_TOKEN_FILE`` and its own projected token volume
  (``aws-iam-token``), so it works with ``automountServiceAccountToken: false``
  (https://github.com/aws/amazon-eks-pod-identity-webhook, pkg/handler testdata).
* GKE, Workload Identity Federation: ServiceAccount annotation
  ``iam.gke.io/gcp-service-account: <name>@<project>.iam.gserviceaccount.com``; the GKE metadata
  server answers for the pod (node pools of a Workload-Identity cluster default to
  ``GKE_METADATA``), and the Google service account must grant ``roles/iam.workloadIdentityUser``
  to ``<project>.svc.id.goog[<namespace>/<ServiceAccount>]``.
* ACK, RAM roles for service accounts (RRSA) through ack-pod-identity-webhook: ServiceAccount
  annotation ``pod-identity.alibabacloud.com/role-name: <RAM role name>`` plus the label
  ``pod-identity.alibabacloud.com/injection: "on"`` on the pod or its namespace; the webhook then
  injects ``ALIBABA_CLOUD_ROLE_ARN``, ``ALIBABA_CLOUD_OIDC_PROVIDER_ARN``,
  ``ALIBABA_CLOUD_OIDC_TOKEN_FILE`` and a projected token volume
  (https://www.alibabacloud.com/help/en/container-service-for-kubernetes/latest/ack-pod-identity-webhook;
  AliyunContainerService/ack-ram-tool examples/rrsa).

``ServiceAccountConfig`` adds a free ``annotations`` map for anything else. ``identity_problems``
refuses an identity that does not belong to the cluster's provider, with the key path;
``rrsa_problems`` refuses RRSA for a reader of the artifact store that cannot use it (Argo's S3
artifact driver). The glue services (registry, serving agents) can: they exchange the token for
STS credentials themselves (``glue.artifacts.rrsa``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from infra.config.shared import NAMESPACE, AnnotationKey, Strict

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
GKE_ANNOTATION = "iam.gke.io/gcp-service-account"
RRSA_ANNOTATION = "pod-identity.alibabacloud.com/role-name"
#: Label (on the pod or its namespace) that makes ack-pod-identity-webhook inject RRSA settings.
RRSA_INJECTION_LABEL = "pod-identity.alibabacloud.com/injection"
RRSA_INJECTION_ON = "on"

#: Which provider each identity kind belongs to.
KIND_PROVIDER = {"awsRoleArn": "eks", "gcpServiceAccount": "gke", "alicloudRoleName": "ack"}

#: Most bytes of an object's annotations, keys and values together (Kubernetes'
#: ``TotalAnnotationSizeLimitB``, apimachinery ``ValidateAnnotationsSize``).
ANNOTATIONS_SIZE_LIMIT = 256 * 1024


class WorkloadIdentity(Strict):
    """One cloud identity, exactly one of:

    * ``awsRoleArn`` (EKS IRSA): an IAM role ARN, ``arn:aws:iam::<12 digits>:role/<name>``;
    * ``gcpServiceAccount`` (GKE Workload Identity): a Google service account e-mail,
      ``<name>@<project>.iam.gserviceaccount.com``;
    * ``alicloudRoleName`` (ACK RRSA): a RAM role name (1-64 letters, digits, ``.``, ``-``).
    """

    aws_role_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
    )
    gcp_service_account: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$",
    )
    alicloud_role_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]{1,64}$")

    @model_validator(mode="after")
    def _exactly_one(self) -> WorkloadIdentity:
        given = [k for k in KIND_PROVIDER if getattr(self, _field(k)) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of {', '.join(KIND_PROVIDER)}; got "
                f"{', '.join(given) if given else 'none'}"
            )
        return self

    @property
    def kind(self) -> Literal["awsRoleArn", "gcpServiceAccount", "alicloudRoleName"]:
        """The key that is set."""
        if self.aws_role_arn is not None:
            return "awsRoleArn"
        if self.gcp_service_account is not None:
            return "gcpServiceAccount"
        return "alicloudRoleName"

    @property
    def provider(self) -> str:
        """The ``kubeai:cluster.provider`` this identity belongs to (``eks``, ``gke``, ``ack``)."""
        return KIND_PROVIDER[self.kind]

    def annotations(self) -> dict[str, str]:
        """The ServiceAccount annotation its cloud reads (module docstring)."""
        if self.aws_role_arn is not None:
            return {IRSA_ANNOTATION: self.aws_role_arn}
        if self.gcp_service_account is not None:
            return {GKE_ANNOTATION: self.gcp_service_account}
        assert self.alicloud_role_name is not None  # exactly one is set
        return {RRSA_ANNOTATION: self.alicloud_role_name}

    def pod_labels(self) -> dict[str, str]:
        """Labels the pods need besides the annotation: RRSA's injection switch on ACK."""
        return {RRSA_INJECTION_LABEL: RRSA_INJECTION_ON} if self.alicloud_role_name else {}


def _field(alias: str) -> str:
    return {
        "awsRoleArn": "aws_role_arn",
        "gcpServiceAccount": "gcp_service_account",
        "alicloudRoleName": "alicloud_role_name",
    }[alias]


class ServiceAccountConfig(Strict):
    """A ServiceAccount's cloud identity (``workloadIdentity``) and extra ``annotations``.

    Annotation keys are Kubernetes qualified names (``AnnotationKey``: as label keys, but the
    prefix may have capitals);
    keys and values together take at most 256 KiB (``ANNOTATIONS_SIZE_LIMIT``). An annotation may
    not repeat the one ``workloadIdentity`` renders (give it once).
    """

    workload_identity: WorkloadIdentity | None = None
    annotations: dict[AnnotationKey, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict
    )

    @field_validator("annotations")
    @classmethod
    def _size(cls, annotations: dict[str, str]) -> dict[str, str]:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
        if size > ANNOTATIONS_SIZE_LIMIT:
            raise ValueError(
                f"take {size} bytes (keys and values), more than the {ANNOTATIONS_SIZE_LIMIT} "
                "(256 KiB) Kubernetes admits on one object"
            )
        return annotations

    @model_validator(mode="after")
    def _no_clash(self) -> ServiceAccountConfig:
        if self.workload_identity is not None:
            clash = set(self.workload_identity.annotations()) & set(self.annotations)
            if clash:
                raise ValueError(
                    f"annotation {clash.pop()!r} is what workloadIdentity renders; give it once"
                )
        return self

    def all_annotations(self) -> dict[str, str]:
        """Every annotation of the ServiceAccount (identity first, then ``annotations``)."""
        identity = self.workload_identity.annotations() if self.workload_identity else {}
        return {**identity, **self.annotations}

    def pod_labels(self) -> dict[str, str]:
        """Labels the pods running as this account need (``WorkloadIdentity.pod_labels``)."""
        return self.workload_identity.pod_labels() if self.workload_identity else {}


def identity_problems(
    account: ServiceAccountConfig, provider: str, key: str
) -> list[tuple[str, str]]:
    """``[(key path, message)]`` when ``account``'s identity does not belong to ``provider``.

    ``key`` is the account's key path without the namespace (``glue.serviceAccount``).
    """
    identity = account.workload_identity
    if identity is None or identity.provider == provider:
        return []
    return [
        (
            f"{NAMESPACE}:{key}.workloadIdentity.{identity.kind}",
            f"is an identity of {identity.provider} clusters but kubeai:cluster.provider is "
            f"{provider!r}"
            + (
                f"; on an existing cluster give the identity's annotation under {key}.annotations"
                if provider == "existing"
                else ""
            ),
        )
    ]


#: Readers of the artifact store that reach OSS through its S3-compatible API with an AWS SDK
#: whose credential chain reads AWS settings only and cannot exchange the RRSA token
#: (``ALIBABA_CLOUD_OIDC_TOKEN_FILE``) for STS credentials: their pods would run with none. The
#: glue services are not among them: ``glue.artifacts.rrsa`` does that exchange for ``oss://``.
ARGO_READER = "Argo's S3 artifact driver (minio-go) reads OSS"


def rrsa_problems(account: ServiceAccountConfig, key: str, reader: str) -> list[tuple[str, str]]:
    """``[(key path, message)]`` when ``account`` has an RRSA identity but ``reader``
    (``ARGO_READER``) cannot use it. Static keys work (the Pulumi secrets
    ``kubeai:artifactStoreAccessKeyId``/``artifactStoreSecretAccessKey``)."""
    identity = account.workload_identity
    if identity is None or identity.alicloud_role_name is None:
        return []
    return [
        (
            f"{NAMESPACE}:{key}.workloadIdentity.alicloudRoleName",
            f"{reader} through its S3-compatible API, whose AWS credential chain cannot use "
            "RRSA; set the Pulumi secrets kubeai:artifactStoreAccessKeyId and "
            "kubeai:artifactStoreSecretAccessKey instead (RRSA stays available to the registry, "
            "the serving agents and training jobs: kubeai:glue.serviceAccount, "
            "kubeai:serviceAccounts.serving, kubeai:serviceAccounts.training)",
        )
    ]
