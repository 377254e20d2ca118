"""The compile commands meson wrote (compile_commands.json), reused to
compile other text with a library file's exact flags: the build checks in
this folder compile probes and whole files that way."""
import json
import os
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CTGATE_BUILD_DIR", ROOT / "build"))


def entries():
    return json.loads((BUILD / "compile_commands.json").read_text())


def entry_for(source_suffix):
    for entry in entries():
        if entry["file"].endswith(source_suffix):
            return entry
    raise AssertionError(f"no compile command for {source_suffix} in {BUILD}")


def syntax_check_command(entry, source, compiler=None, drop_warnings=False, extra=()):
    """entry's command, checking `source` (-fsyntax-only) instead of
    compiling entry's file: outputs and dependency files dropped, optionally
    another compiler and none of the GCC warning flags."""
    args = shlex.split(entry["command"])
    out = [compiler or args[0]]
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MQ"):
            skip = True
            continue
        if a in ("-MD", "-c", entry["file"]):
            continue
        if drop_warnings and (a.startswith("-W") or a == "-fdiagnostics-color=always"):
            continue
        out.append(a)
    return out + ["-fsyntax-only", *extra, str(source)]
