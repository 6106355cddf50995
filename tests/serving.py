"""A real OpenAI-compatible server for tests: `transformers serve` (the `serving` extra) on 127.0.0.1.

    server = TransformersServe(model_dir, log=tmp_path / "serve.log").start()
    server.url          # http://127.0.0.1:<port>/v1, what an openai model version's endpoint is
    server.served_name  # the model name requests must carry (the directory: the server is pinned to it)
    server.stop(); server.start()   # a server that goes down and comes back on the same port

It loads a local model directory with no download (HF_HUB_OFFLINE=1). transformers serve samples
only when the model's generation config says `do_sample: true` (else every request is greedy, whatever
its temperature), so `served_model_save` writes a tiny chat model with that default.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from transformers import GenerationConfig

from reward_training.testing import tiny_chat_model_save

SERVE = Path(sys.executable).parent / "transformers"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_model_save(path: Path, *, seed: int = 0) -> Path:
    """A tiny random chat model (with a chat template) whose generation config samples by default."""
    tiny_chat_model_save(path, seed=seed)
    config = GenerationConfig.from_pretrained(path)
    config.do_sample = True
    config.save_pretrained(path)
    return path


class TransformersServe:
    def __init__(self, model_dir: Path, *, log: Path, port: int | None = None):
        self.model_dir, self.log = Path(model_dir), Path(log)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def served_name(self) -> str:
        return str(self.model_dir)

    def start(self, timeout: float = 120) -> "TransformersServe":
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [
                str(SERVE),
                "serve",
                str(self.model_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--device",
                "cpu",
                "--log-level",
                "info",
            ],
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}; see {self.log}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve did not answer /health within {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
