"""Checks, for one tokenizer.json, what HuggingFaceTokenizer's use of tiktoken's rank-based BPE relies on.

HuggingFaceTokenizer runs byte-level BPE as tiktoken does (merge first the adjacent pair whose merged token has the lowest
id; a piece that is itself a token stays whole), while Hugging Face merges the listed pair of lowest merge rank and keeps a
whole piece only with ignore_merges. This script shows that the two agree on every token of the vocabulary:

  * merge order == id order of the merged tokens (the loader also checks this, and refuses files where it fails);
  * how many tokens Hugging Face's merges never reach from their own bytes (Llama 3: 588, which is why it sets
    ignore_merges; Qwen3: 0, so tiktoken's whole-piece shortcut changes nothing there);
  * that merging by merge rank and merging by token id give the same tokens for every vocabulary token.

Usage: python3 check_merge_order.py qwen3/tokenizer.json.gz    (a few minutes; Python 3, no packages)
"""
import gzip
import json
import sys

path = sys.argv[1]
with (gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")) as f:
    model = json.load(f)["model"]
vocab = model["vocab"]
merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
merge_rank = {pair: i for i, pair in enumerate(merges)}
print("merges", len(merges), "ignore_merges", model.get("ignore_merges"))

out_of_order = sum(1 for i in range(len(merges) - 1)
                   if vocab[merges[i][0] + merges[i][1]] > vocab[merges[i + 1][0] + merges[i + 1][1]])
print("merges whose token id is lower than the previous merge's:", out_of_order)


def bpe(word, priority):
    parts = list(word)
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            p = priority(parts[i], parts[i + 1])
            if p is not None and (best is None or p < best[0]):
                best = (p, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


by_merge_rank = lambda a, b: merge_rank.get((a, b))   # Hugging Face
by_token_id = lambda a, b: vocab.get(a + b)           # tiktoken with ids as ranks

unreached = differ = 0
for token in vocab:
    if len(token) < 2:
        continue
    hf = bpe(token, by_merge_rank)
    unreached += hf != [token]
    differ += hf != bpe(token, by_token_id)
print("tokens Hugging Face's merges do not reach from their bytes:", unreached)
print("tokens where merging by merge rank and by token id differ:", differ)
