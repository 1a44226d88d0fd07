#!/usr/bin/python3
"""Tiny random checkpoints of the Llama family (llama, qwen2, qwen3) in Hugging Face's published layout, and the
outputs an implementation must reproduce, computed by an independent float64 forward pass.

The reference forward pass below is plain PyTorch written from transformers' modeling_llama.py, modeling_qwen2.py,
modeling_qwen3.py and modeling_rope_utils.py (_compute_default_rope_parameters, _compute_llama3_parameters);
transformers itself is not needed (nor the safetensors package: the format is written and read by hand).

usage: /usr/bin/python3 make_fixtures.py [OUT_DIR]   (default: the folder of this script; seed 20261206)
Needs Debian's python3-torch (1.13) and python3-numpy. Deterministic: rerunning it rewrites the same bytes.

Before writing the expected outputs it checks its own reference (and fails loudly if any check fails):
  * a second reference written apart from it (NumPy, one position and head at a time, RoPE as pair rotations, llama3
    scaling as Meta's reference code states it, scalar by scalar) gives the same logits (to 1e-10);
  * the full forward pass equals a step-by-step pass with a key/value cache (to 1e-10);
  * a grouped-query model equals the multi-head model whose key/value projections are duplicated per query head;
  * the rotate_half RoPE equals RoPE written as complex multiplication of (x_i, x_{i+d/2}) pairs;
  * each left-padded batch row equals the same prompt run alone, at its real positions;
  * llama3 rope scaling changes some inverse frequencies and moves the long-prompt logits;
  * no greedy step is a near tie (top-1 minus top-2 logit > 1e-3), so float32 implementations pick the same tokens;
  * every file reads back to the tensors the reference used (the reference runs on the weights read from disk).
"""
import json, math, os, struct, sys
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE
SEED = 20261206
GREEDY_TOKENS = 16
assert sys.byteorder == "little"
torch.set_default_dtype(torch.float64)

# ---------------------------------------------------------------- safetensors (8-byte little-endian header length,
# JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}} padded with spaces to 8 bytes, raw data)
DTYPE_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.float64: "F64"}
NUMPY_OF = {"F32": np.float32, "F16": np.float16, "BF16": np.int16, "I64": np.int64, "F64": np.float64}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # the upper 16 bits of float32, rounded to nearest even, exactly as torch rounds
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors):
    """tensors: {name: torch tensor}; written sorted by name, as safetensors orders tensors of one dtype."""
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        b = tensor_bytes(tensors[name])
        header[name] = {"dtype": DTYPE_NAME[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    result = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        array = np.frombuffer(data[start:end], NUMPY_OF[entry["dtype"]]).reshape(entry["shape"]).copy()
        t = torch.from_numpy(array)
        result[name] = t.view(torch.bfloat16) if entry["dtype"] == "BF16" else t
    return result


def read_checkpoint(folder):
    """The weights as a loader sees them: model.safetensors, or the index's shards merged."""
    index_path = os.path.join(folder, "model.safetensors.index.json")
    if not os.path.exists(index_path):
        return read_safetensors(os.path.join(folder, "model.safetensors"))
    with open(index_path) as f:
        index = json.load(f)
    weights = {}
    for shard in sorted(set(index["weight_map"].values())):
        part = read_safetensors(os.path.join(folder, shard))
        for name in part:
            assert index["weight_map"][name] == shard, name
        weights.update(part)
    assert set(weights) == set(index["weight_map"])
    return weights


def write_json(path, value):
    with open(path, "w") as f:
        f.write(json.dumps(value, indent=2) + "\n")


# ---------------------------------------------------------------- the reference forward pass, float64
def head_dim(cfg):  # LlamaAttention / Qwen3Attention: getattr(config, "head_dim", hidden_size // num_attention_heads)
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def rms_norm(x, weight, eps):  # LlamaRMSNorm: weight * (x / sqrt(mean(x^2) + eps)), the mean over the last axis
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def inverse_frequencies(cfg):
    """_compute_default_rope_parameters, then _compute_llama3_parameters when rope_scaling names llama3."""
    d = head_dim(cfg)
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).double() / d))
    scaling = cfg.get("rope_scaling")
    if not scaling:
        return inv_freq
    assert scaling["rope_type"] == "llama3", scaling
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_context / low, old_context / high
    wavelen = 2 * math.pi / inv_freq
    # long wavelengths (low frequencies) are divided by the factor, short ones kept, the ones between interpolated
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(medium, smoothed, scaled)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary(x, positions, inv_freq):
    """apply_rotary_pos_emb: x [batch, heads, tokens, d], positions [batch, tokens]; cos/sin of cat(freqs, freqs)."""
    freqs = positions.double()[..., None] * inv_freq  # [batch, tokens, d/2]
    angles = torch.cat((freqs, freqs), dim=-1)[:, None]
    return x * angles.cos() + rotate_half(x) * angles.sin()


def rotary_as_complex(x, positions, inv_freq):
    """The same rotation written differently: (x_i + i x_{i+d/2}) * exp(i * position * inv_freq_i)."""
    half = x.shape[-1] // 2
    z = torch.complex(x[..., :half], x[..., half:])
    turn = torch.polar(torch.ones_like(inv_freq), positions.double()[..., None] * inv_freq)[:, None]
    r = z * turn
    return torch.cat((r.real, r.imag), dim=-1)


def linear(x, W, name, bias=False):
    y = x @ W[name + ".weight"].T
    return y + W[name + ".bias"] if bias else y


def forward(W, cfg, ids, attention_mask=None, position_ids=None, cache=None):
    """Logits [batch, tokens, vocab] of LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM (eager attention).

    attention_mask [batch, past + tokens] (1 = real token; default all ones); position_ids [batch, tokens]
    (default past .. past + tokens - 1); cache: None, or a list (one [keys, values] per layer, keys after RoPE) that
    is read and extended. Query rows that may attend to nothing (left padding) give zero attention output."""
    family = cfg["model_type"]
    batch, tokens = ids.shape
    past = 0 if cache is None or cache[0] is None else cache[0][0].shape[2]
    if attention_mask is None:
        attention_mask = torch.ones(batch, past + tokens, dtype=torch.int64)
    if position_ids is None:
        position_ids = torch.arange(past, past + tokens)[None].expand(batch, tokens)
    heads, kv_heads, d, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg), cfg["rms_norm_eps"]
    groups = heads // kv_heads
    inv_freq = inverse_frequencies(cfg)
    qkv_bias = family == "qwen2" or cfg.get("attention_bias", False)
    # causal and padding mask: query at absolute index past + t sees keys j <= past + t that are real tokens
    query_index = torch.arange(past, past + tokens)[:, None]
    key_index = torch.arange(past + tokens)[None, :]
    allowed = (key_index <= query_index)[None] & (attention_mask[:, None, :] == 1)  # [batch, tokens, keys]
    allowed = allowed[:, None]  # over heads
    any_allowed = allowed.any(-1, keepdim=True)

    x = W["model.embed_tokens.weight"][ids]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = linear(h, W, p + "self_attn.q_proj", qkv_bias).view(batch, tokens, heads, d)
        k = linear(h, W, p + "self_attn.k_proj", qkv_bias).view(batch, tokens, kv_heads, d)
        v = linear(h, W, p + "self_attn.v_proj", qkv_bias).view(batch, tokens, kv_heads, d)
        if family == "qwen3":  # per-head RMSNorm over head_dim, before RoPE
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q, k = rotary(q, position_ids, inv_freq), rotary(k, position_ids, inv_freq)
        if cache is not None:
            if cache[layer] is not None:
                k = torch.cat((cache[layer][0], k), dim=2)
                v = torch.cat((cache[layer][1], v), dim=2)
            cache[layer] = [k, v]
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)  # repeat_kv
        scores = (q @ k.transpose(2, 3)) / math.sqrt(d)
        scores = scores.masked_fill(~allowed, float("-inf"))
        probabilities = torch.softmax(scores.masked_fill(~any_allowed, 0.0), dim=-1) * any_allowed
        attended = (probabilities @ v).transpose(1, 2).reshape(batch, tokens, heads * d)
        x = x + linear(attended, W, p + "self_attn.o_proj")
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate, up = linear(h, W, p + "mlp.gate_proj"), linear(h, W, p + "mlp.up_proj")
        x = x + linear(torch.nn.functional.silu(gate) * up, W, p + "mlp.down_proj")
    x = rms_norm(x, W["model.norm.weight"], eps)
    output = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ output.T


def forward_with_cache_stepwise(W, cfg, ids, chunks):
    """The same logits, fed in chunks through the key/value cache (prefill then smaller steps)."""
    cache, outputs, start = [None] * cfg["num_hidden_layers"], [], 0
    for size in chunks:
        outputs.append(forward(W, cfg, ids[:, start:start + size], cache=cache))
        start += size
    assert start == ids.shape[1]
    return torch.cat(outputs, dim=1)


def greedy(W, cfg, prompt, count):
    """Argmax continuation by full forward passes (no cache); also the smallest top-1 minus top-2 margin."""
    ids, margin = prompt.clone(), float("inf")
    for _ in range(count):
        last = forward(W, cfg, ids)[0, -1]
        top = torch.topk(last, 2).values
        margin = min(margin, (top[0] - top[1]).item())
        ids = torch.cat((ids, last.argmax().view(1, 1)), dim=1)
    return ids, margin


def greedy_with_cache(W, cfg, prompt, count):
    cache = [None] * cfg["num_hidden_layers"]
    logits = forward(W, cfg, prompt, cache=cache)
    ids = prompt.clone()
    for _ in range(count):
        token = logits[0, -1].argmax().view(1, 1)
        ids = torch.cat((ids, token), dim=1)
        logits = forward(W, cfg, token, cache=cache)
    return ids


def with_duplicated_key_value_heads(W, cfg):
    """The multi-head model equivalent to a grouped-query one: each key/value head's projection copied for each query
    head of its group (query head h uses key/value head h // groups, as repeat_kv arranges)."""
    groups = cfg["num_attention_heads"] // cfg["num_key_value_heads"]
    d = head_dim(cfg)
    W2 = dict(W)
    for name, t in W.items():
        if any(s in name for s in ("k_proj", "v_proj")):
            W2[name] = t.reshape(cfg["num_key_value_heads"], d, *t.shape[1:]).repeat_interleave(groups, 0) \
                .reshape(cfg["num_attention_heads"] * d, *t.shape[1:])
    return W2, dict(cfg, num_key_value_heads=cfg["num_attention_heads"])


def llama3_inverse_frequencies_scalar(cfg):
    """Llama 3.1's frequency scaling as Meta's reference code states it (llama-models' apply_scaling), one frequency at
    a time: keep the short wavelengths, divide the long ones by the factor, blend the ones between."""
    d, scaling = head_dim(cfg), cfg["rope_scaling"]
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    result = []
    for i in range(d // 2):
        frequency = 1.0 / cfg["rope_theta"] ** (2 * i / d)
        wavelength = 2 * math.pi / frequency
        if wavelength < old_context / high:
            result.append(frequency)
        elif wavelength > old_context / low:
            result.append(frequency / factor)
        else:
            smooth = (old_context / wavelength - low) / (high - low)
            result.append((1 - smooth) * frequency / factor + smooth * frequency)
    return result


def forward_loops(W, cfg, ids):
    """A second reference, written apart from forward(): NumPy, one position and one head at a time, RoPE as a rotation
    of each (i, i + d/2) pair, softmax by hand; one unpadded sequence. Returns logits [tokens, vocab]."""
    P = {name: t.numpy() for name, t in W.items()}
    family, eps = cfg["model_type"], cfg["rms_norm_eps"]
    heads, kv_heads, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg)
    half = d // 2
    frequencies = (llama3_inverse_frequencies_scalar(cfg) if cfg.get("rope_scaling")
                   else [1.0 / cfg["rope_theta"] ** (2 * i / d) for i in range(half)])

    def norm(v, w):
        return w * v / math.sqrt(float(np.dot(v, v)) / len(v) + eps)

    def project(name, v):
        y = P[name + ".weight"] @ v
        return y + P[name + ".bias"] if name + ".bias" in P else y

    def rotate(v, position):
        out = v.copy()
        for i in range(half):
            c, s = math.cos(position * frequencies[i]), math.sin(position * frequencies[i])
            out[i], out[i + half] = v[i] * c - v[i + half] * s, v[i + half] * c + v[i] * s
        return out

    xs = [P["model.embed_tokens.weight"][t].copy() for t in ids]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}.self_attn."
        queries, keys, values = [], [], []
        for position, x in enumerate(xs):
            h = norm(x, P[f"model.layers.{layer}.input_layernorm.weight"])
            q, k, v = project(p + "q_proj", h), project(p + "k_proj", h), project(p + "v_proj", h)
            q = [q[j * d:(j + 1) * d] for j in range(heads)]
            k = [k[j * d:(j + 1) * d] for j in range(kv_heads)]
            if family == "qwen3":
                q = [norm(head, P[p + "q_norm.weight"]) for head in q]
                k = [norm(head, P[p + "k_norm.weight"]) for head in k]
            queries.append([rotate(head, position) for head in q])
            keys.append([rotate(head, position) for head in k])
            values.append([v[j * d:(j + 1) * d] for j in range(kv_heads)])
        for t in range(len(xs)):
            attended = []
            for j in range(heads):
                shared = j // (heads // kv_heads)  # the key/value head of query head j's group
                scores = [float(np.dot(queries[t][j], keys[s][shared])) / math.sqrt(d) for s in range(t + 1)]
                top = max(scores)
                weights = [math.exp(score - top) for score in scores]
                total = sum(weights)
                attended.append(sum(weights[s] / total * values[s][shared] for s in range(t + 1)))
            xs[t] = xs[t] + project(p + "o_proj", np.concatenate(attended))
        for t in range(len(xs)):
            m = f"model.layers.{layer}.mlp."
            h = norm(xs[t], P[f"model.layers.{layer}.post_attention_layernorm.weight"])
            gate = project(m + "gate_proj", h)
            xs[t] = xs[t] + project(m + "down_proj", gate / (1.0 + np.exp(-gate)) * project(m + "up_proj", h))
    output = P["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else P["lm_head.weight"]
    return torch.from_numpy(np.stack([output @ norm(x, P["model.norm.weight"]) for x in xs]))


def left_padded_batch(prompts, pad_id):
    """input_ids, attention_mask and position_ids as Hugging Face's generate builds them for left padding:
    position_ids = cumsum(mask) - 1, with 1 at the padded positions (they never matter)."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], dtype=torch.int64)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.int64)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    return ids, mask, positions


def close(a, b, tolerance, what):
    error = (a - b).abs().max().item()
    assert error <= tolerance, f"{what}: max |difference| {error:.3g} > {tolerance:g}"
    return error


# ---------------------------------------------------------------- the four checkpoints
def llama_config(**overrides):
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.42.3",
        "use_cache": True,
        "vocab_size": 256,
    }
    cfg.update(overrides)
    return dict(sorted(cfg.items()))


FIXTURES = {
    # SmolLM2's shape of config: grouped-query attention (4 query heads, 2 key/value heads), tied output weights
    # (no lm_head.weight in the file), no head_dim field (hidden_size / num_attention_heads = 16), float32.
    "tiny-llama": dict(
        config=llama_config(),
        shards=1,
        prompt_length=10, batch_lengths=(10, 6), greedy_prompt_length=6),
    # Qwen2.5-0.5B's shape of config: q/k/v biases (o_proj none), one key/value head for 4 query heads, tied output
    # weights, bfloat16 on disk, no rope_scaling key, sliding window off.
    "tiny-qwen2": dict(
        config=dict(sorted({
            "architectures": ["Qwen2ForCausalLM"],
            "attention_dropout": 0.0,
            "bos_token_id": 3,
            "eos_token_id": 3,
            "hidden_act": "silu",
            "hidden_size": 64,
            "initializer_range": 0.02,
            "intermediate_size": 96,
            "max_position_embeddings": 128,
            "max_window_layers": 2,
            "model_type": "qwen2",
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "num_key_value_heads": 1,
            "rms_norm_eps": 1e-06,
            "rope_theta": 1000000.0,
            "sliding_window": 128,
            "tie_word_embeddings": True,
            "torch_dtype": "bfloat16",
            "transformers_version": "4.43.1",
            "use_cache": True,
            "use_sliding_window": False,
            "vocab_size": 192,
        }.items())),
        shards=1,
        prompt_length=12, batch_lengths=(7, 12), greedy_prompt_length=5),
    # Qwen3's shape of config: q_norm/k_norm, an explicit head_dim (16) that is not hidden_size / heads (32 / 4 = 8),
    # so q_proj is [64, 32] and o_proj [32, 64]; 3 layers in two shards with model.safetensors.index.json; untied
    # output weights (lm_head.weight in the second shard); float16 on disk.
    "tiny-qwen3": dict(
        config=dict(sorted({
            "architectures": ["Qwen3ForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": 4,
            "eos_token_id": 5,
            "head_dim": 16,
            "hidden_act": "silu",
            "hidden_size": 32,
            "initializer_range": 0.02,
            "intermediate_size": 80,
            "max_position_embeddings": 128,
            "max_window_layers": 3,
            "model_type": "qwen3",
            "num_attention_heads": 4,
            "num_hidden_layers": 3,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-06,
            "rope_scaling": None,
            "rope_theta": 1000000,
            "sliding_window": None,
            "tie_word_embeddings": False,
            "torch_dtype": "float16",
            "transformers_version": "4.51.0",
            "use_cache": True,
            "use_sliding_window": False,
            "vocab_size": 160,
        }.items())),
        shards=2,
        prompt_length=9, batch_lengths=(9, 4), greedy_prompt_length=7),
    # Llama 3.1/3.2's shape of config: llama3 rope scaling (factor 8, original context 32, so a 48-token prompt
    # reaches past it), an explicit head_dim, a list of end-of-sequence ids, untied output weights, float32.
    "tiny-llama3": dict(
        config=llama_config(
            bos_token_id=1,
            eos_token_id=[2, 3],
            head_dim=16,
            max_position_embeddings=128,
            rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 32, "rope_type": "llama3"},
            rope_theta=10000.0,
            tie_word_embeddings=False,
            transformers_version="4.45.0.dev0",
        ),
        shards=1,
        prompt_length=11, batch_lengths=(11, 8), greedy_prompt_length=6, long_length=48),
}
STORAGE = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def random_weights(cfg, generator):
    """float32 draws, std about 1.2 / sqrt(fan_in) so every projection's output is O(1) and the logits are too;
    RMSNorm weights 1 + N(0, 0.1). Stored rounded to the config's torch_dtype."""
    hidden, inner, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads, kv_heads, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg)

    def normal(rows, cols, fan_in):
        return torch.randn(rows, cols, generator=generator, dtype=torch.float32) * (1.2 / math.sqrt(fan_in))

    def norm_weight(n):
        return 1.0 + 0.1 * torch.randn(n, generator=generator, dtype=torch.float32)

    def bias(n):
        return 0.2 * torch.randn(n, generator=generator, dtype=torch.float32)

    W = {"model.embed_tokens.weight": normal(vocab, hidden, hidden)}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        W[p + "input_layernorm.weight"] = norm_weight(hidden)
        W[p + "self_attn.q_proj.weight"] = normal(heads * d, hidden, hidden)
        W[p + "self_attn.k_proj.weight"] = normal(kv_heads * d, hidden, hidden)
        W[p + "self_attn.v_proj.weight"] = normal(kv_heads * d, hidden, hidden)
        if cfg["model_type"] == "qwen2":
            W[p + "self_attn.q_proj.bias"] = bias(heads * d)
            W[p + "self_attn.k_proj.bias"] = bias(kv_heads * d)
            W[p + "self_attn.v_proj.bias"] = bias(kv_heads * d)
        if cfg["model_type"] == "qwen3":
            W[p + "self_attn.q_norm.weight"] = norm_weight(d)
            W[p + "self_attn.k_norm.weight"] = norm_weight(d)
        W[p + "self_attn.o_proj.weight"] = normal(hidden, heads * d, heads * d)
        W[p + "post_attention_layernorm.weight"] = norm_weight(hidden)
        W[p + "mlp.gate_proj.weight"] = normal(inner, hidden, hidden)
        W[p + "mlp.up_proj.weight"] = normal(inner, hidden, hidden)
        W[p + "mlp.down_proj.weight"] = normal(hidden, inner, inner)
    W["model.norm.weight"] = norm_weight(hidden)
    if not cfg["tie_word_embeddings"]:
        W["lm_head.weight"] = normal(vocab, hidden, hidden)
    dtype = STORAGE[cfg["torch_dtype"]]
    return {name: t.to(dtype) for name, t in W.items()}


def shard_of(name, cfg, shards):
    """Two shards split as Hugging Face splits by size: the embedding and the first layer, then the rest."""
    if shards == 1:
        return "model.safetensors"
    first = name == "model.embed_tokens.weight" or name.startswith("model.layers.0.")
    return f"model-0000{1 if first else 2}-of-0000{shards}.safetensors"


def write_checkpoint(folder, cfg, stored, shards):
    files = {}
    for name, t in stored.items():
        files.setdefault(shard_of(name, cfg, shards), {})[name] = t
    for file, tensors in files.items():
        write_safetensors(os.path.join(folder, file), tensors)
    if shards > 1:
        total = sum(t.numel() * t.element_size() for t in stored.values())
        write_json(os.path.join(folder, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total},
                    "weight_map": {name: shard_of(name, cfg, shards) for name in sorted(stored)}})
    write_json(os.path.join(folder, "config.json"), cfg)
    write_json(os.path.join(folder, "generation_config.json"),
               {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
                "transformers_version": cfg["transformers_version"]})


def make(name, spec, generator):
    cfg, folder = spec["config"], os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    stored = random_weights(cfg, generator)
    write_checkpoint(folder, cfg, stored, spec["shards"])

    W = {k: v.double() for k, v in read_checkpoint(folder).items()}  # the reference uses exactly what was written
    assert set(W) == set(stored), set(W) ^ set(stored)
    for k in stored:
        assert torch.equal(W[k], stored[k].double()), k
    assert ("lm_head.weight" in W) == (not cfg["tie_word_embeddings"])

    vocab, first_id = cfg["vocab_size"], 6  # prompts avoid the special ids 0..5

    def random_prompt(length):
        return torch.randint(first_id, vocab, (length,), generator=generator).tolist()

    print(f"{name}: {cfg['model_type']}, {len(W)} tensors, {cfg['torch_dtype']}, {spec['shards']} file(s)")

    # one prompt, full forward pass; checked against the cache and against duplicated key/value heads
    ids = torch.tensor([random_prompt(spec["prompt_length"])])
    logits = forward(W, cfg, ids)
    n = ids.shape[1]
    e = close(logits, forward_with_cache_stepwise(W, cfg, ids, [n - 4, 1, 2, 1]), 1e-10, f"{name} cache")
    print(f"  full pass vs cached steps: {e:.2e}")
    e = close(logits[0], forward_loops(W, cfg, ids[0].tolist()), 1e-10, f"{name} second reference")
    print(f"  vs the second (NumPy, loop) reference: {e:.2e}")
    if cfg["num_key_value_heads"] != cfg["num_attention_heads"]:
        e = close(logits, forward(*with_duplicated_key_value_heads(W, cfg), ids), 1e-10, f"{name} grouped heads")
        print(f"  grouped-query vs duplicated multi-head: {e:.2e}")
    x = torch.randn(2, cfg["num_attention_heads"], n, head_dim(cfg), generator=generator, dtype=torch.float64)
    positions = torch.arange(n)[None].expand(2, n) * 3
    close(rotary(x, positions, inverse_frequencies(cfg)), rotary_as_complex(x, positions, inverse_frequencies(cfg)),
          1e-12, f"{name} rotary")
    print(f"  logits: std {logits.std().item():.3f}, max |logit| {logits.abs().max().item():.3f}")

    # a left-padded batch of two prompts of different lengths
    lengths = spec["batch_lengths"]
    prompts = [ids[0].tolist()[:lengths[0]] if lengths[0] <= n else random_prompt(lengths[0]), random_prompt(lengths[1])]
    batch_ids, batch_mask, batch_positions = left_padded_batch(prompts, pad_id=cfg["bos_token_id"])
    batch_logits = forward(W, cfg, batch_ids, batch_mask, batch_positions)
    width = batch_ids.shape[1]
    for row, prompt in enumerate(prompts):
        alone = forward(W, cfg, torch.tensor([prompt]))
        close(batch_logits[row, width - len(prompt):], alone[0], 1e-10, f"{name} batch row {row}")
    batch_logits = batch_logits * batch_mask[..., None]  # the padded positions hold zeros: no output is defined there
    print(f"  batch rows equal their prompts alone; lengths {lengths}")

    # greedy continuation, full passes each step; the cached path must choose the same tokens
    prompt = torch.tensor([random_prompt(spec["greedy_prompt_length"])])
    output, margin = greedy(W, cfg, prompt, GREEDY_TOKENS)
    assert torch.equal(output, greedy_with_cache(W, cfg, prompt, GREEDY_TOKENS)), f"{name} greedy with cache"
    assert margin > 1e-3, f"{name}: greedy step near a tie (margin {margin:.2e}); change the seed or prompt"
    print(f"  greedy: {output[0].tolist()} (smallest top-1 margin {margin:.4f})")

    expected = {
        "input_ids": ids, "logits": logits.float(),
        "batch.input_ids": batch_ids, "batch.attention_mask": batch_mask, "batch.position_ids": batch_positions,
        "batch.logits": batch_logits.float(),
        "greedy.prompt": prompt, "greedy.output": output,
    }
    if "long_length" in spec:
        long_ids = torch.tensor([random_prompt(spec["long_length"])])
        long_logits = forward(W, cfg, long_ids)
        unscaled = dict(cfg, rope_scaling=None)
        default, scaled = inverse_frequencies(unscaled), inverse_frequencies(cfg)
        changed = int((default != scaled).sum())
        divided = int(torch.isclose(scaled, default / cfg["rope_scaling"]["factor"], rtol=1e-14, atol=0).sum())
        assert 0 < changed < len(default), "llama3 scaling must change some frequencies and keep others"
        assert divided < changed, "some frequency must be interpolated (neither kept nor divided)"
        close(scaled, torch.tensor(llama3_inverse_frequencies_scalar(cfg)), 1e-15, f"{name} llama3 frequencies")
        close(long_logits[0], forward_loops(W, cfg, long_ids[0].tolist()), 1e-10, f"{name} long, second reference")
        moved = (long_logits - forward(W, unscaled, long_ids)).abs().max().item()
        assert moved > 1e-2, f"llama3 scaling barely moves the long-prompt logits ({moved:.2e})"
        e = close(long_logits, forward_with_cache_stepwise(W, cfg, long_ids, [30, 1, 1, 16]), 1e-10, f"{name} long")
        print(f"  llama3 rope: {changed} of {len(default)} inverse frequencies changed ({divided} divided by the "
              f"factor, {changed - divided} interpolated); wavelengths {[round(w, 2) for w in (2 * math.pi / default).tolist()]}")
        print(f"  long prompt ({spec['long_length']} tokens > original 32): scaling moves logits by up to {moved:.3f};"
              f" cache {e:.2e}")
        expected["long.input_ids"] = long_ids
        expected["long.logits"] = long_logits.float()
    write_safetensors(os.path.join(folder, "expected.safetensors"), expected)


def main():
    generator = torch.Generator().manual_seed(SEED)
    for name, spec in FIXTURES.items():
        make(name, spec, generator)


if __name__ == "__main__":
    main()
