"""PyTorch peer for `npm run bench:train`: the same Llama, batch and optimizer as Worldmind's trainer.

A compact Llama (embeddings, RMSNorm, HF's non-interleaved RoPE, grouped-query attention, SwiGLU, tied
head) in float32 with AdamW (fused=False) and global grad-norm clipping, as tools/trainer does. Weights and
token rows come from files the TypeScript side wrote (so both sides start from the same numbers).

Driven over stdin/stdout, one JSON object per line, so the benchmark can interleave it with the other
contenders without paying Python's start-up per round:
  -> {"cmd": "info"}                 <- {"info": {...torch version, BLAS library, matmul GFLOP/s...}}
  -> {"cmd": "loss"}                 <- {"loss": L}            (batch 0, current weights, no update)
  -> {"cmd": "steps", "count": n, "lr": x?}  <- {"step": i, "ms": t, "cpu_ms": c, "sys_ms": s, "loss": L} per step (wall, process CPU time), then {"done": n}
  -> {"cmd": "quit"}
Anything else on stdout is a bug; diagnostics go to stderr.
"""
import argparse
import ctypes
import inspect
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def load_tensor(blob, entry):
    count = math.prod(entry["shape"]) if entry["shape"] else 1
    t = torch.frombuffer(blob, dtype=torch.float32, count=count, offset=entry["offset"])
    return t.reshape(entry["shape"]).clone()


class RMSNorm(torch.nn.Module):
    def __init__(self, weight, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self, cfg, w, layer):
        super().__init__()
        self.cfg = cfg
        prefix = f"model.layers.{layer}."

        def linear(name):
            # The trainer stores linears [in, out]; nn.Linear wants [out, in].
            lin = torch.nn.Linear(1, 1, bias=False)
            lin.weight = torch.nn.Parameter(w[prefix + name + ".weight_t"].t().contiguous())
            return lin

        self.input_layernorm = RMSNorm(w[prefix + "input_layernorm.weight"], cfg["rmsNormEps"])
        self.post_attention_layernorm = RMSNorm(w[prefix + "post_attention_layernorm.weight"], cfg["rmsNormEps"])
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (linear("self_attn." + n) for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
        self.gate_proj, self.up_proj, self.down_proj = (linear("mlp." + n) for n in ("gate_proj", "up_proj", "down_proj"))

    def forward(self, x, cos, sin, mask):
        cfg = self.cfg
        B, S, _ = x.shape
        H, KV, hd = cfg["numAttentionHeads"], cfg["numKeyValueHeads"], cfg["headDim"]
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, S, H, hd).transpose(1, 2)
        k = self.k_proj(h).view(B, S, KV, hd).transpose(1, 2)
        v = self.v_proj(h).view(B, S, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if KV != H:  # HF's repeat_kv
            k = k[:, :, None].expand(B, KV, H // KV, S, hd).reshape(B, H, S, hd)
            v = v[:, :, None].expand(B, KV, H // KV, S, hd).reshape(B, H, S, hd)
        if ATTENTION == "sdpa":
            ctx = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(hd)) + mask
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        x = x + self.o_proj(ctx.transpose(1, 2).reshape(B, S, H * hd))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(torch.nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.cfg = cfg
        self.embed = torch.nn.Parameter(w["model.embed_tokens.weight"])
        self.layers = torch.nn.ModuleList(Block(cfg, w, i) for i in range(cfg["numLayers"]))
        self.norm = RMSNorm(w["model.norm.weight"], cfg["rmsNormEps"])
        self.lm_head = torch.nn.Parameter(w["lm_head.weight"]) if "lm_head.weight" in w else None
        S, hd = cfg["sequence"], cfg["headDim"]
        inv_freq = 1.0 / (cfg["ropeTheta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        freqs = torch.outer(torch.arange(S, dtype=torch.float64), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos().float(), persistent=False)
        self.register_buffer("sin", emb.sin().float(), persistent=False)
        self.register_buffer("mask", torch.full((S, S), -1e9).triu(1), persistent=False)

    def forward(self, ids, targets):
        x = F.embedding(ids, self.embed)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        logits = F.linear(self.norm(x), self.embed if self.lm_head is None else self.lm_head)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def blas_info():
    """Which BLAS the process really loaded (Debian's libblas.so.3 is an alternatives symlink) and its speed."""
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(10):  # the best of ten: a shared machine only ever slows a run down
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    gflops = 2 * 1024**3 / best / 1e9
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in path or "lapack" in path or "libmkl" in path:
                libs.add(path)
    info = {"libraries": sorted(libs), "matmul_1024_gflops": round(gflops, 1)}
    openblas = next((p for p in libs if "openblas" in os.path.basename(p)), None)
    if openblas:
        lib = ctypes.CDLL(openblas)
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        info["name"] = "OpenBLAS"
        info["config"] = lib.openblas_get_config().decode()
        info["core"] = lib.openblas_get_corename().decode()
        info["threads"] = lib.openblas_get_num_threads()
    elif any("libmkl" in p for p in libs):
        info["name"] = "MKL"
    elif any("/blas/libblas" in p for p in libs):
        info["name"] = "reference BLAS (netlib)"
    else:
        info["name"] = "unknown"
    return info


def main():
    global ATTENTION
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--attention", choices=["manual", "sdpa"], default="manual")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ATTENTION = args.attention
    if ATTENTION == "sdpa" and not hasattr(F, "scaled_dot_product_attention"):
        ATTENTION = "manual"

    with open(args.manifest) as f:
        manifest = json.load(f)
    cfg = manifest["config"]
    with open(manifest["weights"], "rb") as f:
        blob = bytearray(f.read())
    weights = {e["name"]: load_tensor(blob, e) for e in manifest["tensors"]}
    B, S = cfg["batch"], cfg["sequence"]
    with open(manifest["batches"], "rb") as f:
        ids_blob = bytearray(f.read())
    count = manifest["batchCount"]
    all_ids = torch.frombuffer(ids_blob, dtype=torch.int64).reshape(count, 2, B, S).clone()
    batches = [(all_ids[i, 0], all_ids[i, 1]) for i in range(count)]

    model = Llama(cfg, weights)
    decay = [p for n, p in model.named_parameters() if not n.endswith("norm.weight") and "layernorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("norm.weight") or "layernorm" in n]
    extra = {"fused": False} if "fused" in inspect.signature(torch.optim.AdamW).parameters else {}
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, foreach=False, **extra,
    )
    step = 0
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "info":
            emit({"info": {"torch": torch.__version__, "threads": torch.get_num_threads(), "attention": ATTENTION,
                           "params": sum(p.numel() for p in model.parameters()), "blas": blas_info()}})
        elif cmd["cmd"] == "loss":
            with torch.no_grad():
                emit({"loss": model(*batches[0]).item()})
        elif cmd["cmd"] == "steps":
            if "lr" in cmd:  # a schedule driven by the caller (diagnostics compare trajectories step by step)
                for group in optimizer.param_groups:
                    group["lr"] = cmd["lr"]
            for _ in range(cmd["count"]):
                ids, targets = batches[step % len(batches)]
                r0 = resource.getrusage(resource.RUSAGE_SELF)
                t0 = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                loss = model(ids, targets)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                ms = (time.perf_counter() - t0) * 1000
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                sys_ms = (r1.ru_stime - r0.ru_stime) * 1000
                cpu_ms = (r1.ru_utime - r0.ru_utime) * 1000 + sys_ms
                emit({"step": step, "ms": ms, "cpu_ms": cpu_ms, "sys_ms": sys_ms, "loss": loss.item()})
                step += 1
            emit({"done": cmd["count"]})
        elif cmd["cmd"] == "quit":
            break


ATTENTION = "manual"

if __name__ == "__main__":
    main()
