#!/usr/bin/python3
"""Expected logits for GPT-2 config variants (the Hugging Face config.json fields that change the computation).

A reference forward pass in plain PyTorch, float64, written from the semantics of Hugging Face's modeling_gpt2.py
(GPT2Attention's eager path and _upcast_and_reordered_attn, GPT2MLP, ACT2FN in activations.py); transformers is not
needed. Before writing anything it reproduces ../tiny-gpt2/expected.safetensors (made by two other implementations)
from ../tiny-gpt2's weights, so the reference is checked against independent values.

usage: make_variants.py [OUT_DIR]   (default: the folder of this script; seed 20261128)
Needs Debian's python3-torch and python3-numpy. Writes model.safetensors (a 3-layer model with n_inner 24, Hugging
Face layout), NAME.json (one config.json per variant) and expected.safetensors (input_ids, logits.NAME [tokens, vocab],
greedy.prompt and greedy.NAME, the greedy continuation to the full context).
"""
import json, math, os, struct, sys
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else here
seed = 20261128
torch.set_default_dtype(torch.float64)

# ---- safetensors, read and written by hand (format: 8-byte header length, JSON header, raw little-endian data)
def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]; header = json.loads(f.read(n)); data = f.read()
    dtypes = {"F32": np.float32, "I64": np.int64}
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtypes[v["dtype"]]).reshape(v["shape"]).copy()
            for k, v in header.items() if k != "__metadata__"}

def write_safetensors(path, tensors, meta):
    header, off, blobs = {"__metadata__": meta}, 0, []
    for k, v in tensors.items():
        b = np.ascontiguousarray(v).tobytes()
        header[k] = {"dtype": {np.float32: "F32", np.int64: "I64"}[v.dtype.type], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    hj = json.dumps(header, separators=(",", ":")).encode(); hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f: f.write(struct.pack("<Q", len(hj))); f.write(hj); [f.write(b) for b in blobs]

# ---- ACT2FN (transformers/activations.py), the entries a GPT-2 config may name
ACT2FN = {
    "gelu_new": lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0)))),  # NewGELUActivation
    "gelu_pytorch_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),                                        # PytorchGELUTanh
    "gelu": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),                                                     # GELUActivation (erf)
    "gelu_fast": lambda x: 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),                      # FastGELUActivation
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),                                                                  # QuickGELUActivation
    "relu": torch.relu,
    "silu": lambda x: x * torch.sigmoid(x),
    "swish": lambda x: x * torch.sigmoid(x),
    "tanh": torch.tanh,
}

def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True); var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b

def conv1d(x, P, name):  # Hugging Face Conv1D: weight [in, out], y = x W + b
    return torch.addmm(P[name + ".bias"], x.reshape(-1, x.shape[-1]), P[name + ".weight"]).reshape(*x.shape[:-1], -1)

def attention(q, k, v, cfg, layer_idx):
    if cfg.get("reorder_and_upcast_attn", False):  # _upcast_and_reordered_attn: scale folded into alpha, scores in float32
        scale = 1.0
        if cfg.get("scale_attn_weights", True): scale /= float(v.size(-1)) ** 0.5
        if cfg.get("scale_attn_by_inverse_layer_idx", False): scale /= float(layer_idx + 1)
        w = torch.matmul(q, k.transpose(-1, -2)) * scale
    else:  # eager_attention_forward
        w = torch.matmul(q, k.transpose(-1, -2))
        if cfg.get("scale_attn_weights", True): w = w / (v.size(-1) ** 0.5)
        if cfg.get("scale_attn_by_inverse_layer_idx", False): w = w / float(layer_idx + 1)
    T = q.shape[-2]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min))
    return torch.matmul(torch.softmax(w, dim=-1), v)

def forward(P, cfg, ids):
    n_head, eps = cfg["n_head"], cfg.get("layer_norm_epsilon", 1e-5)
    act = ACT2FN[cfg.get("activation_function", "gelu_new")]
    x = P["wte.weight"][ids] + P["wpe.weight"][torch.arange(len(ids))]
    T, C = x.shape
    for i in range(cfg["n_layer"]):
        h = f"h.{i}."
        a = conv1d(layer_norm(x, P[h + "ln_1.weight"], P[h + "ln_1.bias"], eps), P, h + "attn.c_attn")
        q, k, v = (t.view(T, n_head, C // n_head).transpose(0, 1) for t in a.split(C, dim=-1))
        y = attention(q, k, v, cfg, i).transpose(0, 1).reshape(T, C)
        x = x + conv1d(y, P, h + "attn.c_proj")
        m = act(conv1d(layer_norm(x, P[h + "ln_2.weight"], P[h + "ln_2.bias"], eps), P, h + "mlp.c_fc"))
        x = x + conv1d(m, P, h + "mlp.c_proj")
    return layer_norm(x, P["ln_f.weight"], P["ln_f.bias"], eps) @ P["wte.weight"].T

def as_torch(arrays): return {k: torch.from_numpy(v.astype(np.float64)) for k, v in arrays.items()}

# ---- the reference checked against the tiny-gpt2 fixture's independent values
tiny = os.path.join(here, "..", "tiny-gpt2")
tiny_cfg = json.load(open(os.path.join(tiny, "config.json")))
tiny_P, tiny_expected = as_torch(read_safetensors(os.path.join(tiny, "model.safetensors"))), read_safetensors(os.path.join(tiny, "expected.safetensors"))
for j in range(3):
    got = forward(tiny_P, tiny_cfg, torch.from_numpy(tiny_expected[f"input_ids.{j}"]))
    err = float((got - torch.from_numpy(tiny_expected[f"logits.{j}"].astype(np.float64))).abs().max())
    assert err < 1e-5, f"the reference disagrees with tiny-gpt2's logits.{j} by {err}"

# ---- the variants' model: 3 layers (so that 1 / (layer + 1) matters twice), n_inner 24, weights large enough that
#      activations see negative inputs and attention scores are far from uniform
n_layer, n_head, n_embd, n_inner, n_ctx, n_vocab = 3, 2, 16, 24, 12, 50
rng = np.random.default_rng(seed)
def w(*shape, std): return (rng.standard_normal(shape) * std).astype(np.float32)
W = {"wte.weight": w(n_vocab, n_embd, std=0.5), "wpe.weight": w(n_ctx, n_embd, std=1.0),
     "ln_f.weight": 1 + w(n_embd, std=0.1), "ln_f.bias": w(n_embd, std=0.1)}
for i in range(n_layer):
    h = f"h.{i}."
    W.update({h + "ln_1.weight": 1 + w(n_embd, std=0.1), h + "ln_1.bias": w(n_embd, std=0.1),
              h + "attn.c_attn.weight": w(n_embd, 3 * n_embd, std=0.5), h + "attn.c_attn.bias": w(3 * n_embd, std=0.1),
              h + "attn.c_proj.weight": w(n_embd, n_embd, std=0.3), h + "attn.c_proj.bias": w(n_embd, std=0.1),
              h + "ln_2.weight": 1 + w(n_embd, std=0.1), h + "ln_2.bias": w(n_embd, std=0.1),
              h + "mlp.c_fc.weight": w(n_embd, n_inner, std=0.4), h + "mlp.c_fc.bias": w(n_inner, std=0.3),
              h + "mlp.c_proj.weight": w(n_inner, n_embd, std=0.3), h + "mlp.c_proj.bias": w(n_embd, std=0.1)})
P = as_torch(W)
base = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd,
        "n_inner": n_inner, "n_positions": n_ctx, "n_ctx": n_ctx, "vocab_size": n_vocab, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new", "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1,
        "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False}
variants = {
    "gelu_new": {}, "gelu_pytorch_tanh": {"activation_function": "gelu_pytorch_tanh"}, "gelu": {"activation_function": "gelu"},
    "gelu_fast": {"activation_function": "gelu_fast"}, "quick_gelu": {"activation_function": "quick_gelu"},
    "relu": {"activation_function": "relu"}, "silu": {"activation_function": "silu"}, "swish": {"activation_function": "swish"},
    "tanh": {"activation_function": "tanh"},
    "unscaled": {"scale_attn_weights": False},
    "inverse_layer_idx": {"scale_attn_by_inverse_layer_idx": True},
    "unscaled_inverse_layer_idx": {"scale_attn_weights": False, "scale_attn_by_inverse_layer_idx": True},
    "reorder_and_upcast": {"reorder_and_upcast_attn": True, "scale_attn_by_inverse_layer_idx": True},
    "layer_norm_epsilon": {"layer_norm_epsilon": 0.5},
}
ids = rng.integers(0, n_vocab, n_ctx)
prompt = ids[:4]
expected = {"input_ids": ids.astype(np.int64), "greedy.prompt": prompt.astype(np.int64)}
os.makedirs(out, exist_ok=True)
for name, overrides in variants.items():
    cfg = {**base, **overrides}
    with torch.no_grad():
        expected[f"logits.{name}"] = forward(P, cfg, torch.from_numpy(ids)).numpy().astype(np.float32)
        seq = list(prompt)
        while len(seq) < n_ctx:
            top2 = forward(P, cfg, torch.tensor(seq))[-1].topk(2)
            assert top2.values[0] - top2.values[1] > 1e-3, f"{name}: a near tie at step {len(seq)}; float32 could pick the other token"
            seq.append(int(top2.indices[0]))
    expected[f"greedy.{name}"] = np.array(seq, np.int64)
    with open(os.path.join(out, f"{name}.json"), "w") as f: json.dump(cfg, f, indent=2)
# the variants must differ from the default, or a test could pass while ignoring the field
for name in variants:
    if name not in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "swish"):
        diff = float(np.abs(expected[f"logits.{name}"] - expected["logits.gelu_new"]).max())
        assert diff > 1e-3, f"{name} differs from gelu_new by only {diff}"
write_safetensors(os.path.join(out, "model.safetensors"), W, {"format": "pt"})
write_safetensors(os.path.join(out, "expected.safetensors"), expected, {"seed": str(seed), "reference": "make_variants.py, float64"})
print(f"{len(variants)} variants in {out}")
for name in variants:
    print(f"  {name:28s} max |logits - gelu_new| = {np.abs(expected[f'logits.{name}'] - expected['logits.gelu_new']).max():.3g}  greedy {list(expected[f'greedy.{name}'][4:])}")
