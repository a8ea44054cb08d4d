"""Library paths a review found: each once lost a model, made the library unopenable, or deleted another
process's work. The files are real; the processes too where another process matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.models.library import INDEX_NAME, ModelLibrary
from app.models.store import INCOMING_PREFIX
from tests.vrm_factory import build_vrm, rebuilt


def opened(folder: Path) -> ModelLibrary:
    library = ModelLibrary(folder)
    library.open()
    return library


def test_hostile_metadata_is_imported_and_the_library_reopens(tmp_path: Path) -> None:
    def hostile(document: dict[str, Any]) -> None:
        document["extensions"]["VRMC_vrm"]["meta"].update(name="Ada \ud800", thirdPartyLicenses=[[[[[[["deep"]]]]]]])

    source = tmp_path / "ada.vrm"
    source.write_bytes(rebuilt("1.0", hostile))
    entry = opened(tmp_path / "data").import_file(source).entry
    again = opened(tmp_path / "data")
    assert [e.sha256 for e in again.entries()] == [entry.sha256] and again.warnings == []
    assert again.entries()[0].name == "Ada ?"


def test_a_file_name_that_is_not_utf8_is_imported(tmp_path: Path) -> None:
    source = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.vrm"))
    source.write_bytes(build_vrm("1.0"))
    entry = opened(tmp_path / "data").import_file(source).entry
    assert entry.file_name == "caf?.vrm"
    assert opened(tmp_path / "data").entries()[0].file_name == entry.file_name


def test_reload_keeps_the_library_when_the_index_is_unreadable_for_a_moment(tmp_path: Path) -> None:
    library = opened(tmp_path)
    source = tmp_path / "a.vrm"
    source.write_bytes(build_vrm("1.0"))
    library.import_file(source)
    (tmp_path / INDEX_NAME).write_text("{half written")
    library.reload()
    assert len(library.entries()) == 1


def test_a_live_writers_copy_is_left_alone_a_dead_ones_removed(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        (models / f"{INCOMING_PREFIX}{live.pid}-abc.part").write_bytes(b"copying")
        (models / f"{INCOMING_PREFIX}{dead.pid}-abc.part").write_bytes(b"crashed")
        opened(tmp_path)
        assert [p.name for p in models.iterdir()] == [f"{INCOMING_PREFIX}{live.pid}-abc.part"]
    finally:
        live.kill()
        live.wait()


def test_damaged_index_contents_and_duplicates_are_survived(tmp_path: Path) -> None:
    library = opened(tmp_path)
    source = tmp_path / "a.vrm"
    source.write_bytes(build_vrm("1.0", title="Ada"))
    library.import_file(source)
    index = json.loads((tmp_path / INDEX_NAME).read_text())
    index["models"][0]["inspection"]["meta"] = "oops"
    index["models"].append(index["models"][0])
    (tmp_path / INDEX_NAME).write_text(json.dumps(index))
    again = opened(tmp_path)
    [entry] = again.entries()
    assert entry.name == "a.vrm" and entry.authors == [] and entry.license_summary == "Unknown license"


def test_a_removal_under_way_survives_a_corrupt_index(tmp_path: Path) -> None:
    library = opened(tmp_path)
    source = tmp_path / "a.vrm"
    source.write_bytes(build_vrm("1.0"))
    entry = library.import_file(source).entry
    library.files.begin_removal(entry.sha256)  # then the process dies, and the index is damaged too
    (tmp_path / INDEX_NAME).write_text("garbage")
    again = opened(tmp_path)
    assert [e.sha256 for e in again.entries()] == [entry.sha256] and entry.path.is_file()


def test_set_aside_never_overwrites(tmp_path: Path) -> None:
    library = opened(tmp_path)
    for attempt in range(2):
        (tmp_path / INDEX_NAME).write_text(f"bad {attempt}")
        library.open()
    asides = sorted(p.read_text() for p in tmp_path.glob(f"{INDEX_NAME}.corrupt-*"))
    assert asides == ["bad 0", "bad 1"]


def test_a_crashed_builtin_staging_file_is_cleaned(tmp_path: Path) -> None:
    opened(tmp_path)
    (tmp_path / ".builtin-12345.vrm").write_bytes(b"half")
    opened(tmp_path)
    assert not list(tmp_path.glob(".builtin-*"))
