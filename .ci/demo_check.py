"""The newcomer path, as CI proves it: `make demo` serves, and a prompt gets two replies from the built-in model.

    python3 .ci/demo_check.py [--url http://127.0.0.1:8000] [--timeout 1800]

Waits for the server (a fresh clone installs everything and converts SmolLM2 first), logs in as the
demo annotator over the REST API, writes a prompt, and waits until the turn is `ready` with two
non-empty replies. Standard library only: it runs before anything is installed.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

PROMPT = "How do I make a good cup of tea?"


def call(url: str, method: str = "GET", body: dict | None = None, token: str | None = None, timeout: float = 30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return answer.status, json.loads(answer.read() or b"null")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is dead too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the server to come up")
    parser.add_argument("--sampling-timeout", type=float, default=300)
    parser.add_argument("--pid", type=int, help="the demo's process: stop waiting as soon as it has died")
    args = parser.parse_args()

    deadline = time.time() + args.timeout
    while True:
        try:
            status, _ = call(f"{args.url}/healthz", timeout=5)
            if status == 200:
                break
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if args.pid and not alive(args.pid):
            print(f"demo check: make demo (pid {args.pid}) exited before the server answered", file=sys.stderr)
            return 1
        if time.time() > deadline:
            print(f"demo check: the server did not answer on {args.url} within {args.timeout:.0f} s", file=sys.stderr)
            return 1
        time.sleep(2)
    print(f"demo check: server up after {args.timeout - (deadline - time.time()):.0f} s", flush=True)

    _, token = call(f"{args.url}/api/auth/token/", "POST", {"username": "annotator", "password": "compare-replies"})
    token = token["token"]
    _, dialogue = call(f"{args.url}/api/dialogues/", "POST", {"track": "helpfulness"}, token)
    started = time.time()
    status, turn = call(
        f"{args.url}/api/dialogues/{dialogue['id']}/turns/",
        "POST",
        {"prompt": PROMPT},
        token,
        timeout=args.sampling_timeout,
    )
    assert status == 202, (status, turn)
    first_partial = None
    while time.time() - started < args.sampling_timeout:
        _, turn = call(f"{args.url}/api/turns/{turn['id']}/", token=token)
        if first_partial is None and any(p.get("text") for p in turn.get("partial") or []):
            first_partial = time.time() - started
        if turn["status"] != "sampling":
            break
        time.sleep(0.3)
    texts = [r["text"] for r in turn.get("responses", [])]
    print(
        json.dumps(
            {
                "status": turn["status"],
                "seconds": round(time.time() - started, 1),
                "first_partial_seconds": first_partial,
                "prompt": PROMPT,
                "replies": texts,
                "error": turn.get("error"),
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    if turn["status"] != "ready" or len(texts) != 2 or not all(t.strip() for t in texts):
        print("demo check: FAILED, the turn did not get two non-empty replies", file=sys.stderr)
        return 1
    print("demo check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
