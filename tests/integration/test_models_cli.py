"""``python -m app models ...``: human text, ``--json``, exit codes, and no traceback whatever the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from tests.vrm_factory import build_vrm

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def vrm(tmp_path: Path, name: str, title: str) -> Path:
    path = tmp_path / name
    path.write_bytes(build_vrm("1.0", title=title))
    return path


def test_inspect_a_vrm_and_a_stranger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "models", "inspect", str(vrm(tmp_path, "ada.vrm", "Ada")))
    assert code == 0 and "VRM 1.0 avatar 'Ada'" in out and "lip sync:    ready" in out
    code, out = run(capsys, "models", "inspect", str(vrm(tmp_path, "ada.vrm", "Ada")), "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["inspection"]["meta"]["title"] == "Ada"
    pmx = tmp_path / "miku.pmx"
    pmx.write_bytes(b"PMX " + bytes(60))
    code, out = run(capsys, "models", "inspect", str(pmx), "--json")
    assert code == 1 and json.loads(out) == {
        "ok": False,
        "path": str(pmx),
        "code": "wrong_format",
        "message": json.loads(out)["message"],
        "detectedFormat": "pmx",
    }
    assert "MMD model" in json.loads(out)["message"]


def test_import_list_select_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--user-data", str(tmp_path / "data")]
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a model")
    code, out = run(
        capsys,
        "models",
        "import",
        *data,
        str(vrm(tmp_path, "a.vrm", "Ada")),
        str(bogus),
        str(vrm(tmp_path, "b.vrm", "Bea")),
    )
    # One refusal fails the command, but the good files are imported all the same.
    assert code == 1 and "a.vrm: imported as" in out and "notes.txt: refused (not_glb)" in out and "b.vrm" in out
    code, out = run(capsys, "models", "list", *data, "--json")
    tama, *models = json.loads(out)["models"]
    # A new library starts with the built-in avatar, selected.
    assert tama["name"] == "Tama" and tama["builtin"] and tama["selected"]
    assert code == 0 and [m["name"] for m in models] == ["Ada", "Bea"] and not any(m["selected"] for m in models)
    ada = models[0]["id"]
    code, out = run(capsys, "models", "select", *data, ada[:8])
    assert code == 0 and out.strip() == "selected Ada"
    code, out = run(capsys, "models", "remove", *data, ada, "--json")
    assert code == 1 and json.loads(out)["code"] == "in_use"
    code, out = run(capsys, "models", "remove", *data, models[1]["id"])
    assert code == 0 and out.strip() == "removed Bea"
    code, out = run(capsys, "models", "list", *data)
    assert [line[:1] for line in out.splitlines()] == [" ", "*"] and "Ada" in out and "Bea" not in out
    code, out = run(capsys, "models", "select", *data, "ffff")
    assert code == 1 and "No model in the library matches 'ffff'" in out


@pytest.mark.parametrize("content", [b"", b"glTF\x02\x00\x00\x00\xff\xff\xff\xff", b"PK\x03\x04broken zip"])
def test_no_traceback_for_any_bad_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.vrm"
    bad.write_bytes(content)
    for args in (["inspect", str(bad)], ["import", str(bad), "--user-data", str(tmp_path / "data")]):
        completed = subprocess.run(
            [sys.executable, "-m", "app", "models", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert completed.returncode == 1, completed.stderr
        assert "Traceback" not in completed.stderr and completed.stdout.count("\n") == 1, completed
