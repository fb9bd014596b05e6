"""Where ``kubeai`` finds its registry: the URL, the team and the credentials.

This module alone resolves the registry connection of a command. Each setting is taken from the
first place that has it:

1. the command-line option (``--registry-url``, ``--team``; there is no token option: a token
   on a command line is visible to every user of the machine);
2. the environment: ``KUBEAI_REGISTRY_URL``, ``KUBEAI_TEAM``, ``KUBEAI_REGISTRY_TOKEN``,
   ``KUBEAI_REGISTRY_TOKEN_FILE`` (wins over ``KUBEAI_REGISTRY_TOKEN``),
   ``KUBEAI_REGISTRY_CA_FILE``;
3. the context chosen by ``--context``/``KUBEAI_CONTEXT``, else the file's ``current-context``;
4. the defaults: ``http://127.0.0.1:8080``, no team, no token.

The config file (``~/.config/kubeai/config.yaml``, or the file ``KUBEAI_CONFIG`` names; a
missing file is an empty one) is shaped like a kubeconfig::

    current-context: cv-prod
    contexts:
      - name: cv-prod
        registry: https://registry.example.com
        team: cv
        token-file: ~/.config/kubeai/cv-prod.token   # or token: <inline>, never both
        certificate-authority: ca.crt                # relative paths: to the file's folder

A context's credentials (token, token file, CA) are sent only to its own ``registry`` (a
context without one has the default ``http://127.0.0.1:8080``): when the option or the
environment names another registry, they are left out (with a warning). A token sent over plain
http to a host other than loopback is sent, with a warning. A token file (``token-file``,
``KUBEAI_REGISTRY_TOKEN_FILE``) is checked at start like ``KUBEAI_REGISTRY_TOKEN``: UTF-8 text
holding one bearer token.

Errors are ``ContextError`` whose message names the file and the key path (``contexts[1].tokn``),
the line of a key given twice, or the option/variable; values are never echoed (they may be
tokens). A file holding an inline
``token`` must not be readable by group or others (like ssh's private keys).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from glue.model_registry import schemas
from glue.model_registry.client import TOKEN_PATTERN, RegistryClient

CONFIG_ENV = "KUBEAI_CONFIG"
DEFAULT_CONFIG = "~/.config/kubeai/config.yaml"
DEFAULT_URL = "http://127.0.0.1:8080"
URL_SOURCE = "--registry-url (or KUBEAI_REGISTRY_URL)"
TEAM_SOURCE = "--team (or KUBEAI_TEAM)"
#: Names of environment variables (not secrets).
TOKEN_ENV = "KUBEAI_REGISTRY_TOKEN"  # noqa: S105
TOKEN_FILE_ENV = "KUBEAI_REGISTRY_TOKEN_FILE"  # noqa: S105
CA_FILE_ENV = "KUBEAI_REGISTRY_CA_FILE"

#: Context names: printable, no spaces or quotes (they are typed on command lines).
ContextName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.@:]*$")
]


class ContextError(Exception):
    """The config file, a context or a connection setting is invalid (the CLI exits 2)."""


def check_url(url: str, where: str) -> str:
    """``url`` without a trailing ``/`` if it is an http(s) URL with a host; else
    ``ContextError`` naming ``where`` (``''``, ``ftp://...``, ``127.0.0.1:8080``)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ContextError(f"{where} {url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ContextError(
            f"{where} {url!r} must be an http:// or https:// URL with a host, e.g. {DEFAULT_URL}"
        )
    return url.rstrip("/")


class Context(BaseModel):
    """One entry of ``contexts``: a registry, a team and how to authenticate to it.

    Attributes:
        name: how ``--context``/``current-context`` refer to it.
        registry: registry base URL (http(s), with a host); default ``http://127.0.0.1:8080``.
        team: the team commands act in unless ``--team``/``KUBEAI_TEAM`` says otherwise.
        token: bearer token inline (the file must then be private: mode 600).
        token_file: (``token-file``) file holding the bearer token, read at every request.
        certificate_authority: (``certificate-authority``) CA bundle for the registry's TLS.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ContextName
    registry: str = DEFAULT_URL
    team: schemas.Name | None = None
    token: SecretStr | None = Field(default=None, min_length=1)
    token_file: Path | None = Field(default=None, alias="token-file")
    certificate_authority: Path | None = Field(default=None, alias="certificate-authority")

    @field_validator("registry")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            return check_url(value, "registry")
        except ContextError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _one_token(self) -> Context:
        if self.token is not None and self.token_file is not None:
            raise ValueError("give token or token-file, not both")
        return self


class ConfigFile(BaseModel):
    """The config file: ``current-context`` and ``contexts`` (names unique)."""

    model_config = ConfigDict(extra="forbid")

    current_context: ContextName | None = Field(default=None, alias="current-context")
    contexts: list[Context] = Field(default_factory=list)

    @field_validator("contexts")
    @classmethod
    def _unique(cls, value: list[Context]) -> list[Context]:
        seen: set[str] = set()
        for item in value:
            if item.name in seen:
                raise ValueError(f"two contexts are named {item.name!r}")
            seen.add(item.name)
        return value

    def find(self, name: str) -> Context | None:
        """The context called ``name``, or None."""
        return next((c for c in self.contexts if c.name == name), None)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file: ``KUBEAI_CONFIG`` if set (non-empty), else
    ``~/.config/kubeai/config.yaml``."""
    env = os.environ if env is None else env
    return Path(env.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()


def _key_path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class _UniqueKeyLoader(yaml.SafeLoader):
    """``SafeLoader`` refusing a mapping that gives a key twice (PyYAML keeps the last one, so a
    second ``token:`` silently replaced the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """The mapping of ``node``; ``ConstructorError`` at the second occurrence of a key."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *anchor`` keys may be overridden by design
            key = self.construct_object(key_node, deep=False)
            if not isinstance(key, str | int | float | bool):
                continue  # unhashable keys: ``super()`` reports them
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> Any:
    """``text`` parsed like ``yaml.safe_load``, refusing duplicate keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def load_config(path: Path) -> ConfigFile:
    """The parsed config file at ``path`` (empty when there is none).

    Relative ``token-file``/``certificate-authority`` paths are made relative to the file's
    folder, ``~`` expanded. Raises ``ContextError`` naming ``path`` for unreadable or invalid
    YAML (a key given twice: its name and line), a key path that is not allowed or has a bad
    value, and an inline ``token`` in a file
    group or others may read (with the ``chmod`` that fixes it).
    """
    try:
        text = path.read_text()
        mode = path.stat().st_mode
    except FileNotFoundError:
        return ConfigFile()
    except (OSError, UnicodeDecodeError) as exc:
        raise ContextError(f"cannot read the config file {path}: {exc}") from None
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:  # said without PyYAML's quote of the line: it may be a token
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ContextError(f"{path}: not valid YAML{at}: {problem}") from None
    if data is None:
        return ConfigFile()
    try:
        config = ConfigFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = _key_path(tuple(p for p in first["loc"] if p != "function-after"))
        raise ContextError(f"{path}: {where}: {first['msg']}") from None
    if any(c.token is not None for c in config.contexts) and mode & 0o077:
        raise ContextError(
            f"{path} holds a token but group or others may read it "
            f"(mode {stat.S_IMODE(mode):o}): run chmod 600 {path}"
        )
    base = path.parent

    def local(value: Path | None) -> Path | None:
        return None if value is None else base / value.expanduser()

    config.contexts = [
        c.model_copy(
            update={
                "token_file": local(c.token_file),
                "certificate_authority": local(c.certificate_authority),
            }
        )
        for c in config.contexts
    ]
    return config


@dataclass(frozen=True)
class Connection:
    """A resolved registry connection (the token is kept out of ``repr``).

    Attributes:
        url: registry base URL.
        team: the team acted in, or None when the command needs none.
        context: the context used, or None.
        token, token_file, verify: credentials as ``RegistryClient`` takes them.
        warnings: things the user should know (credentials left out), one line each.
    """

    url: str
    team: str | None = None
    context: str | None = None
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    verify: bool | str = True
    warnings: tuple[str, ...] = ()

    def client(self) -> RegistryClient:
        """A ``RegistryClient`` of this connection (close it after use)."""
        return RegistryClient(
            self.url,
            team=self.team,
            token=self.token,
            token_file=self.token_file,
            verify=self.verify,
        )


#: Hosts a token may be sent to over plain http without a warning.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _token(value: str, where: str) -> str:
    """``value`` stripped if it can be a bearer token; ``ContextError`` naming ``where`` (never
    the value) if it holds spaces, control or non-ASCII characters."""
    value = value.strip()
    if not TOKEN_PATTERN.fullmatch(value):
        raise ContextError(
            f"{where} is not a bearer token (visible ASCII characters only, no spaces)"
        )
    return value


def _readable(path: Path, where: str) -> Path:
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ContextError(f"{where} {path} is not a readable file")
    return path


def _token_file(path: Path, where: str) -> Path:
    """``path`` if it is a readable file holding one bearer token (UTF-8, surrounding blanks
    ignored) at start; else ``ContextError`` naming ``where`` and the path, never the content.
    ``RegistryClient`` re-reads the file at every request (it may be rotated)."""
    _readable(path, where)
    try:
        value = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ContextError(f"{where} {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ContextError(f"{where} {path} is not UTF-8 text") from None
    if not value.strip():
        raise ContextError(f"{where} {path} is empty")
    _token(value, f"{where} {path}")
    return path


def _ca_bundle(path: Path, where: str) -> str:
    """``path`` as a string if it is a readable PEM bundle of CA certificates; else
    ``ContextError`` naming ``where`` (an unloadable bundle was a traceback at connect)."""
    _readable(path, where)
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        raise ContextError(
            f"{where} {path} is not a PEM bundle of CA certificates: {exc}"
        ) from None
    return str(path)


def chosen_context(config: ConfigFile, path: Path, name: str | None) -> Context | None:
    """The context ``name`` (``--context``/``KUBEAI_CONTEXT``), else the file's
    ``current-context``, else None. ``ContextError`` when the name is not in the file."""
    wanted = name or config.current_context
    if not wanted:
        return None
    found = config.find(wanted)
    if found is None:
        names = ", ".join(c.name for c in config.contexts) or "none"
        origin = "--context (or KUBEAI_CONTEXT)" if name else f"{path}: current-context"
        raise ContextError(f"{origin} {wanted!r} is not a context of {path} (contexts: {names})")
    return found


def resolve(
    *,
    url: str | None,
    team: str | None,
    context: str | None,
    need_team: bool,
    env: Mapping[str, str] | None = None,
) -> Connection:
    """The connection of one command.

    Args:
        url: ``--registry-url`` or ``KUBEAI_REGISTRY_URL`` (None: not given; click passes
            None for an empty variable, so ``''`` is an explicit, invalid option).
        team: ``--team`` or ``KUBEAI_TEAM`` (None: not given).
        context: ``--context`` or ``KUBEAI_CONTEXT`` (None or ``''``: the current context).
        need_team: the command acts on a team's objects: no team anywhere is an error.
        env: the environment (default ``os.environ``) for the config path and credentials.

    Raises ``ContextError`` (bad URL, team name, file or context; an unreadable token or CA
    file; no team when ``need_team``), each naming where the value came from.
    """
    env = os.environ if env is None else env
    path = config_path(env)
    ctx = chosen_context(load_config(path), path, context or None)
    where = f"{path}: context {ctx.name!r}" if ctx else ""

    chosen_url = check_url(url, URL_SOURCE) if url is not None else None
    final_url = chosen_url or (ctx.registry if ctx else DEFAULT_URL)

    chosen_team = team if team is not None else (ctx.team if ctx else None)
    if chosen_team is not None:
        try:
            TypeAdapter(schemas.Name).validate_python(chosen_team)
        except ValidationError as exc:
            source = TEAM_SOURCE if team is not None else f"{where}: team"
            raise ContextError(f"{source} {chosen_team!r}: {exc.errors()[0]['msg']}") from None
    elif need_team:
        hint = f" or a team in {where}" if ctx else f", or a context with a team in {path}"
        raise ContextError(f"no team given: use {TEAM_SOURCE}{hint}")

    warnings: list[str] = []
    token: str | None = None
    token_file: Path | None = None
    verify: bool | str = True
    if ctx is not None and ctx.registry == final_url:
        if ctx.token is not None:
            token = _token(ctx.token.get_secret_value(), f"{where}: token")
        if ctx.token_file is not None:
            token_file = _token_file(ctx.token_file, f"{where}: token-file")
        if ctx.certificate_authority is not None:
            verify = _ca_bundle(ctx.certificate_authority, f"{where}: certificate-authority")
    elif ctx is not None and (ctx.token or ctx.token_file or ctx.certificate_authority):
        default = "" if "registry" in ctx.model_fields_set else " (the default: it names none)"
        warnings.append(
            f"the credentials of context {ctx.name!r} are for {ctx.registry}{default}, not sent "
            f"to {final_url} (set by {URL_SOURCE})"
        )
    if env.get(TOKEN_FILE_ENV):
        token, token_file = None, _token_file(Path(env[TOKEN_FILE_ENV]), TOKEN_FILE_ENV)
    elif env.get(TOKEN_ENV):
        token, token_file = _token(env[TOKEN_ENV], TOKEN_ENV), None
    if env.get(CA_FILE_ENV):
        verify = _ca_bundle(Path(env[CA_FILE_ENV]), CA_FILE_ENV)
    parsed = httpx.URL(final_url)
    if (token or token_file) and parsed.scheme == "http" and parsed.host not in LOOPBACK_HOSTS:
        warnings.append(
            f"sending a token over plain http to {final_url}: anyone on the path can read it"
        )
    return Connection(
        url=final_url,
        team=chosen_team,
        context=ctx.name if ctx else None,
        token=token,
        token_file=token_file,
        verify=verify,
        warnings=tuple(warnings),
    )


def use_context(path: Path, name: str) -> None:
    """Set ``current-context: name`` in the config file at ``path``, keeping every other line
    (comments included) and the file's mode; the file is replaced atomically.

    Raises ``ContextError`` when the file is missing or invalid, ``name`` is not one of its
    contexts, or the file cannot be written.
    """
    if not path.is_file():
        raise ContextError(f"no config file {path} (set {CONFIG_ENV} or create it)")
    config = load_config(path)
    if config.find(name) is None:
        names = ", ".join(c.name for c in config.contexts) or "none"
        raise ContextError(f"{name!r} is not a context of {path} (contexts: {names})")
    path = path.resolve()  # a symlinked file is changed where it lives, the link kept
    text = path.read_text()
    line = f"current-context: {json.dumps(name)}"
    pattern = re.compile(r"^current-context:[^\n]*$", re.MULTILINE)
    if pattern.search(text):
        updated = pattern.sub(lambda _: line, text, count=1)
    else:
        updated = f"{line}\n{text}"
    parsed: Any = _load_yaml(updated)
    if not isinstance(parsed, dict) or parsed.get("current-context") != name:
        raise ContextError(f"{path}: cannot set current-context here; edit the file by hand")
    temporary = path.with_name(f".{path.name}.kubeai-tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(updated)
        os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ContextError(f"cannot write {path}: {exc.strerror}") from None
