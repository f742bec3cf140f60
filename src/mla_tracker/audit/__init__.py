"""What an auditor runs: verify the log, the key history and every request, online or from
an offline bundle. Nothing here trusts the hub: every claim is checked against signatures,
digests and Merkle proofs (docs/audit.md)."""
