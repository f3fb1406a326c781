"""Write the per-layer parameter tables of the repository's base architectures.

Run ``python -m fgamcd_env.data.make_tables`` to regenerate ``cnn_layers.csv`` and
``llm_layers.csv`` next to this file. The counts are derived from the architectures'
definitions (torchvision's Inception-v3, ResNet-18 and MobileNet-v2 with ImageNet heads;
Hugging Face's Llama-2-7b/13b configs), one row per parameterised layer, so that the tests
can check them against the published totals without torchvision or transformers installed.

Columns: ``base, block, layer, kind, shape, params``. ``block`` is the parameter-block (PB)
granularity the repository uses: a torchvision top-level child (a residual/inception/inverted
residual block, a stem, or the classifier head) for CNNs, and an embedding, one decoder layer or
the output head (final norm + lm_head) for LLMs. Only trainable parameters are counted
(BatchNorm running statistics are buffers and are not downloaded as parameters).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

Row = tuple[str, str, str, str, str, int]

HERE = Path(__file__).resolve().parent
CNN_FILE = HERE / "cnn_layers.csv"
LLM_FILE = HERE / "llm_layers.csv"
HEADER = ("base", "block", "layer", "kind", "shape", "params")


def _conv_bn(base: str, block: str, name: str, cin: int, cout: int, kh: int, kw: int) -> list[Row]:
    """A bias-free convolution then BatchNorm (weight and bias), as torchvision's BasicConv2d."""
    return [
        (base, block, f"{name}.conv", "conv", f"{cout}x{cin}x{kh}x{kw}", cout * cin * kh * kw),
        (base, block, f"{name}.bn", "bn", f"{cout}", 2 * cout),
    ]


def _linear(base: str, block: str, name: str, fin: int, fout: int, bias: bool = True) -> Row:
    return (base, block, name, "linear", f"{fout}x{fin}", fout * fin + (fout if bias else 0))


def inception_v3(num_classes: int = 1000, aux_logits: bool = False) -> list[Row]:
    """torchvision ``inception_v3``; the auxiliary head is training-only and excluded by default."""
    b = "inception_v3"
    rows: list[Row] = []

    def cb(block: str, name: str, cin: int, cout: int, kh: int, kw: int | None = None) -> None:
        rows.extend(_conv_bn(b, block, f"{block}.{name}", cin, cout, kh, kh if kw is None else kw))

    for blk, cin, cout, k in [
        ("Conv2d_1a_3x3", 3, 32, 3),
        ("Conv2d_2a_3x3", 32, 32, 3),
        ("Conv2d_2b_3x3", 32, 64, 3),
        ("Conv2d_3b_1x1", 64, 80, 1),
        ("Conv2d_4a_3x3", 80, 192, 3),
    ]:
        rows.extend(_conv_bn(b, blk, blk, cin, cout, k, k))

    def inception_a(blk: str, cin: int, pool: int) -> None:
        cb(blk, "branch1x1", cin, 64, 1)
        cb(blk, "branch5x5_1", cin, 48, 1)
        cb(blk, "branch5x5_2", 48, 64, 5)
        cb(blk, "branch3x3dbl_1", cin, 64, 1)
        cb(blk, "branch3x3dbl_2", 64, 96, 3)
        cb(blk, "branch3x3dbl_3", 96, 96, 3)
        cb(blk, "branch_pool", cin, pool, 1)

    def inception_b(blk: str, cin: int) -> None:
        cb(blk, "branch3x3", cin, 384, 3)
        cb(blk, "branch3x3dbl_1", cin, 64, 1)
        cb(blk, "branch3x3dbl_2", 64, 96, 3)
        cb(blk, "branch3x3dbl_3", 96, 96, 3)

    def inception_c(blk: str, cin: int, c7: int) -> None:
        cb(blk, "branch1x1", cin, 192, 1)
        cb(blk, "branch7x7_1", cin, c7, 1)
        cb(blk, "branch7x7_2", c7, c7, 1, 7)
        cb(blk, "branch7x7_3", c7, 192, 7, 1)
        cb(blk, "branch7x7dbl_1", cin, c7, 1)
        cb(blk, "branch7x7dbl_2", c7, c7, 7, 1)
        cb(blk, "branch7x7dbl_3", c7, c7, 1, 7)
        cb(blk, "branch7x7dbl_4", c7, c7, 7, 1)
        cb(blk, "branch7x7dbl_5", c7, 192, 1, 7)
        cb(blk, "branch_pool", cin, 192, 1)

    def inception_d(blk: str, cin: int) -> None:
        cb(blk, "branch3x3_1", cin, 192, 1)
        cb(blk, "branch3x3_2", 192, 320, 3)
        cb(blk, "branch7x7x3_1", cin, 192, 1)
        cb(blk, "branch7x7x3_2", 192, 192, 1, 7)
        cb(blk, "branch7x7x3_3", 192, 192, 7, 1)
        cb(blk, "branch7x7x3_4", 192, 192, 3)

    def inception_e(blk: str, cin: int) -> None:
        cb(blk, "branch1x1", cin, 320, 1)
        cb(blk, "branch3x3_1", cin, 384, 1)
        cb(blk, "branch3x3_2a", 384, 384, 1, 3)
        cb(blk, "branch3x3_2b", 384, 384, 3, 1)
        cb(blk, "branch3x3dbl_1", cin, 448, 1)
        cb(blk, "branch3x3dbl_2", 448, 384, 3)
        cb(blk, "branch3x3dbl_3a", 384, 384, 1, 3)
        cb(blk, "branch3x3dbl_3b", 384, 384, 3, 1)
        cb(blk, "branch_pool", cin, 192, 1)

    inception_a("Mixed_5b", 192, 32)
    inception_a("Mixed_5c", 256, 64)
    inception_a("Mixed_5d", 288, 64)
    inception_b("Mixed_6a", 288)
    inception_c("Mixed_6b", 768, 128)
    inception_c("Mixed_6c", 768, 160)
    inception_c("Mixed_6d", 768, 160)
    inception_c("Mixed_6e", 768, 192)
    if aux_logits:
        cb("AuxLogits", "conv0", 768, 128, 1)
        cb("AuxLogits", "conv1", 128, 768, 5)
        rows.append(_linear(b, "AuxLogits", "AuxLogits.fc", 768, num_classes))
    inception_d("Mixed_7a", 768)
    inception_e("Mixed_7b", 1280)
    inception_e("Mixed_7c", 2048)
    rows.append(_linear(b, "fc", "fc", 2048, num_classes))
    return rows


def resnet18(num_classes: int = 1000) -> list[Row]:
    """torchvision ``resnet18``; ``conv1`` + ``bn1`` form the ``stem`` block."""
    b = "resnet18"
    rows: list[Row] = [
        (b, "stem", "conv1", "conv", "64x3x7x7", 64 * 3 * 49),
        (b, "stem", "bn1", "bn", "64", 128),
    ]
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512), start=1):
        for i in range(2):
            blk = f"layer{stage}.{i}"
            first_in = cin if i == 0 else cout
            rows.append(
                (b, blk, f"{blk}.conv1", "conv", f"{cout}x{first_in}x3x3", cout * first_in * 9)
            )
            rows.append((b, blk, f"{blk}.bn1", "bn", f"{cout}", 2 * cout))
            rows.append((b, blk, f"{blk}.conv2", "conv", f"{cout}x{cout}x3x3", cout * cout * 9))
            rows.append((b, blk, f"{blk}.bn2", "bn", f"{cout}", 2 * cout))
            if i == 0 and cin != cout:
                rows.append(
                    (b, blk, f"{blk}.downsample.0", "conv", f"{cout}x{cin}x1x1", cout * cin)
                )
                rows.append((b, blk, f"{blk}.downsample.1", "bn", f"{cout}", 2 * cout))
        cin = cout
    rows.append(_linear(b, "fc", "fc", 512, num_classes))
    return rows


def mobilenet_v2(num_classes: int = 1000) -> list[Row]:
    """torchvision ``mobilenet_v2`` (width 1.0): ``features.0`` .. ``features.18`` and the head."""
    b = "mobilenet_v2"
    rows: list[Row] = []

    def cbr(blk: str, name: str, cin: int, cout: int, k: int, groups: int = 1) -> None:
        p = cout * (cin // groups) * k * k
        rows.append((b, blk, f"{name}.conv", "conv", f"{cout}x{cin // groups}x{k}x{k}", p))
        rows.append((b, blk, f"{name}.bn", "bn", f"{cout}", 2 * cout))

    cbr("features.0", "features.0", 3, 32, 3)
    cin, idx = 32, 1
    for t, c, n, _stride in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]:
        for _ in range(n):
            blk = f"features.{idx}"
            hidden = cin * t
            if t != 1:
                cbr(blk, f"{blk}.expand", cin, hidden, 1)
            cbr(blk, f"{blk}.depthwise", hidden, hidden, 3, groups=hidden)
            cbr(blk, f"{blk}.project", hidden, c, 1)
            cin, idx = c, idx + 1
    cbr(f"features.{idx}", f"features.{idx}", 320, 1280, 1)
    rows.append(_linear(b, "classifier", "classifier.1", 1280, num_classes))
    return rows


# Hugging Face configs of meta-llama/Llama-2-{7b,13b}-hf (untied lm_head, RMSNorm without bias).
LLAMA2_CONFIGS: dict[str, dict[str, int]] = {
    "llama2_7b": {"hidden": 4096, "layers": 32, "intermediate": 11008, "vocab": 32000},
    "llama2_13b": {"hidden": 5120, "layers": 40, "intermediate": 13824, "vocab": 32000},
}


def llama2(name: str) -> list[Row]:
    """Decoder-only Llama-2: ``embed`` block, ``layers.i`` blocks, and ``head`` (norm + lm_head)."""
    cfg = LLAMA2_CONFIGS[name]
    h, f, v = cfg["hidden"], cfg["intermediate"], cfg["vocab"]
    rows: list[Row] = [(name, "embed", "embed_tokens", "embedding", f"{v}x{h}", v * h)]
    for i in range(cfg["layers"]):
        blk = f"layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            rows.append(_linear(name, blk, f"{blk}.self_attn.{proj}", h, h, bias=False))
        rows.append(_linear(name, blk, f"{blk}.mlp.gate_proj", h, f, bias=False))
        rows.append(_linear(name, blk, f"{blk}.mlp.up_proj", h, f, bias=False))
        rows.append(_linear(name, blk, f"{blk}.mlp.down_proj", f, h, bias=False))
        rows.append((name, blk, f"{blk}.input_layernorm", "rmsnorm", f"{h}", h))
        rows.append((name, blk, f"{blk}.post_attention_layernorm", "rmsnorm", f"{h}", h))
    rows.append((name, "head", "norm", "rmsnorm", f"{h}", h))
    rows.append(_linear(name, "head", "lm_head", h, v, bias=False))
    return rows


def cnn_rows() -> Iterator[Row]:
    yield from inception_v3()
    yield from resnet18()
    yield from mobilenet_v2()


def llm_rows() -> Iterator[Row]:
    for name in LLAMA2_CONFIGS:
        yield from llama2(name)


def write(path: Path, rows: Iterator[Row]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def main() -> None:
    write(CNN_FILE, cnn_rows())
    write(LLM_FILE, llm_rows())
    print(f"wrote {CNN_FILE} and {LLM_FILE}")


if __name__ == "__main__":
    main()
