"""The outcome of one named proof, as `hyperx verify` reports it (no solver needed)."""

from dataclasses import dataclass


@dataclass
class ProofResult:
    name: str
    status: str  # "proved" | "failed" | "unknown"
    seconds: float
    detail: str = ""
