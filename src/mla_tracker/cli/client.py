"""The HTTP client the `mla` commands use, and how server problems become CLI messages."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

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


def api_options(func: Any) -> Any:
    """--url and --token, defaulting to MLA_URL and MLA_TOKEN."""
    func = click.option(
        "--token", envvar="MLA_TOKEN", help="bearer token [env MLA_TOKEN]", show_envvar=False
    )(func)
    func = click.option(
        "--url",
        envvar="MLA_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="service URL [env MLA_URL]",
    )(func)
    return func


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
