"""A small OpenAI-architecture CLIP in PyTorch, its BPE tokenizer and its Hugging Face export.

Used by samples/train.py (training, export) and samples/evaluate.py (zero-shot, LeGrad, metrics).

Architecture = OpenAI CLIP (clip/model.py), named as HF CLIPModel (docs: spec clip-engine.md §2.1):
  vision: patch conv (no bias) -> [CLS; patches] + pos -> pre_layrnorm -> L pre-LN blocks (QuickGELU)
          -> post_layernorm(CLS) -> visual_projection
  text:   token + pos -> L causal pre-LN blocks -> final_layer_norm -> row argmax(ids) (EOT = max id)
          -> text_projection
  score:  exp(logit_scale) * cos
Tokenizer = the OpenAI SimpleTokenizer algorithm (lowercase, CLIP regex, bytes_to_unicode, BPE with
"</w>") over a small vocabulary; <|startoftext|> and <|endoftext|> are the two last ids.
"""
import html
import json
import math
import os
import numpy as np
import regex
import torch
import torch.nn as nn

# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------
SOT, EOT = "<|startoftext|>", "<|endoftext|>"
PAT = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                    regex.IGNORECASE)


def bytes_to_unicode():
    """OpenAI's reversible byte -> printable code point table (byte order kept)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _pretokens(text):
    """Clean (no ftfy: the engine has none either), lowercase, split with the CLIP regex, map bytes."""
    b2u = bytes_to_unicode()
    text = html.unescape(html.unescape(text)).strip()
    text = " ".join(text.split()).lower()
    return ["".join(b2u[b] for b in piece.encode("utf-8")) for piece in PAT.findall(text)]


def train_bpe(texts):
    """Learn merges until every word of the corpus is a single symbol.

    Most frequent adjacent pair first (counts weighted by word frequency); ties go to the
    lexicographically smallest pair, so the result is deterministic.  Returns the merge list."""
    freq = {}
    for t in texts:
        for w in _pretokens(t):
            freq[w] = freq.get(w, 0) + 1
    words = {w: tuple(w[:-1]) + (w[-1] + "</w>",) for w in freq}
    merges = []
    while True:
        pairs = {}
        for w, sym in words.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + freq[w]
        if not pairs:
            return merges
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w, sym in words.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            words[w] = tuple(out)


def vocab_from_merges(merges):
    """CLIP vocabulary order: 256 byte symbols, the same with </w>, merge results, SOT, EOT."""
    v = list(bytes_to_unicode().values())
    v = v + [s + "</w>" for s in v]
    v += ["".join(m) for m in merges]
    v += [SOT, EOT]
    return {s: i for i, s in enumerate(v)}


class Tokenizer:
    """OpenAI SimpleTokenizer algorithm over vocab.json + merges.txt."""

    def __init__(self, vocab, merges):
        self.encoder = vocab
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.sot, self.eot = vocab[SOT], vocab[EOT]
        self.cache = {}

    @classmethod
    def load(cls, d):
        with open(os.path.join(d, "vocab.json")) as f:
            vocab = json.load(f)
        with open(os.path.join(d, "merges.txt")) as f:
            lines = f.read().split("\n")
        merges = [tuple(l.split()) for l in lines[1:] if l.strip()]
        return cls(vocab, merges)

    def save(self, d, merges):
        with open(os.path.join(d, "vocab.json"), "w") as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with open(os.path.join(d, "merges.txt"), "w") as f:
            f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = tuple(out)
        self.cache[token] = word
        return word

    def encode(self, text):
        """[SOT] + ids + [EOT] (no padding, no truncation)."""
        ids = [self.sot]
        for piece in _pretokens(text):
            ids += [self.encoder[s] for s in self.bpe(piece)]
        return ids + [self.eot]

    def batch(self, texts, context=77):
        """LongTensor [n, min(context, longest)] padded with 0; truncated sequences end with EOT."""
        seqs = [self.encode(t) for t in texts]
        n = min(context, max(len(s) for s in seqs))
        out = torch.zeros(len(seqs), n, dtype=torch.long)
        for i, s in enumerate(seqs):
            if len(s) > n:
                s = s[:n - 1] + [self.eot]
            out[i, :len(s)] = torch.tensor(s)
        return out


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """Pre-LN residual block; attention is explicit so LeGrad can take gradients of its softmax."""

    def __init__(self, d, heads, mlp):
        super().__init__()
        self.heads = heads
        self.layer_norm1 = nn.LayerNorm(d)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))
        self.layer_norm2 = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)
        self.act = QuickGELU()

    def forward(self, x, mask=None, keep=None, keep_v=None):
        """x: [B, N, D].  keep: list to which the attention probabilities [B, H, N, N] are appended;
        keep_v: list to which the value vectors [B, H, N, D/H] are appended."""
        B, N, D = x.shape
        hd = D // self.heads
        h = self.layer_norm1(x)
        q = self.q_proj(h).view(B, N, self.heads, hd).transpose(1, 2) * hd ** -0.5
        k = self.k_proj(h).view(B, N, self.heads, hd).transpose(1, 2)
        v = self.v_proj(h).view(B, N, self.heads, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        a = s.softmax(-1)
        if keep is not None:
            keep.append(a)
        if keep_v is not None:
            keep_v.append(v)
        o = (a @ v).transpose(1, 2).reshape(B, N, D)
        x = x + self.out_proj(o)
        return x + self.fc2(self.act(self.fc1(self.layer_norm2(x))))


class TinyCLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        v, t = cfg["vision"], cfg["text"]
        dv, dt, e = v["width"], t["width"], cfg["embed_dim"]
        self.patch = v["patch"]
        self.grid = v["image_size"] // v["patch"]
        self.patch_embedding = nn.Conv2d(3, dv, v["patch"], v["patch"], bias=False)
        self.class_embedding = nn.Parameter(torch.randn(dv) * dv ** -0.5)
        self.vpos = nn.Parameter(torch.randn(self.grid ** 2 + 1, dv) * dv ** -0.5)
        self.pre_layrnorm = nn.LayerNorm(dv)
        self.vblocks = nn.ModuleList(Block(dv, v["heads"], v["mlp"]) for _ in range(v["layers"]))
        self.post_layernorm = nn.LayerNorm(dv)
        self.visual_projection = nn.Linear(dv, e, bias=False)
        self.token_embedding = nn.Embedding(t["vocab"], dt)
        self.tpos = nn.Parameter(torch.randn(t["context"], dt) * 0.01)
        self.tblocks = nn.ModuleList(Block(dt, t["heads"], t["mlp"]) for _ in range(t["layers"]))
        self.final_layer_norm = nn.LayerNorm(dt)
        self.text_projection = nn.Linear(dt, e, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self._init()

    def _init(self):
        """OpenAI-style initialisation (clip/model.py initialize_parameters)."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        for blocks, d in ((self.vblocks, self.cfg["vision"]["width"]), (self.tblocks, self.cfg["text"]["width"])):
            L = len(blocks)
            for b in blocks:
                for lin in (b.q_proj, b.k_proj, b.v_proj):
                    nn.init.normal_(lin.weight, std=d ** -0.5)
                    nn.init.zeros_(lin.bias)
                nn.init.normal_(b.out_proj.weight, std=d ** -0.5 * (2 * L) ** -0.5)
                nn.init.zeros_(b.out_proj.bias)
                nn.init.normal_(b.fc1.weight, std=(2 * d) ** -0.5)
                nn.init.normal_(b.fc2.weight, std=d ** -0.5 * (2 * L) ** -0.5)
        nn.init.normal_(self.visual_projection.weight, std=self.cfg["vision"]["width"] ** -0.5)
        nn.init.normal_(self.text_projection.weight, std=self.cfg["text"]["width"] ** -0.5)

    def vision_embed(self, pixels):
        """pixels [B,3,S,S] normalised -> [CLS; patches] + position embedding [B, 1 + G*G, D]."""
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], 1) + self.vpos

    def vision_tokens(self, pixels, keep_attn=None, keep_out=None, keep_v=None):
        """pixels [B,3,S,S] normalised -> final token states [B, N, D] (before post_layernorm)."""
        return self.vision_blocks(self.vision_embed(pixels), keep_attn, keep_out, keep_v)

    def vision_blocks(self, x, keep_attn=None, keep_out=None, keep_v=None):
        """Embedded tokens [B, N, D] -> pre_layrnorm, then every block; the final states [B, N, D].
        keep_attn / keep_out / keep_v receive each block's attention, output and values."""
        x = self.pre_layrnorm(x)
        for b in self.vblocks:
            x = b(x, keep=keep_attn, keep_v=keep_v)
            if keep_out is not None:
                keep_out.append(x)
        return x

    def encode_image(self, pixels):
        return self.visual_projection(self.post_layernorm(self.vision_tokens(pixels)[:, 0]))

    def encode_text(self, ids):
        n = ids.shape[1]
        x = self.token_embedding(ids) + self.tpos[:n]
        mask = torch.full((n, n), float("-inf")).triu(1)
        for b in self.tblocks:
            x = b(x, mask=mask)
        x = self.final_layer_norm(x)
        return self.text_projection(x[torch.arange(ids.shape[0]), ids.argmax(-1)])

    # -- HF export / import ---------------------------------------------------------------------
    def hf_params(self):
        """[(HF CLIPModel tensor name, live parameter)] in export order."""
        out = []

        def blocks(prefix, bl):
            for i, b in enumerate(bl):
                p = "%s.encoder.layers.%d." % (prefix, i)
                for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    out.append((p + "self_attn.%s.weight" % name, getattr(b, name).weight))
                    out.append((p + "self_attn.%s.bias" % name, getattr(b, name).bias))
                for name, hf in (("layer_norm1", "layer_norm1"), ("layer_norm2", "layer_norm2"),
                                 ("fc1", "mlp.fc1"), ("fc2", "mlp.fc2")):
                    out.append((p + hf + ".weight", getattr(b, name).weight))
                    out.append((p + hf + ".bias", getattr(b, name).bias))

        out += [("vision_model.embeddings.class_embedding", self.class_embedding),
                ("vision_model.embeddings.patch_embedding.weight", self.patch_embedding.weight),
                ("vision_model.embeddings.position_embedding.weight", self.vpos),
                ("vision_model.pre_layrnorm.weight", self.pre_layrnorm.weight),
                ("vision_model.pre_layrnorm.bias", self.pre_layrnorm.bias)]
        blocks("vision_model", self.vblocks)
        out += [("vision_model.post_layernorm.weight", self.post_layernorm.weight),
                ("vision_model.post_layernorm.bias", self.post_layernorm.bias),
                ("visual_projection.weight", self.visual_projection.weight),
                ("text_model.embeddings.token_embedding.weight", self.token_embedding.weight),
                ("text_model.embeddings.position_embedding.weight", self.tpos)]
        blocks("text_model", self.tblocks)
        out += [("text_model.final_layer_norm.weight", self.final_layer_norm.weight),
                ("text_model.final_layer_norm.bias", self.final_layer_norm.bias),
                ("text_projection.weight", self.text_projection.weight),
                ("logit_scale", self.logit_scale)]
        return out

    @classmethod
    def from_dir(cls, d):
        """Loads an exported directory (config.json + model.safetensors, HF names) for more training
        or analysis; the inverse of hf_config + hf_state."""
        from st_io import load_safetensors
        with open(os.path.join(d, "config.json")) as f:
            hf = json.load(f)
        v, t = hf["vision_config"], hf["text_config"]
        cfg = {"embed_dim": hf["projection_dim"],
               "vision": {"width": v["hidden_size"], "mlp": v["intermediate_size"],
                          "heads": v["num_attention_heads"], "layers": v["num_hidden_layers"],
                          "image_size": v["image_size"], "patch": v["patch_size"]},
               "text": {"width": t["hidden_size"], "mlp": t["intermediate_size"],
                        "heads": t["num_attention_heads"], "layers": t["num_hidden_layers"],
                        "vocab": t["vocab_size"], "context": t["max_position_embeddings"]}}
        model = cls(cfg)
        sd = load_safetensors(os.path.join(d, "model.safetensors"))
        with torch.no_grad():
            for name, p in model.hf_params():
                p.copy_(sd[name].reshape(p.shape))
        return model

    def hf_state(self):
        """{HF CLIPModel tensor name: detached fp32 tensor}."""
        return {k: v.detach().float().clone() for k, v in self.hf_params()}


def hf_config(cfg, vocab, eos_id, bos_id):
    v, t = cfg["vision"], cfg["text"]
    return {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": cfg["embed_dim"],
        "logit_scale_init_value": 2.6592,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "clip_text_model", "hidden_size": t["width"], "intermediate_size": t["mlp"],
            "num_attention_heads": t["heads"], "num_hidden_layers": t["layers"], "hidden_act": "quick_gelu",
            "vocab_size": vocab, "max_position_embeddings": t["context"], "layer_norm_eps": 1e-5,
            "bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": 0,
            "projection_dim": cfg["embed_dim"]},
        "vision_config": {
            "model_type": "clip_vision_model", "hidden_size": v["width"], "intermediate_size": v["mlp"],
            "num_attention_heads": v["heads"], "num_hidden_layers": v["layers"], "hidden_act": "quick_gelu",
            "image_size": v["image_size"], "patch_size": v["patch"], "num_channels": 3,
            "layer_norm_eps": 1e-5, "projection_dim": cfg["embed_dim"]},
    }


MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def normalise(rgb_uint8):
    """uint8 [B, H, W, 3] numpy -> float tensor [B, 3, H, W] with the CLIP mean/std."""
    x = torch.from_numpy(np.array(rgb_uint8, np.float32)).permute(0, 3, 1, 2) / 255.0
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
