"""An audit's findings: what was checked, and every failure named by request and seq."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import MlaError


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold, named precisely enough to look it up."""

    what: str
    detail: str
    request_id: str | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.request_id is not None:
            where = f"request {self.request_id}" + (f" seq {self.seq}" if self.seq else "") + ": "
        return f"{where}{self.what}: {self.detail}"


@dataclass
class Report:
    """The outcome of an audit: counts of what was checked, findings, recoveries seen."""

    checkpoint_size: int = 0
    entries: int = 0
    key_events: int = 0
    requests: int = 0
    statements: int = 0
    #: True for a bundle: entries were checked by inclusion proof, not by recomputing the root.
    by_proof: bool = False
    recoveries: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: One line per witness whose cosignature of the checkpoint verified (`--witness`).
    witnesses: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.findings

    def fail(
        self, what: str, detail: str, request_id: str | None = None, seq: int | None = None
    ) -> None:
        """Record a finding."""
        self.findings.append(Finding(what, detail, request_id, seq))

    def fail_from(self, exc: MlaError, request_id: str | None = None) -> None:
        """Record a verification error, with the seq its notes name."""
        seq = None
        for note in getattr(exc, "__notes__", []):
            if note.startswith("statement seq "):
                seq = int(note.removeprefix("statement seq "))
        self.fail(exc.title, str(exc), request_id, seq)

    def lines(self) -> list[str]:
        """The report as text lines."""
        out = [
            f"checkpoint: tree size {self.checkpoint_size}",
            *(f"witness: {w}" for w in self.witnesses),
            f"log entries checked: {self.entries} "
            + ("(inclusion proofs)" if self.by_proof else "(root recomputed)"),
            f"key events verified: {self.key_events}",
            f"requests verified: {self.requests} ({self.statements} statements)",
        ]
        out += [f"recovery key: {r}" for r in self.recoveries] or ["recovery keys: none"]
        if self.ok:
            out.append("result: everything holds")
        else:
            out.append(f"result: {len(self.findings)} finding(s)")
            out += [f"  FAIL {f}" for f in self.findings]
        return out
