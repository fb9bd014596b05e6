"""Model and dataset artifact store over fsspec (local files, S3-compatible incl. OSS/MinIO, GCS).

Typical use::

    store = ArtifactStore(ArtifactSettings())
    manifest = store.upload_dir(Path("out/model"), "s3://models/resnet/3")
    store.download_dir("s3://models/resnet/3", Path("/staging/resnet-3"), manifest)
"""

from glue.artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactNotFound,
    ArtifactTooLarge,
    ChecksumMismatch,
    InvalidArtifactURI,
    StorageMisconfigured,
    StorageUnavailable,
)
from glue.artifacts.manifest import (
    FileDigest,
    Manifest,
    build_manifest,
    check_relative_path,
    hash_file,
    hash_stream,
    verify_directory,
)
from glue.artifacts.settings import ArtifactSettings, GcsSettings, OssSettings, S3Settings
from glue.artifacts.store import ArtifactStore

__all__ = [
    "ArtifactConflict",
    "ArtifactError",
    "ArtifactNotFound",
    "ArtifactSettings",
    "ArtifactStore",
    "ArtifactTooLarge",
    "ChecksumMismatch",
    "FileDigest",
    "GcsSettings",
    "InvalidArtifactURI",
    "Manifest",
    "OssSettings",
    "S3Settings",
    "StorageMisconfigured",
    "StorageUnavailable",
    "build_manifest",
    "check_relative_path",
    "hash_file",
    "hash_stream",
    "verify_directory",
]
