#!/usr/bin/env python3
"""Run the command blocks of README.md and of man pages' EXAMPLES sections.

    docblocks.py list FILE...   print each block and what it is taken for
    docblocks.py run FILE...    run them, in order, in the current directory

tests/integration/readme.sh runs this inside a private mount, network and
pid namespace that it has prepared as the docs assume (a daemon running, a
group msgr, ...), so that the docs are tried as a reader pastes them, and a
change to the docs or to the code that breaks one fails the test.

A block is taken as:
  file     its first line is "[Section]" (an INI or unit fragment) or
           "; /PATH" (written to PATH, for the commands after it)
  C        C source (a line ends in ";", "{" or "}")
  build    its commands run make or cc: not run
  prompt   lines start with "$ " or "# ": each is a command, a line ending
           in a backslash continues it, and other lines are its expected
           output (then its exit status may be anything, and "echo $?"
           shows it); a command without output shown must exit 0
  script   otherwise: the whole block is one script that must exit 0
"""
import os
import re
import subprocess
import sys

ROFF = [("\\(dq", '"'), ("\\&", ""), ("\\-", "-"), ("\\e", "\\")]
# Commands that need what no test machine here has. They are reported.
UNRUNNABLE = {"systemctl": "needs systemd as PID 1"}
TIMEOUT = 60


def unroff(line):
    out, i = "", 0
    while i < len(line):
        for esc, rep in ROFF:
            if line.startswith(esc, i):
                out += rep
                i += len(esc)
                break
        else:
            out += line[i]
            i += 1
    return out


def man_blocks(path):
    blocks, cur, in_ex = [], None, False
    for n, line in enumerate(open(path), 1):
        line = line.rstrip("\n")
        if line.startswith(".Sh "):
            in_ex = line == ".Sh EXAMPLES"
        elif in_ex and line.startswith(".Bd -literal"):
            cur = (n, [])
        elif cur is not None and line == ".Ed":
            blocks.append(cur)
            cur = None
        elif cur is not None:
            if line.startswith("."):
                raise SystemExit(f"{path}:{n}: a macro inside a literal block: {line}")
            cur[1].append(unroff(line))
    return blocks


def md_blocks(path):
    blocks, cur = [], None
    for n, line in enumerate(open(path), 1):
        line = line.rstrip("\n")
        if cur is None and re.fullmatch(r"```(sh|bash|shell|console)", line):
            cur = (n, [])
        elif cur is None and line.startswith("```") and line != "```":
            cur = (n, None)         # another language: skipped whole
        elif cur is not None and line == "```":
            if cur[1] is not None:
                blocks.append(cur)
            cur = None
        elif cur is None and line == "```":
            cur = (n, None)
        elif cur is not None and cur[1] is not None:
            cur[1].append(line)
    return blocks


def blocks_of(path):
    return md_blocks(path) if path.endswith(".md") else man_blocks(path)


def commands(lines):
    """[(command text, [expected output lines])] of a prompt block."""
    cmds = []
    cont = False
    for line in lines:
        if cont:
            cmds[-1][0] += "\n" + line
        elif re.match(r"[$#] ", line):
            cmds.append([line[2:], []])
        elif cmds:
            cmds[-1][1].append(line)
        cont = line.endswith("\\")
    return cmds


def kind(lines):
    if not lines:
        return "empty"
    if re.fullmatch(r"\[[A-Za-z]+\]", lines[0]) or re.fullmatch(r"; /\S+", lines[0]):
        return "file"
    if any(re.search(r"(;|\{|\})\s*$", l) for l in lines if not l.startswith(("$ ", "# "))):
        return "C"
    first = [re.sub(r"^[$#] ", "", l).split() for l in lines if l.strip()]
    if all(w and w[0] in ("make", "cc") for w in first):
        return "build"
    return "prompt" if re.match(r"[$#] ", lines[0]) else "script"


def run_file(path, state):
    failed = 0
    for n, lines in blocks_of(path):
        k = kind(lines)
        where = f"{os.path.basename(path)}:{n}"
        print(f"== {where}: {k}")
        if k == "file":
            m = re.fullmatch(r"; (/\S+)", lines[0])
            if m:
                os.makedirs(os.path.dirname(m.group(1)), exist_ok=True)
                with open(m.group(1), "w") as f:
                    f.write("\n".join(lines) + "\n")
                print(f"   wrote {m.group(1)}")
            elif lines[0] == "[Service]" and os.environ.get("DOCS_UNIT"):
                unit = open(os.environ["DOCS_UNIT"]).read().splitlines()
                for l in lines:
                    if l not in unit:
                        print(f"   FAIL: '{l}' is not in the installed msgrd.service")
                        failed = 1
            continue
        if k not in ("prompt", "script"):
            continue
        if k == "script":
            # every command of it must succeed, not just the last
            cmds = [["( set -e\n" + "\n".join(lines) + "\n)", None]]
        else:
            cmds = commands(lines)
        # One shell per block, so that "echo $?" sees the command before it.
        script = ["__rc=0"]
        for i, (cmd, _) in enumerate(cmds):
            word = cmd.split()[0] if cmd.split() else ""
            if word in UNRUNNABLE:
                script.append(f"echo 'skipped: {UNRUNNABLE[word]}' >{state}/out.{i}; echo 0 >{state}/rc.{i}")
                continue
            # a person waits for a daemon started with & before typing on:
            # wait for the msgrd stand-in, which returns once it is ready
            script.append(f"(exit $__rc); {{ {cmd}\n}} >{state}/out.{i} 2>&1 </dev/null; __rc=$?; "
                          f"echo $__rc >{state}/rc.{i}; wait")
        try:
            subprocess.run(["bash", "-o", "pipefail", "-c", "\n".join(script)], timeout=TIMEOUT,
                           check=False)
        except subprocess.TimeoutExpired:
            print(f"   FAIL: {where} did not finish within {TIMEOUT} s")
            failed = 1
            continue
        for i, (cmd, want) in enumerate(cmds):
            try:
                got = open(f"{state}/out.{i}").read().rstrip("\n")
                rc = int(open(f"{state}/rc.{i}").read())
            except (OSError, ValueError):
                print(f"   FAIL: {cmd!r} did not run")
                failed = 1
                continue
            shown = "\n".join("   | " + l for l in got.splitlines())
            print(f"   $ {cmd}  -> {rc}" + ("\n" + shown if shown else ""))
            if got.startswith("skipped: "):
                continue
            if want:
                if got.splitlines() != [w.rstrip() for w in want]:
                    print("   FAIL: the page shows:\n" + "\n".join("   | " + w for w in want))
                    failed = 1
            elif rc != 0:
                print(f"   FAIL: exit status {rc}")
                failed = 1
            os.unlink(f"{state}/out.{i}")
            os.unlink(f"{state}/rc.{i}")
    return failed


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("list", "run"):
        raise SystemExit(__doc__)
    failed = 0
    for path in sys.argv[2:]:
        if sys.argv[1] == "list":
            for n, lines in blocks_of(path):
                print(f"{path}:{n}: {kind(lines)}: {lines[:1]}")
        else:
            failed |= run_file(path, os.environ["DOCS_STATE"])
    return failed


if __name__ == "__main__":
    sys.exit(main())
