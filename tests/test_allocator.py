"""The malloc tuning that GauGAN applies is accepted by glibc (and reported as not applying elsewhere)."""
import platform
import subprocess
import sys

from helpers import ROOT


def test_keep_freed_memory_is_accepted_on_glibc():
    # its own process: mallopt changes the whole process
    code = "from gaugan.allocator import keep_freed_memory, release_free_memory; release_free_memory(); print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert out.strip() == str(expected)
