"""llama.cpp threads on this machine: prompt evaluation and decoding speed, 1 thread against all.

Run: ``python -m evals.bench_threads [--model smollm2-135m] [--rounds 2]``.

Loads the planner model with llama-cpp-python directly (no server), evaluates a ~1,100-token
prompt and decodes 48 tokens greedily, alternating 1 thread and every core. Prints tokens per
second and the 1-minute load average. Run it on an idle machine and again beside other work:
the default (``planners.servers.llamacpp.default_n_threads``) was chosen from both.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

PROMPT = "You are a planner that calls video tools. " * 120
DECODED_TOKENS = 48


def measure(model_path: str, threads: int) -> tuple[int, float, float]:
    """(prompt tokens, prompt tokens/s, decoded tokens/s) with ``threads`` threads."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=model_path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    tokens = llm.tokenize(PROMPT.encode())
    started = time.perf_counter()
    llm.eval(tokens)
    evaluated = time.perf_counter()
    n = 0
    for _ in llm.generate(tokens[-1:], temp=0.0, reset=False):
        n += 1
        if n >= DECODED_TOKENS:
            break
    decoded = time.perf_counter()
    return len(tokens), len(tokens) / (evaluated - started), n / (decoded - evaluated)


def main(argv: list[str] | None = None) -> int:
    from agent.planner_source import local_model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="a [local_llm] model name or .gguf path")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    path = str(local_model_path(args.model))
    cores = os.cpu_count() or 2
    print(f"model: {args.model}; {cores} cores")
    print("| threads | prompt tokens | prompt tokens/s | decode tokens/s | load (1 min) |")
    print("|---|---|---|---|---|")
    for _ in range(args.rounds):
        for threads in sorted({1, cores}):
            n, prompt_rate, decode_rate = measure(path, threads)
            print(f"| {threads} | {n} | {prompt_rate:.1f} | {decode_rate:.1f} | {os.getloadavg()[0]:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
