"""Start-up stays light: importing the UI (and `writer --help`) never imports torch."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import run_writer

HEAVY = ("torch", "transformers", "peft")


def test_importing_the_app_does_not_import_torch_or_transformers():
    code = (
        "import sys, writer.ui.app, writer.commands.app, writer.themes; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_writer_help_does_not_import_torch(isolated_user_dirs):
    code = (
        "import sys\nfrom writer.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in result.stdout
    cli = run_writer("--help", env=isolated_user_dirs)
    assert cli.returncode == 0 and "--model" in cli.stdout
