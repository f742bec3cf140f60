"""`mla evidence seal|open`: make and open age-encrypted BagIt evidence packages offline.

The `evidence` group is meant to be extended: other modules add commands to it with
`evidence.add_command(...)` (e.g. upload and download through the hub).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click

from ..crypto.age import (
    AgeError,
    HeaderError,
    HeaderMACError,
    Identity,
    KeyFormatError,
    MixedRecipientsError,
    NoIdentityMatchError,
    PayloadError,
    UnsupportedRecipientError,
    parse_identity_file,
)
from ..evidence.bagit import (
    ArchiveFormatError,
    ArchiveLimitError,
    BagError,
    SourceError,
    UnsafeArchiveError,
)
from ..evidence.package import (
    PackageError,
    new_package_id,
    open_package,
    read_recipients,
    seal,
)

DEFAULT_MAX_FILES = 100_000
DELIVERY_SUFFIX = ".delivery.json"


@click.group()
def evidence() -> None:
    """Seal, open (and move) evidence packages: age-encrypted tars of BagIt bags."""


def _stderr_progress(enabled: bool | None) -> bool:
    return enabled if enabled is not None else sys.stderr.isatty()


@contextlib.contextmanager
def _progress(show: bool, length: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yield an on_progress(done) callback driving a stderr progress bar (or nothing)."""
    if not show:
        yield lambda done: None
        return
    with click.progressbar(length=length or 1, label=label, file=sys.stderr) as bar:
        shown = 0

        def update(done: int) -> None:
            nonlocal shown
            if done > shown:
                bar.update(done - shown)
                shown = done

        yield update


def _input_bytes(sources: Sequence[Path]) -> int:
    """Best-effort total size of the regular files under `sources` (for the progress bar)."""
    total = 0
    for source in sources:
        if source.is_file() and not source.is_symlink():
            total += source.stat().st_size
            continue
        for root, _dirs, files in os.walk(source):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, name)).st_size
    return total


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- seal


@evidence.command("seal")
@click.option(
    "-r",
    "--recipient",
    "recipients",
    multiple=True,
    required=True,
    metavar="RECIPIENT",
    help="age recipient (age1… or age1pq1…) or a file of them, one per line; repeatable",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="package file to create (never overwritten), e.g. subscriber.age",
)
@click.option("--request", "request_id", type=click.UUID, help="the MLA request this answers")
@click.option("--package-id", help="package id [default: pkg-<random hex>]")
@click.option(
    "--producer",
    envvar="MLA_PRODUCER",
    default="unspecified",
    show_default=True,
    help="organisation sealing the evidence (bag-info Source-Organization) [env MLA_PRODUCER]",
)
@click.option(
    "--progress/--no-progress", default=None, help="progress bar on stderr [default: if a TTY]"
)
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
def seal_cmd(
    recipients: tuple[str, ...],
    output: Path,
    request_id: uuid.UUID | None,
    package_id: str | None,
    producer: str,
    progress: bool | None,
    sources: tuple[Path, ...],
) -> None:
    """Seal files and folders into an encrypted evidence package, plus its delivery body.

    Example: mla evidence seal -r age1… -o subscriber.age --request 7c0e… ./export/
    """
    try:
        recips = read_recipients(recipients)
    except (AgeError, PackageError) as exc:
        raise click.ClickException(str(exc)) from exc
    package_id = package_id or new_package_id()
    delivery_path = output.with_name(output.name + DELIVERY_SUFFIX)
    for existing in (output, delivery_path):
        if os.path.lexists(existing):
            raise click.ClickException(f"{existing} exists; refusing to overwrite it")
    parent = output.parent
    if not parent.is_dir():
        raise click.ClickException(f"cannot write {output}: {parent} is not a directory")
    for source in sources:
        if not os.path.lexists(source):
            raise click.ClickException(f"{source}: no such file or directory")
        if source.is_dir() and _inside(parent.resolve(), source.resolve()):
            raise click.ClickException(
                f"{output} would be inside {source}, which is being sealed; "
                "write the package somewhere else"
            )

    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            total = _input_bytes(sources)
            with _progress(_stderr_progress(progress), total, "sealing") as on_progress:
                sealed = seal(
                    list(sources),
                    out,
                    recips,
                    package_id=package_id,
                    producer=producer,
                    request_id=str(request_id) if request_id else None,
                    on_progress=on_progress,
                )
            # No fsync, as with age and tar: a package damaged by a crash before write-back
            # no longer matches its delivery body, which upload and open both check.
            out.flush()
        _publish(tmp, output)
    except (BagError, AgeError, PackageError) as exc:
        raise click.ClickException(_seal_message(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

    body = json.dumps(sealed.delivery_body(), indent=2) + "\n"
    try:
        with open(delivery_path, "x", encoding="utf-8") as fh:
            fh.write(body)
    except OSError as exc:
        raise click.ClickException(
            f"{output} was sealed but {delivery_path} could not be written "
            f"({exc.strerror or exc}); its body is:\n{body}"
        ) from exc
    payload_bytes = sum(f.size for f in sealed.files)
    click.echo(f"sealed:            {output}")
    click.echo(f"package id:        {sealed.package_id}")
    click.echo(f"ciphertext sha256: {sealed.ciphertext_sha256}")
    click.echo(f"ciphertext size:   {sealed.ciphertext_size} bytes")
    click.echo(f"payload:           {len(sealed.files)} files, {payload_bytes} bytes")
    click.echo(f"recipients:        {', '.join(sealed.recipients)}")
    click.echo(f"delivery body:     {delivery_path}")


def _publish(tmp: Path, output: Path) -> None:
    """Move the finished temp file to `output` atomically, never replacing an existing file."""
    try:
        os.link(tmp, output)
    except FileExistsError:
        raise click.ClickException(f"{output} exists; refusing to overwrite it") from None
    except OSError:
        # File systems without hard links: check then rename (a narrow race is accepted).
        if os.path.lexists(output):
            raise click.ClickException(f"{output} exists; refusing to overwrite it") from None
        os.rename(tmp, output)


def _seal_message(exc: Exception) -> str:
    if isinstance(exc, SourceError):
        return f"cannot seal: {exc}"
    return str(exc)


# --------------------------------------------------------------------------- open


def _load_identities(paths: Sequence[Path]) -> list[Identity]:
    identities: list[Identity] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot read identity file {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"identity file {path} is not UTF-8 text") from exc
        try:
            identities.extend(parse_identity_file(text))
        except KeyFormatError as exc:
            raise click.ClickException(f"identity file {path}: {exc}") from exc
    return identities


def _open_message(exc: Exception, package: Path) -> str:
    """The one-line reason a package was refused."""
    if isinstance(exc, UnsupportedRecipientError):
        return f"cannot open {package}: {exc}"
    if isinstance(exc, MixedRecipientsError):
        return f"package refused: {exc}"
    if isinstance(exc, NoIdentityMatchError):
        return (
            f"wrong identity: no identity matches any recipient of {package} "
            "(it was sealed for someone else)"
        )
    if isinstance(exc, HeaderMACError):
        return f"package is corrupt or was tampered with: header MAC does not verify ({package})"
    if isinstance(exc, HeaderError):
        return f"package is corrupt or not an age v1 file: {exc}"
    if isinstance(exc, PayloadError):
        return f"package is corrupt or truncated: {exc}"
    if isinstance(exc, UnsafeArchiveError):
        return f"package refused: {exc}"
    if isinstance(exc, ArchiveFormatError):
        return f"package holds a broken archive: {exc}"
    if isinstance(exc, ArchiveLimitError):
        # Only limits the user sets get the hint; fixed ones (a header's size) have no option.
        hint = f" (raise {exc.option} if you trust it)" if exc.option else ""
        return f"package refused: {exc}{hint}"
    return str(exc)


@evidence.command("open")
@click.option(
    "-i",
    "--identity",
    "identity_files",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="age identity file (e.g. age.key from `mla keygen`); repeatable",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="folder to extract the bag into (must not exist, or be empty)",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=0),
    help="refuse more payload bytes than this [default: bounded by the package size]",
)
@click.option(
    "--max-files",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_FILES,
    show_default=True,
    help="refuse more files (or folders) than this",
)
@click.option(
    "--expect-sha256",
    metavar="HEX",
    help="refuse unless the package's SHA-256 is this (from the delivery statement)",
)
@click.option(
    "--progress/--no-progress", default=None, help="progress bar on stderr [default: if a TTY]"
)
@click.argument("package", type=click.Path(path_type=Path, dir_okay=False))
def open_cmd(
    identity_files: tuple[Path, ...],
    output: Path,
    max_bytes: int | None,
    max_files: int,
    expect_sha256: str | None,
    progress: bool | None,
    package: Path,
) -> None:
    """Decrypt a package, extract its bag safely and validate every checksum.

    Example: mla evidence open -i keys/age.key -o ./received subscriber.age
    """
    identities = _load_identities(identity_files)
    try:
        fh = open(package, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise click.ClickException(f"cannot read {package}: {exc.strerror}") from exc
    try:
        size = os.fstat(fh.fileno()).st_size
        # The payload cannot be larger than the ciphertext, so by default the package's own
        # size bounds what is written; a truncated package then fails as truncated.
        limit = max_bytes if max_bytes is not None else sys.maxsize
        with _progress(_stderr_progress(progress), size, "opening") as on_progress:
            opened = open_package(
                fh,
                identities,
                output,
                max_total_bytes=limit,
                max_files=max_files,
                expect_sha256=expect_sha256,
                on_progress=on_progress,
            )
    except (AgeError, BagError, PackageError) as exc:
        raise click.ClickException(_open_message(exc, package)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot open {package}: {exc.strerror or exc}") from exc
    finally:
        fh.close()

    bag = opened.bag
    click.echo(f"opened:            {package} -> {bag.path}")
    click.echo(f"package id:        {_printable(opened.package_id)}")
    click.echo(f"ciphertext sha256: {opened.ciphertext_sha256}")
    click.echo(f"ciphertext size:   {opened.ciphertext_size} bytes")
    if expect_sha256 is not None:
        click.echo("                   (matches --expect-sha256)")
    click.echo(f"bag:               BagIt {bag.version}, valid, Payload-Oxum {bag.payload_oxum}")
    for label, values in bag.bag_info.items():
        for value in values:
            click.echo(f"  {_printable(label)}: {_printable(value)}")
    click.echo(f"payload ({len(bag.payload)} files):")
    for entry in bag.payload:
        click.echo(f"  {entry.sha256}  {entry.size:>12}  {_printable(entry.path)}")


def _printable(text: str) -> str:
    """`text` as is if printable, else Python-escaped: a hostile bag's file names and
    bag-info values must not reach the terminal as escape sequences or bidi overrides."""
    return text if text.isprintable() else repr(text)
