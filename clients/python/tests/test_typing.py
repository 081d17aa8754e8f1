"""The package is typed (py.typed): mypy --strict must accept it, so its hints stay true."""

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hunt_client"


def test_mypy_strict_accepts_the_package() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(PACKAGE)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
