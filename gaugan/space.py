"""Start-up of the Docker image (a Hugging Face Space): fetch NVIDIA's checkpoints first, when asked to.

Opt in by setting GAUGAN_FETCH_NVIDIA_URL (the address of NVIDIA's checkpoints.tar.gz, from the NVlabs/SPADE
README) and GAUGAN_FETCH_NVIDIA_SHA256 (its checksum). NVIDIA's weights are CC BY-NC-SA 4.0: non-commercial use only.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .downloads import download

URL_VARIABLE = "GAUGAN_FETCH_NVIDIA_URL"
SHA256_VARIABLE = "GAUGAN_FETCH_NVIDIA_SHA256"
LICENCE = "NVIDIA's SPADE weights are licensed CC BY-NC-SA 4.0, for non-commercial use only"


def fetch_nvidia_checkpoints(environ: Mapping[str, str], dest: str | Path = "checkpoints") -> Path | None:
    """Download, verify and unpack the archive the environment names into dest; None when none is named."""
    url = environ.get(URL_VARIABLE, "").strip()
    if not url:
        return None
    sha256 = environ.get(SHA256_VARIABLE, "").strip()
    if not sha256:
        raise ValueError(f"{URL_VARIABLE} is set but {SHA256_VARIABLE} is not: the archive is unpacked only once "
                         "its checksum is verified")
    print(f"fetching NVIDIA's checkpoints from {url} into {dest} ({LICENCE})", flush=True)
    return download(url, dest, sha256)


def main() -> None:
    """Never stops the page from starting: without NVIDIA's models it still serves the shipped one."""
    try:
        fetch_nvidia_checkpoints(os.environ)
    except (ValueError, OSError) as exc:
        print(f"NVIDIA's checkpoints were not fetched: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
