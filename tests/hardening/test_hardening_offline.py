"""The offline guarantee: the embedded defaults never touch the network, and a hub id without the hub fails clearly.

The suite already refuses non-loopback sockets (pytest-socket) and sets HF_HUB_OFFLINE=1, but a library that
catches the refusal and carries on would pass unnoticed, and models loaded once per process by an earlier test would
hide what loading does. So each pipeline is built and called in a fresh Python process whose audit hook records
(and blocks) every DNS lookup and connection to a host other than this machine -- with HF_HUB_OFFLINE unset, as on
a Space.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mmkit
from mmkit.errors import InputError
from mmkit.models import is_ready

ROOT = Path(__file__).resolve().parents[2]
SOLAR = ROOT / "data" / "examples" / "documents" / "solar_system.md"

GUARD = r'''
import json, socket, sys
LOOPBACK = ("127.", "::1", "localhost")
attempts = []

def guard(event, args):
    """Record and refuse name lookups of, and connections to, anything but loopback (AF_UNIX is local)."""
    if event == "socket.getaddrinfo" and args[0] and not str(args[0]).startswith(LOOPBACK):
        attempts.append(f"getaddrinfo {args[0]!r}")
        raise socket.gaierror(socket.EAI_NONAME, "blocked by the offline test")
    if event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
        if not str(args[1][0]).startswith(LOOPBACK):
            attempts.append(f"connect {args[1]!r}")
            raise ConnectionRefusedError("blocked by the offline test")

sys.addaudithook(guard)
import mmkit

results = {}
def run(name, call):
    try:
        results[name] = repr(call())[:200]
    except Exception as error:
        results[name] = f"{type(error).__name__}: {error}"[:1000]
'''

CALLS = {
    "text-classification": 'clf = mmkit.pipeline("text-classification")\n'
                           'run("head", lambda: clf("The striker scored twice.")[0]["label"])\n'
                           'run("zero-shot", lambda: clf("A cake recipe.", labels=["cooking", "sports"])[0]["label"])',
    "long-text-qa": 'qa = mmkit.pipeline("long-text-qa")\n'
                    f'run("qa", lambda: qa(question="Which planet has the Great Red Spot?", document={str(SOLAR)!r})'
                    '["answer"])',
    "image-captioning": 'cap = mmkit.pipeline("image-captioning")\n'
                        f'run("caption", lambda: cap({str(ROOT / "data/examples/images/red_apple.png")!r})["caption"])',
    "cross-modal-retrieval": 'ret = mmkit.pipeline("cross-modal-retrieval")\n'
                             f'ret.add({str(ROOT / "data/examples/images")!r})\n'
                             'run("search", lambda: ret.search("a red fruit", k=1)[0]["id"])',
}


def run_guarded(code: str, timeout: float = 240) -> dict:
    """Run GUARD + code in a fresh interpreter without HF_HUB_OFFLINE; return {"attempts", "results"}."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    script = GUARD + code + '\nprint("RESULT " + json.dumps({"attempts": attempts, "results": results}))\n'
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_embedded_defaults_open_no_network_connection():
    tasks = ["text-classification", "long-text-qa"]
    if is_ready("efficientnet-lite0-photo"):  # the default of both image pipelines
        tasks += ["image-captioning", "cross-modal-retrieval"]
    report = run_guarded("\n".join(CALLS[task] for task in tasks))
    assert report["attempts"] == []
    results = report["results"]
    assert results["head"] == "'sports'" and results["zero-shot"] == "'cooking'"
    assert "Jupiter" in results["qa"]
    if "image-captioning" in tasks:
        assert "Error" not in results["caption"], results["caption"]
    if "cross-modal-retrieval" in tasks:
        assert "Error" not in results["search"], results["search"]


HUB_ID = "nobody/no-such-model"
CALL_ONCE = {
    "text-classification": lambda p: p("hello there"),
    "image-captioning": lambda p: p(ROOT / "data" / "examples" / "images" / "red_apple.png"),
    "cross-modal-retrieval": lambda p: p.add([ROOT / "data" / "examples" / "images" / "red_apple.png"]),
    "long-text-qa": lambda p: p(question="Which planet has the Great Red Spot?", document=SOLAR),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("task", list(CALL_ONCE))
def test_hub_id_offline_is_a_clear_error_not_a_hang(task, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError) as caught:
        CALL_ONCE[task](mmkit.pipeline(task, model=HUB_ID))
    message = str(caught.value)
    assert HUB_ID in message
    assert "embedded" in message, message


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_hub_id_without_network_and_without_offline_flag_ends_in_a_clear_error():
    """As on a Space whose network is down: huggingface_hub retries (about 30 s of back-off), then a clear error."""
    report = run_guarded(f'run("clf", lambda: mmkit.pipeline("text-classification", model={HUB_ID!r}))',
                         timeout=110)
    assert report["attempts"] and all("huggingface.co" in attempt for attempt in report["attempts"])
    assert report["results"]["clf"].startswith("InputError: cannot load AutoConfig from 'nobody/no-such-model'")
    assert "Offline alternative: model=None (the embedded MiniLM)" in report["results"]["clf"]
