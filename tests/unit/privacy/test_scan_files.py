"""The byte scan behind forget's verification: whole-word, case-insensitive copies in any file under its roots,
except the directories it is told the platform does not hold (the simulator's answer key)."""

from __future__ import annotations

from pathlib import Path

from dagster_project.privacy.scan import scan_files


def test_copies_are_counted_in_every_file_but_the_excluded_directories(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "ground_truth").mkdir()
    (tmp_path / "logs" / "run.log").write_bytes(b"sent to Jane.Doe@example.com; jane.doe@example.com bounced\n")
    (tmp_path / "logs" / "other.log").write_bytes(b"xjane.doe@example.comx is another word\n")
    (tmp_path / "ground_truth" / "contacts.json").write_text('{"email": "jane.doe@example.com"}')

    traces = scan_files(
        [tmp_path], ["jane.doe@example.com"], person_id="per_jane", excluded=(tmp_path / "ground_truth",)
    )

    assert [(Path(trace.path).name, trace.value, trace.copies) for trace in traces] == [
        ("run.log", "jane.doe@example.com", 2)
    ]
