"""Which committed results are current: every file in ``benchmark/results`` is made by an entry of its
``manifest.toml``, and was produced under the protocol versions the code has now (``benchmark/versions.py``).

A result produced under an older protocol is a wrong number until it is made again, so the leaderboard refuses
it, naming the command. An entry may say why its files stand for now (``stale = "..."``, a rerun of hours, say);
the leaderboard then prints that beside them, with the versions, instead of refusing.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import DeepbenchError
from benchmark.versions import PROTOCOLS, stale_protocols

MANIFEST = "manifest.toml"
RESULT_SUFFIXES = (".json", ".png")


@dataclass(frozen=True)
class Entry:
    """How one group of committed files is made."""

    name: str
    files: tuple[str, ...]
    commands: tuple[str, ...]
    threads: int
    device: str
    protocols: tuple[str, ...]
    stale: str | None = None


def load_manifest(folder: Path) -> list[Entry]:
    path = folder / MANIFEST
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeepbenchError(f"{path} does not exist; it lists how each committed result is made") from None
    except tomllib.TOMLDecodeError as error:
        raise DeepbenchError(f"{path} is not valid TOML ({error})") from None
    entries = []
    for name, fields in table.items():
        try:
            entries.append(Entry(name, tuple(fields["files"]), tuple(fields["commands"]), int(fields["threads"]),
                                 str(fields["device"]), tuple(fields["protocols"]), fields.get("stale")))
        except (KeyError, TypeError, ValueError) as error:
            raise DeepbenchError(f"{path}: entry [{name}] needs files, commands, threads, device and protocols "
                                 f"({error})") from None
        unknown = set(entries[-1].protocols) - set(PROTOCOLS)
        if unknown:
            raise DeepbenchError(f"{path}: entry [{name}] names unknown protocols {sorted(unknown)}; the protocols "
                                 f"are {', '.join(PROTOCOLS)}")
    return entries


def regenerate_hint(entry: Entry) -> str:
    where = "on a CPU" if entry.device == "cpu" else f"on a {entry.device}, not on CPUs"
    return f"make results ONLY={entry.name} ({where}, {entry.threads} torch threads: {'; '.join(entry.commands)})"


def provenance(folder: str | Path) -> dict[str, str]:
    """{file: why it stands though stale} for the files an entry accepts as stale; raises, listing every file that
    no entry makes, that an entry names but is missing, or that is stale without a reason, with its command.

    A folder without a manifest (a user's own results) is taken as it is: nothing says how to make it again.
    """
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        return {}
    entries, problems, notes = load_manifest(folder), [], {}
    listed = {file: entry for entry in entries for file in entry.files}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.suffix in RESULT_SUFFIXES and name not in listed:
            problems.append(f"{name} is made by no entry of {folder / MANIFEST}; add the commands that make it")
    for name, entry in listed.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is listed in [{entry.name}] of {folder / MANIFEST} but missing; "
                            f"{regenerate_hint(entry)}")
            continue
        if path.suffix != ".json":
            continue
        try:
            recorded = json.loads(path.read_text(encoding="utf-8")).get("protocols")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DeepbenchError(f"{path} is not valid JSON ({error}); {regenerate_hint(entry)}") from None
        stale = stale_protocols(recorded, entry.protocols)
        if not stale:
            continue
        versions = ", ".join(f"{protocol} {'none recorded' if old is None else old} (now {new})"
                             for protocol, (old, new) in stale.items())
        if entry.stale:
            notes[name] = (f"Produced under older protocols ({versions}): {entry.stale}. Regenerate with "
                           f"{regenerate_hint(entry)}.")
        else:
            problems.append(f"{name} was produced under older protocols ({versions}); {regenerate_hint(entry)}")
    if problems:
        raise DeepbenchError("committed results are stale or unaccounted for:\n  " + "\n  ".join(problems))
    return notes
