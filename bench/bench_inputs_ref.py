#!/usr/bin/python3
"""The Python side of bench/bench_inputs.c: Pillow + torchvision preprocessing of the same 640x480
image and the reference SimpleTokenizer algorithm (tests/reference/ref_inputs.py, no ftfy) on the
same fixture prompts.  Median of N runs, single thread, thread CPU time (time.thread_time).

    OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/bench_inputs_ref.py [N]
"""
import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import ref_inputs  # noqa: E402


def median_ms(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.thread_time()
        fn()
        ts.append((time.thread_time() - t0) * 1e3)
    return statistics.median(ts)


def main():
    import torch
    import torchvision.transforms as T
    from PIL import Image
    torch.set_num_threads(1)
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    root = ref_inputs.ROOT
    path = os.path.join(ref_inputs.SHARED, "data", "images", "cats_remote_control.jpeg")
    if not os.path.exists(path):
        path = os.path.join(root, "tests", "fixtures", "image", "in", "rgb_640x480.png")
    blob = open(path, "rb").read()
    bic = T.InterpolationMode.BICUBIC
    norm = T.Normalize(ref_inputs.OPENAI_MEAN, ref_inputs.OPENAI_STD)
    crop = T.Compose([T.Resize(224, interpolation=bic), T.CenterCrop(224), T.ToTensor(), norm])
    crop_u8 = T.Compose([T.Resize(224, interpolation=bic), T.CenterCrop(224)])
    squash = T.Compose([T.Resize((448, 448), interpolation=bic), T.ToTensor(), norm])

    def decode():
        im = Image.open(io.BytesIO(blob))
        im.load()
        return im
    img = decode()
    print(f"image {path} ({img.size[0]}x{img.size[1]}), {reps} runs, median ms (Pillow {Image.__version__}):")
    print(f"  decode                      {median_ms(decode, reps):8.3f}")
    print(f"  crop 224, uint8             {median_ms(lambda: crop_u8(img).convert('RGB'), reps):8.3f}")
    print(f"  crop 224, normalised fp32   {median_ms(lambda: crop(img.convert('RGB')), reps):8.3f}")
    print(f"  squash 448, normalised fp32 {median_ms(lambda: squash(img.convert('RGB')), reps):8.3f}")

    gz = os.path.join(ref_inputs.SHARED, "data", "clip-bpe", "bpe_simple_vocab_16e6.txt.gz")
    t0 = time.thread_time()
    tok = ref_inputs.RefTokenizer.from_gz(gz)
    load = (time.thread_time() - t0) * 1e3
    prompts = ref_inputs.prompts()

    def all_prompts():
        tok.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        for p in prompts:
            tok.tokenize(p)
    per = median_ms(all_prompts, max(3, reps // 4)) * 1e3 / len(prompts)
    one = median_ms(lambda: tok.tokenize("a photo of a cat"), reps * 10) * 1e3
    print(f"tokenizer (Python SimpleTokenizer algorithm, cold BPE cache per pass): load {load:.1f} ms; "
          f"{len(prompts)} prompts: median {per:.2f} us/prompt; \"a photo of a cat\" (cached BPE): "
          f"median {one:.2f} us")


if __name__ == "__main__":
    main()
