"""What a hostile registry can put in the messages ocimodel prints: never a secret (rule 2), in
any spelling; never a line of 60 KB; never a control character that reaches the terminal.

Each test runs the command line several times in one confined child (:func:`_cli`), against
small servers named ``*.hostile.test`` (:mod:`tests.harness.hostile_registry`), with the
credentials a docker ``config.json`` gives them.
"""

from __future__ import annotations

import base64
import html
import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from ocimodel._shown import SHOWN
from tests.harness.hostile_registry import HostileServer, Reply, Seen, basic, python

USER, PASSWORD = "alice", "s3cr3t-Pä55/wörd+?"  # non-ASCII, and base64 with '+', '/' and padding
CREDENTIAL = basic(USER, PASSWORD)
BASE64 = CREDENTIAL.partition(" ")[2]
MARK = "=== "


def _cli(runs: Mapping[str, Sequence[str]], home: Path, hosts: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Run ``ocimodel ARGUMENTS`` for each run, in one confined child with :data:`CREDENTIAL`
    for each of ``hosts``; each run's (stdout, stderr)."""
    code = textwrap.dedent(f"""
        import sys
        from ocimodel.cli import main
        for name, arguments in {dict(runs)!r}.items():
            for stream in (sys.stdout, sys.stderr):
                print({MARK!r} + name, file=stream, flush=True)
            main(list(arguments))
            sys.stdout.flush()
            sys.stderr.flush()
    """)
    outcome = python(code, home, dict.fromkeys(hosts, (USER, PASSWORD)))
    assert not outcome.timed_out, outcome.stderr[-2000:]
    assert not outcome.out_of_memory, outcome.stderr[-2000:]

    def split(text: str) -> dict[str, str]:
        pieces = [piece.partition("\n") for piece in text.split(MARK)[1:]]
        return {name: rest for name, _, rest in pieces}

    out, err = split(outcome.stdout), split(outcome.stderr)
    assert list(err) == list(runs), outcome.stderr[-2000:]
    return {name: (out.get(name, ""), err[name]) for name in runs}


# ------------------------------------------------------------------------------ echoed secrets


def _echoes(sent: str) -> dict[str, str]:
    """What each hostile registry answers a request that carried ``sent`` (our ``Authorization``)."""
    decoded = base64.b64decode(sent.partition(" ")[2]).decode()
    cut = len(sent) // 2
    return {
        "split": f"denied for {sent[:cut]}\n{sent[cut:]}\n",
        "mime": f"credential:\r\n{base64.encodebytes(decoded.encode()).decode()[:10]}\r\n"
        f"{base64.encodebytes(decoded.encode()).decode()[10:]}",
        "double": f"see /login?auth={quote(quote(sent, safe=''), safe='')}",
        "upper": f"DENIED: {sent.upper()}",
        "urlsafe": f"token {base64.urlsafe_b64encode(decoded.encode()).decode().rstrip('=')} refused",
        "hex": f"credential bytes: {decoded.encode().hex()}",
        "latin1": f"wrong password {PASSWORD.encode().decode('latin-1')}",
        "entities": "<p>" + "".join(f"&#{ord(c)};" for c in decoded) + "</p>",
        "escaped": json.dumps({"errors": [{"code": "DENIED", "message": "".join(f"\\u{ord(c):04x}" for c in sent)}]}),
        "html": f"<pre>{html.escape(PASSWORD)}</pre>",
    }


def _echo_route(seen: Seen) -> Reply:
    case, sent = (seen.header("Host") or "").split(".")[0], seen.header("Authorization")
    if seen.target == "/v2/" or not sent:
        return Reply(401, {"WWW-Authenticate": 'Basic realm="hostile"'})
    if case == "location":  # our password in the path of a redirect to an address we must not follow
        return Reply(307, {"Location": f"http://127.0.0.1:1/{quote(PASSWORD)}/{BASE64}"})
    if case == "challenge":  # ... in a new challenge's realm
        return Reply(401, {"WWW-Authenticate": f'Bearer realm="http://10.0.0.1/{BASE64}",service="s"'})
    echoed = _echoes(sent).get(case, "?")
    kind = "application/json" if echoed.startswith("{") else "text/plain; charset=utf-8"
    return Reply(403, {"Content-Type": kind}, echoed.encode())


def test_a_secret_echoed_in_any_spelling_never_reaches_the_terminal(tmp_path: Path) -> None:
    """A registry that echoes the ``Authorization`` it was sent in its error (cut by a line
    break, URL-encoded twice, in upper case, in URL-safe base64 without padding, as hex, its
    UTF-8 read as Latin-1, as HTML character references, JSON-escaped), or puts it in a redirect
    or a realm we refuse to follow: the command's one line (and with ``-v``, every line) has
    none of it."""
    cases = [*_echoes(CREDENTIAL), "location", "challenge"]
    with HostileServer(_echo_route) as server:
        runs = {case: ["--insecure", "manifest", f"{server.name(case)}/app:t"] for case in cases}
        runs["verbose"] = ["-v", "--insecure", "manifest", f"{server.name('split')}/app:t"]  # last: -v stays on
        ended = _cli(runs, tmp_path / "home", [server.name(case) for case in cases])
    spellings = {PASSWORD, BASE64, f"{USER}:{PASSWORD}", quote(PASSWORD), html.escape(PASSWORD)}
    for case, (_, stderr) in ended.items():
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert lines, case
        assert lines[-1].startswith("ocimodel: "), (case, stderr)
        if case != "verbose":
            assert len(lines) == 1, (case, stderr)
        assert "<redacted>" in lines[-1], (case, stderr)
        for secret in spellings:
            assert secret.casefold() not in stderr.casefold(), (case, secret, stderr)
        for echoed in _echoes(CREDENTIAL).values():
            for piece in echoed.splitlines():
                assert len(piece) < 12 or piece.strip() not in stderr, (case, piece, stderr)


# ------------------------------------------------------------------------------ long and raw text

BIG = "a" * 60_000
ESCAPES = "\x1b[2J\x1b]0;owned\x07\x9b31m\u202e"


def _noisy_route(seen: Seen) -> Reply:
    """Registries that write a lot, or write to the terminal."""
    case, host, path = (seen.header("Host") or "").split(".")[0], seen.header("Host"), seen.target
    if case == "realm" and path == "/v2/":
        return Reply(
            401, {"WWW-Authenticate": f'Bearer realm="http://{host}/token/{BIG}",service="s",x="{BIG[:4000]}"'}
        )
    if case == "private" and path == "/v2/":
        return Reply(401, {"WWW-Authenticate": f'Bearer realm="http://127.0.0.1:1/{BIG}",service="s"'})
    if path == "/v2/" or path.startswith("/token"):
        return Reply(200, {"Content-Type": "application/json"}, b"{}" if path == "/v2/" else b'{"token":"t"}')
    if case == "location":
        return Reply(307, {"Location": f"http://10.0.0.1/{BIG}"})
    if case == "link":
        return Reply(200, {"Content-Type": "application/json", "Link": f'<{BIG}> "x"; rel="next"'}, b'{"tags":["a"]}')
    if case == "terminal":
        if "/tags/" in path:
            return Reply(200, {"Content-Type": "application/json"}, json.dumps({"tags": [f"v1{ESCAPES}"]}).encode())
        body = json.dumps({"errors": [{"code": "DENIED", "message": f"line one\nline two{ESCAPES}"}]})
        return Reply(403, {"Content-Type": "application/json"}, body.encode())
    if case == "body":
        return Reply(400, {"Content-Type": "text/html"}, f"<html>\n<body>{ESCAPES}\r\n{BIG}</body>".encode())
    return Reply(404)


def test_what_a_registry_writes_is_shown_short_on_one_line_with_no_control_characters(tmp_path: Path) -> None:
    """A 60 KB challenge parameter, ``Location`` or ``Link``, or error body is cut as error
    bodies are; line breaks and escape sequences a registry writes (in an error, with ``-v``, in
    a tag that ``ls`` lists) never reach the terminal raw."""
    with HostileServer(_noisy_route) as server:
        runs = {
            case: ["--insecure", "manifest", f"{server.name(case)}/app:t"]
            for case in ("realm", "private", "location", "terminal", "body")
        }
        runs["link"] = ["--insecure", "ls", f"{server.name('link')}/app"]
        runs["ls"] = ["--insecure", "ls", f"{server.name('terminal')}/app"]
        runs["verbose"] = ["-v", "--insecure", "manifest", f"{server.name('terminal')}/app:t"]  # last: -v stays on
        ended = _cli(runs, tmp_path / "home", [])
    for case, (stdout, stderr) in ended.items():
        for char in "\x1b\x07\x9b\u202e":
            assert char not in stdout + stderr, (case, stdout, stderr)
        lines = [line for line in stderr.splitlines() if line.strip()]
        if case == "ls":
            assert (lines, stdout) == ([], "v1\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\u202e\n")
            continue
        assert lines[-1].startswith("ocimodel: "), (case, stderr)
        assert all(len(line) < 4 * SHOWN for line in lines), (case, [len(line) for line in lines])
        if case != "verbose":
            assert len(lines) == 1, (case, stderr)
        if case in ("terminal", "verbose"):
            assert "line one line two\\x1b[2J" in lines[-1], (case, stderr)
