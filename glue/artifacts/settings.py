"""Settings of the artifact store, read once from the environment.

One ``ArtifactSettings`` class (pydantic-settings) with nested groups per backend. Every variable
starts with ``KUBEAI_ARTIFACTS_``; nested keys use ``__``::

    KUBEAI_ARTIFACTS_LOCAL_ROOT=/var/lib/kubeai/artifacts
    KUBEAI_ARTIFACTS_ALLOWED_SCHEMES='["file", "s3"]'
    KUBEAI_ARTIFACTS_S3__ENDPOINT_URL=http://minio.storage:9000
    KUBEAI_ARTIFACTS_S3__ADDRESSING_STYLE=path
    KUBEAI_ARTIFACTS_OSS__ENDPOINT_URL=https://oss-cn-hangzhou.aliyuncs.com
    KUBEAI_ARTIFACTS_OSS__STS_ENDPOINT=sts-vpc.cn-hangzhou.aliyuncs.com
    KUBEAI_ARTIFACTS_GCS__TOKEN=google_default

Endpoints and regions only ever come from these structured settings; artifact URIs carry just a
scheme, a bucket and a key (``s3://models/resnet/3``), never a host. Invalid values raise
``pydantic.ValidationError`` whose ``loc`` is the key path (e.g. ``("s3", "endpoint_url")``) and
whose message says what would be valid.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Scheme = Literal["file", "s3", "gs", "oss"]
"""URI schemes the store understands."""

_REGION_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

ENV_PREFIX = "KUBEAI_ARTIFACTS_"
"""Prefix of ``ArtifactSettings``' environment variables when read on their own."""


def env_var(key_path: str, *, prefix: str = ENV_PREFIX) -> str:
    """The environment variable of the setting at ``key_path``, for messages that tell an operator
    what to set: ``env_var("oss.endpoint_url")`` is ``KUBEAI_ARTIFACTS_OSS__ENDPOINT_URL``;
    ``prefix`` is the one the settings were read with (see ``nested_env_prefix``)."""
    return prefix + "__".join(part.upper() for part in key_path.split("."))


def nested_env_prefix(parent: type[BaseSettings], field: str) -> str:
    """The environment prefix of ``ArtifactSettings`` read as the field ``field`` of the settings
    class ``parent``: e.g. ``KUBEAI_REGISTRY_ARTIFACTS__`` for the registry's ``artifacts``."""
    prefix = parent.model_config.get("env_prefix") or ""
    delimiter = parent.model_config.get("env_nested_delimiter") or "__"
    return f"{prefix}{field.upper()}{delimiter}"


def _check_endpoint_url(value: str | None) -> str | None:
    """Validate an http(s) endpoint URL and return it without a trailing slash."""
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"endpoint_url {value!r} must be an http:// or https:// URL with a host, "
            "e.g. https://oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:9000"
        )
    if parts.username or parts.password:
        raise ValueError(
            "endpoint_url must not embed credentials; set access_key_id/secret_access_key"
        )
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError(
            f"endpoint_url {value!r} must be scheme://host[:port] only (no path, query or "
            "fragment); buckets and keys belong in the artifact URI"
        )
    try:
        _ = parts.port  # raises ValueError on a malformed or out-of-range port
    except ValueError as exc:
        raise ValueError(f"endpoint_url {value!r} has an invalid port: {exc}") from None
    return f"{parts.scheme}://{parts.netloc}"


class _S3CompatibleSettings(BaseModel):
    """Fields shared by every S3-compatible backend (AWS S3, MinIO, Alibaba Cloud OSS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str | None = None
    region: str | None = Field(default=None, pattern=_REGION_PATTERN)
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    addressing_style: Literal["auto", "virtual", "path"] = "auto"
    connect_timeout: float = Field(default=2.0, gt=0, le=120)
    read_timeout: float = Field(default=20.0, gt=0, le=600)
    max_attempts: int = Field(default=2, ge=1, le=10)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return _check_endpoint_url(value)

    @model_validator(mode="after")
    def _keys_come_in_pairs(self) -> _S3CompatibleSettings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "access_key_id and secret_access_key must be set together (or neither, to use "
                "the SDK's default credential chain)"
            )
        return self


class S3Settings(_S3CompatibleSettings):
    """S3 (``s3://bucket/key``): AWS S3 when ``endpoint_url`` is unset, else any S3-compatible
    service such as MinIO.

    Fields:
        endpoint_url: ``http(s)://host[:port]`` or ``None`` for AWS S3.
        region: e.g. ``us-east-1``; ``None`` lets the SDK decide (``AWS_DEFAULT_REGION``...).
        access_key_id / secret_access_key: static keys, both or neither; when neither, the SDK's
            default chain is used (env vars, web identity / IRSA, profile, instance metadata).
        addressing_style: ``auto``, ``virtual`` (``bucket.host``) or ``path`` (``host/bucket``;
            MinIO and most self-hosted services need it).
        connect_timeout / read_timeout: seconds per attempt.
        max_attempts: total attempts per request by botocore (1 = no retry); s3fs may repeat a
            request after a read timeout or a truncated body up to the same count. The defaults
            (2 s connect, 2 attempts) make an unreachable endpoint fail within a few seconds.
    """


class OssSettings(_S3CompatibleSettings):
    """Alibaba Cloud OSS (``oss://bucket/key``), reached through OSS's S3-compatible API.

    ``oss://`` is served by s3fs pointed at ``endpoint_url`` rather than by the ``ossfs`` fsspec
    plugin: one well-maintained client (botocore) for every S3-like store, no extra dependency,
    and the same timeout/retry/error handling as ``s3://``. Endpoint e.g.
    ``https://s3.oss-cn-hangzhou.aliyuncs.com`` (the S3-compatible form Alibaba Cloud documents)
    or ``https://oss-cn-hangzhou.aliyuncs.com``; region e.g. ``cn-hangzhou``. OSS only accepts
    virtual-hosted requests, so ``addressing_style`` defaults to ``virtual``; ``path`` exists for
    S3 test servers. ``endpoint_url`` has no default: using ``oss://`` without it raises
    ``StorageMisconfigured`` naming ``oss.endpoint_url``. Other fields as in ``S3Settings``.

    Credentials: static keys (``access_key_id``/``secret_access_key``) when set; else, in a pod
    that ACK's RRSA webhook gave ``ALIBABA_CLOUD_ROLE_ARN``, ``ALIBABA_CLOUD_OIDC_PROVIDER_ARN``
    and ``ALIBABA_CLOUD_OIDC_TOKEN_FILE``, temporary STS credentials of that RAM role
    (``glue.artifacts.rrsa``); else botocore's default chain.

    ``sts_endpoint``: ``host[:port]`` of Alibaba Cloud STS for the RRSA exchange (always HTTPS),
    e.g. ``sts-vpc.cn-hangzhou.aliyuncs.com`` for clusters without Internet access. ``None``
    keeps alibabacloud-credentials' own choice: ``sts[-vpc].<ALIBABA_CLOUD_STS_REGION>
    .aliyuncs.com`` when that variable is set (``-vpc`` with
    ``ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true``), else ``sts.aliyuncs.com``.
    """

    addressing_style: Literal["auto", "virtual", "path"] = "virtual"
    sts_endpoint: str | None = None

    @field_validator("sts_endpoint")
    @classmethod
    def _sts_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?", value
        ):
            raise ValueError(
                f"sts_endpoint {value!r} must be host[:port] without scheme or path (STS is "
                "always reached over HTTPS), e.g. sts-vpc.cn-hangzhou.aliyuncs.com"
            )
        return value


class GcsSettings(BaseModel):
    """Google Cloud Storage (``gs://bucket/key``) through gcsfs, the optional extra
    ``kubeai-platform[gcs]``.

    Fields:
        project: GCP project id, or ``None`` to take it from the credentials.
        token: ``google_default`` (application default credentials), ``anon`` (public buckets),
            or a path to a service-account JSON key file; ``None`` lets gcsfs decide.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    token: Literal["google_default", "anon"] | Path | None = None

    @field_validator("token", mode="before")
    @classmethod
    def _token(cls, value: object) -> object:
        if isinstance(value, str | Path) and (not str(value) or "://" in str(value)):
            raise ValueError(
                f"token {str(value)!r} must be 'google_default', 'anon' or a path to a "
                "service-account JSON key file"
            )
        return value


class ArtifactSettings(BaseSettings):
    """Configuration of ``ArtifactStore`` (env prefix ``KUBEAI_ARTIFACTS_``, nested ``__``).

    Fields:
        local_root: directory that every ``file://`` URI must resolve under (symlinks resolved);
            relative paths are taken from the working directory when the store is built.
        allowed_schemes: URI schemes accepted, a subset of ``file``, ``s3``, ``gs``, ``oss``.
        s3 / oss / gcs: per-backend settings, see ``S3Settings``, ``OssSettings``,
            ``GcsSettings``.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    local_root: Path = Path(".kubeai/artifacts")
    allowed_schemes: frozenset[Scheme] = frozenset({"file", "s3", "gs", "oss"})
    s3: S3Settings = S3Settings()
    oss: OssSettings = OssSettings()
    gcs: GcsSettings = GcsSettings()

    @field_validator("local_root", mode="before")
    @classmethod
    def _local_root(cls, value: object) -> object:
        text = str(value) if isinstance(value, str | Path) else ""
        if "\x00" in text or re.search(r"^[A-Za-z][A-Za-z0-9+.-]*:/", text):
            raise ValueError(
                f"local_root {text!r} must be a plain directory path (not a URI), "
                "e.g. /var/lib/kubeai/artifacts"
            )
        return value

    @field_validator("allowed_schemes")
    @classmethod
    def _some_scheme(cls, value: frozenset[Scheme]) -> frozenset[Scheme]:
        if not value:
            raise ValueError("allowed_schemes must name at least one of file, s3, gs, oss")
        return value
