"""RRSA credentials for ``oss://``: an ACK pod's RAM role, exchanged for STS keys, given to s3fs.

How RRSA reaches a pod: on ACK, ack-pod-identity-webhook mutates a pod whose ServiceAccount has
the annotation ``pod-identity.alibabacloud.com/role-name`` (and whose pod or namespace has the
label ``pod-identity.alibabacloud.com/injection: on``, see ``infra.config.identity``). It injects
``ALIBABA_CLOUD_ROLE_ARN``, ``ALIBABA_CLOUD_OIDC_PROVIDER_ARN`` and
``ALIBABA_CLOUD_OIDC_TOKEN_FILE``, the path of a projected ServiceAccount token that kubelet
rotates (https://www.alibabacloud.com/help/en/container-service-for-kubernetes/latest/ack-pod-identity-webhook;
AliyunContainerService/ack-ram-tool, examples/rrsa). The pod trades that token for temporary
credentials (``AccessKeyId``, ``AccessKeySecret``, ``SecurityToken``, ``Expiration``) with the
anonymous STS call ``AssumeRoleWithOIDC``
(https://www.alibabacloud.com/help/en/ram/developer-reference/api-sts-2015-04-01-assumerolewithoidc).

botocore's credential chain knows only AWS sources, so the store does that exchange with Alibaba
Cloud's credentials library, ``alibabacloud-credentials`` (aliyun/credentials-python,
``alibabacloud_credentials/provider/oidc.py``: ``OIDCRoleArnCredentialsProvider``, which reads
the token file again on every exchange and caches the result until 15 minutes before it
expires), and gives s3fs an aiobotocore session whose only credential source is that exchange:
``AioDeferredRefreshableCredentials``, fetched on the first request and refreshed by botocore
from 15 minutes before expiry (advisory; a failure keeps the current keys) and 10 minutes before
(mandatory; a failure fails the request).

OSS accepts STS credentials on its S3-compatible API when the security token is sent in
``x-amz-security-token``, the header botocore signs in for credentials that carry a token
(Alibaba Cloud OSS error 0002-00000009, https://help.aliyun.com/en/oss/user-guide/0002-00000009;
https://www.alibabacloud.com/help/en/oss/developer-reference/use-amazon-s3-sdks-to-access-oss).

The store uses this only for ``oss://``, only when ``oss.access_key_id`` is unset (static keys win)
and the three variables are present; otherwise nothing changes. A failed exchange surfaces as
``StorageMisconfigured`` when STS refused it (4xx: the role does not trust this ServiceAccount)
or ``StorageUnavailable`` when STS could not be reached (field ``oss`` for both), naming RRSA, the
role, the STS endpoint and STS's answer.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from glue.artifacts.errors import StorageMisconfigured, StorageUnavailable, describe
from glue.artifacts.settings import OssSettings

ROLE_ARN_ENV = "ALIBABA_CLOUD_ROLE_ARN"
OIDC_PROVIDER_ARN_ENV = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
OIDC_TOKEN_FILE_ENV = "ALIBABA_CLOUD_OIDC_TOKEN_FILE"  # noqa: S105 - a variable name
#: Optional: the STS role session name (shown in ActionTrail); default ``kubeai-<hostname>``.
ROLE_SESSION_NAME_ENV = "ALIBABA_CLOUD_ROLE_SESSION_NAME"
#: The variables ack-pod-identity-webhook injects, all three needed.
RRSA_ENV = (ROLE_ARN_ENV, OIDC_PROVIDER_ARN_ENV, OIDC_TOKEN_FILE_ENV)
#: Name of the credential source in botocore's logs and ``Credentials.method``.
CREDENTIAL_METHOD = "alibaba-cloud-rrsa"
_DEFAULT_STS = "the STS endpoint chosen by alibabacloud-credentials (default sts.aliyuncs.com)"
#: Logger of alibabacloud-credentials, which attaches its own stderr handler on import.
_LIBRARY_LOGGER = "credentials"


@dataclass(frozen=True)
class RrsaIdentity:
    """What ack-pod-identity-webhook injected: the RAM role ARN
    (``acs:ram::<account>:role/<name>``), the cluster's OIDC provider ARN and the path of the
    projected ServiceAccount token file."""

    role_arn: str
    oidc_provider_arn: str
    oidc_token_file: str


def rrsa_identity(environ: Mapping[str, str] | None = None) -> RrsaIdentity | None:
    """The RRSA identity in ``environ`` (``os.environ`` when omitted), or None when none of
    ``RRSA_ENV`` is set (no RRSA: the caller keeps its other credential sources).

    Raises ``StorageMisconfigured`` (field ``oss``, ``setting`` the first missing variable)
    naming the missing variables when only some are set: a half-injected identity is a broken
    pod, not a reason to fall back silently.
    """
    env = os.environ if environ is None else environ
    values = {name: env.get(name, "").strip() for name in RRSA_ENV}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise StorageMisconfigured(
            f"RRSA for oss:// is half configured: {', '.join(missing)} is not set while "
            f"{', '.join(n for n in RRSA_ENV if n not in missing)} is; ack-pod-identity-webhook "
            "injects all three (check the ServiceAccount's pod-identity.alibabacloud.com/role-name "
            "annotation and the pod-identity.alibabacloud.com/injection label)",
            setting=missing[0],
            field="oss",
        )
    return RrsaIdentity(
        role_arn=values[ROLE_ARN_ENV],
        oidc_provider_arn=values[OIDC_PROVIDER_ARN_ENV],
        oidc_token_file=values[OIDC_TOKEN_FILE_ENV],
    )


def role_session_name(environ: Mapping[str, str] | None = None) -> str:
    """``ALIBABA_CLOUD_ROLE_SESSION_NAME`` or ``kubeai-<hostname>`` (the pod name), reduced to
    what STS accepts: 2-64 characters of letters, digits and ``. @ - _``."""
    env = os.environ if environ is None else environ
    name = env.get(ROLE_SESSION_NAME_ENV, "").strip() or f"kubeai-{socket.gethostname()}"
    return re.sub(r"[^A-Za-z0-9.@_-]", "-", name)[:64].ljust(2, "-")


def sts_fetcher(
    identity: RrsaIdentity, cfg: OssSettings
) -> Callable[[], Awaitable[dict[str, str]]]:
    """An async function returning fresh temporary credentials of ``identity`` in botocore's
    metadata shape (``access_key``, ``secret_key``, ``token``, ``expiry_time`` as ISO 8601).

    The exchange goes to ``cfg.sts_endpoint`` (or the library's default) with
    ``cfg.connect_timeout``/``cfg.read_timeout`` per attempt; the library caches its answer
    until 15 minutes before expiry. Raises ``StorageMisconfigured`` (field ``oss``) when
    alibabacloud-credentials is missing (at once) or STS refuses an exchange (when awaited),
    ``StorageUnavailable`` (field ``oss``) when STS cannot be reached (when awaited).
    """
    try:
        oidc = importlib.import_module("alibabacloud_credentials.provider.oidc")
        http = importlib.import_module("alibabacloud_credentials.http")
    except ImportError:
        raise StorageMisconfigured(
            "RRSA for oss:// needs alibabacloud-credentials: install the extra "
            "kubeai-platform[glue]",
            setting="kubeai-platform[glue]",
            field="oss",
        ) from None
    _route_library_logs()
    provider = oidc.OIDCRoleArnCredentialsProvider(
        role_arn=identity.role_arn,
        oidc_provider_arn=identity.oidc_provider_arn,
        oidc_token_file_path=identity.oidc_token_file,
        role_session_name=role_session_name(),
        sts_endpoint=cfg.sts_endpoint,
        http_options=http.HttpOptions(
            connect_timeout=int(cfg.connect_timeout * 1000),
            read_timeout=int(cfg.read_timeout * 1000),
        ),
    )
    endpoint = cfg.sts_endpoint or _DEFAULT_STS

    async def fetch() -> dict[str, str]:
        try:
            credentials = await provider.get_credentials_async()
            expiry = datetime.fromtimestamp(int(credentials.get_expiration()), UTC)
            return {
                "access_key": credentials.get_access_key_id(),
                "secret_key": credentials.get_access_key_secret(),
                "token": credentials.get_security_token(),
                "expiry_time": expiry.isoformat(),
            }
        except Exception as exc:
            failed = (
                f"RRSA: exchanging the ServiceAccount token ({identity.oidc_token_file}) for STS "
                f"credentials of {identity.role_arn} at {endpoint} failed: {describe(exc)}; "
            )
            if _refused_by_sts(exc):  # STS answered: retrying the same token cannot help
                raise StorageMisconfigured(
                    failed + "check that the RAM role trusts the cluster's OIDC provider for "
                    "this ServiceAccount (pod-identity.alibabacloud.com/role-name annotation)",
                    setting=ROLE_ARN_ENV,
                    field="oss",
                ) from exc
            raise StorageUnavailable(
                failed + "check that STS is reachable (KUBEAI_ARTIFACTS_OSS__STS_ENDPOINT)",
                field="oss",
            ) from exc

    return fetch


def _refused_by_sts(exc: BaseException) -> bool:
    """True when STS answered the exchange with a 4xx other than 408/429 (alibabacloud-credentials
    reports it as ``CredentialException`` "... http_code: <status> ...", with no status field)."""
    if type(exc).__name__ != "CredentialException":
        return False
    found = re.search(r"http_code: (\d{3})\b", str(exc))
    return (
        found is not None
        and found.group(1).startswith("4")
        and found.group(1)
        not in (
            "408",
            "429",
        )
    )


def rrsa_session(identity: RrsaIdentity, cfg: OssSettings) -> Any:
    """An aiobotocore ``AioSession`` (for ``s3fs.S3FileSystem(session=...)``) whose only
    credential source is ``identity``'s STS exchange (``sts_fetcher``), as deferred refreshable
    credentials: nothing is fetched until the first request. Raises ``StorageUnavailable`` like
    ``sts_fetcher``."""
    fetch = sts_fetcher(identity, cfg)
    from aiobotocore.credentials import AioCredentialResolver, AioDeferredRefreshableCredentials
    from aiobotocore.session import AioSession
    from botocore.credentials import CredentialProvider

    class _RrsaProvider(CredentialProvider):
        METHOD = CREDENTIAL_METHOD
        CANONICAL_NAME = "AlibabaCloudRRSA"

        async def load(self) -> AioDeferredRefreshableCredentials:
            return AioDeferredRefreshableCredentials(refresh_using=fetch, method=CREDENTIAL_METHOD)

    session = AioSession()
    session.register_component(
        "credential_provider", AioCredentialResolver(providers=[_RrsaProvider()])
    )
    return session


def _route_library_logs() -> None:
    """Hand alibabacloud-credentials' records to the application's logging configuration.

    The library adds a ``StreamHandler`` of its own to the logger ``credentials`` on import
    (``alibabacloud_credentials/provider/refreshable.py``), so every failed exchange would print
    its traceback to stderr whatever the service configured; the store reports that failure as
    ``StorageUnavailable`` already. Its records still propagate to the root logger.
    """
    logger = logging.getLogger(_LIBRARY_LOGGER)
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:
            logger.removeHandler(handler)
