"""The HTTP client the `mla` commands use, and how server problems become CLI messages."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import click
import msgspec

from ..crypto.errors import KeyFormatError
from ..crypto.keys import SigningKey

if TYPE_CHECKING:  # httpx and yaml load lazily: `mla evidence seal` needs neither
    import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


class Api:
    """A thin wrapper over httpx that turns problem details into click errors."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> Any:
        """Send a request; return the decoded JSON or raise a ClickException naming the problem."""
        import httpx

        try:
            with httpx.Client(
                base_url=self.url, headers=self._headers, timeout=self._timeout
            ) as http:
                resp = http.request(method, path, json=json_body, params=params)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {self.url}: {exc}") from exc
        if resp.status_code in ok:
            return resp.json()
        raise click.ClickException(describe_problem(resp))

    def text(self, path: str) -> str:
        """GET a text resource (a signed note); raise a ClickException naming the problem."""
        import httpx

        try:
            with httpx.Client(
                base_url=self.url, headers=self._headers, timeout=self._timeout
            ) as http:
                resp = http.get(path)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {self.url}: {exc}") from exc
        if resp.status_code != 200:
            raise click.ClickException(describe_problem(resp))
        return resp.text


def describe_problem(resp: httpx.Response) -> str:
    """One readable message from an RFC 9457 problem (or any error response)."""
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:300]}"
    if not isinstance(body, dict):
        return f"HTTP {resp.status_code}: {body}"
    lines = [f"{body.get('title', 'error')} (HTTP {resp.status_code}): {body.get('detail', '')}"]
    for item in body.get("missing", []):
        lines.append(f"  - {item['field']}: {item['message']} [{item['severity']}]")
    if "head" in body:
        lines.append(f"  current head: seq {body['head']['seq']}, digest {body['head']['digest']}")
    for err in body.get("errors", []) or []:
        lines.append(f"  - {err.get('key', '')}: {err.get('message', '')}")
    return "\n".join(lines)


F = TypeVar("F", bound=Callable[..., Any])


@overload
def api_options(func: F) -> F: ...


@overload
def api_options(*, auto_login: bool = True) -> Callable[[F], F]: ...


def api_options(func: F | None = None, *, auto_login: bool = True) -> F | Callable[[F], F]:
    """--url and --token, defaulting to MLA_URL and MLA_TOKEN.

    Without a token but with a signing key (--key or MLA_KEY), the command first logs in by
    signing a challenge (docs/keys.md) and runs with that short-lived session token.
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            if auto_login and not kwargs.get("token"):
                key_path = kwargs.get("key") or os.environ.get("MLA_KEY")
                if key_path:
                    session = login(kwargs["url"], load_signing_key(key_path))
                    kwargs["token"] = session["token"]
            return command(*args, **kwargs)

        run = click.option(
            "--token", envvar="MLA_TOKEN", help="bearer token [env MLA_TOKEN]", show_envvar=False
        )(run)
        return cast(
            F,
            click.option(
                "--url",
                envvar="MLA_URL",
                default=DEFAULT_URL,
                show_default=True,
                help="service URL [env MLA_URL]",
            )(run),
        )

    return decorate if func is None else decorate(func)


def agency_of_key(api: Api, key_id: str) -> str:
    """The agency whose directory entry lists this key id (the directory is public)."""
    for agency in api.call("GET", "/v1/agencies"):
        if any(k["key_id"] == key_id for k in agency["keys"]):
            return str(agency["id"])
    raise click.ClickException(f"no agency in the directory has key {key_id}")


def login(url: str, key: SigningKey, agency_id: str | None = None) -> dict[str, Any]:
    """Log in by signing a fresh challenge; return the session (token, expires_at, …)."""
    from datetime import UTC, datetime

    from ..crypto.login import sign_login

    api = Api(url, None)
    agency_id = agency_id or agency_of_key(api, key.key_id)
    challenge = api.call("POST", "/v1/sessions/challenge", json_body={})["challenge"]
    envelope = sign_login(
        agency=agency_id, challenge=challenge, key=key, issued_at=datetime.now(UTC)
    )
    session: dict[str, Any] = api.call(
        "POST", "/v1/sessions", json_body={"envelope": msgspec.to_builtins(envelope)}
    )
    for recovery in session.get("recovery_keys", []):
        click.echo(
            f"warning: the operator added recovery key {recovery['key_id']} to {agency_id}, "
            f"usable from {recovery['usable_from']}; if you did not ask for it, revoke it: "
            f"mla agency revoke-key {agency_id} {recovery['key_id']}",
            err=True,
        )
    return session


def load_document(path: Path) -> Any:
    """Read a JSON or YAML file, with a message naming the file when it is neither."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise click.ClickException(f"{path} is not valid JSON or YAML: {exc}") from exc


def load_signing_key(path: str | None) -> SigningKey:
    """Load the agency's signing key from --key / MLA_KEY."""
    if not path:
        raise click.ClickException("no signing key: pass --key FILE or set MLA_KEY")
    try:
        return SigningKey.from_pem(Path(path).read_bytes())
    except OSError as exc:
        raise click.ClickException(f"cannot read signing key {path}: {exc.strerror}") from exc
    except KeyFormatError as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


def write_secret(path: Path, data: bytes) -> None:
    """Write a file readable only by its owner, refusing to replace an existing one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise click.ClickException(f"{path} exists; refusing to overwrite a key") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
