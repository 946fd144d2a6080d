"""benchmarks/generator_comparison.py end to end: a tiny diffusion pipeline beside a tiny GAN."""

import json

from conftest import load_script
from factories_diffusion import make_labelled_folder, make_tiny_gan_pipeline, make_tiny_pipeline
from PIL import Image


def test_comparison_writes_one_table_and_one_picture_into_the_document(tmp_path, capsys):
    bench = load_script("benchmarks/generator_comparison.py")
    gan, diffusion = make_tiny_gan_pipeline(tmp_path / "gan"), make_tiny_pipeline(tmp_path / "diffusion")
    (gan / "MODEL_CARD.md").write_text(
        "- steps: 4 of 4; images seen: 1,024 (2 epochs)\n- device: cpu; training time 2.5 min\n"
    )
    data = make_labelled_folder(tmp_path / "data", n=12, size=24).parent
    doc = tmp_path / "docs" / "comparison.md"
    doc.parent.mkdir()
    doc.write_text(f"# Written by hand\n\nBefore.\n\n{bench.BEGIN}\nold table\n{bench.END}\n\nAfter.\n")
    cmd = [
        "--model",
        f"tiny GAN={gan}",
        "--model",
        f"tiny diffusion={diffusion}",
        "--data",
        str(data),
        "--labels",
        str(data / "labels.csv"),
        "--seeds",
        "2",
        "--control-seeds",
        "1",
        "--steps",
        "2",
        "--size",
        "8",
        "--cache",
        str(tmp_path / "cache"),
        "--doc",
        str(doc),
        "--note",
        "A smoke run.",
    ]
    assert bench.main(cmd) == 0
    text = doc.read_text()
    assert text.startswith("# Written by hand\n\nBefore.") and text.endswith("After.\n") and "old table" not in text
    assert "A smoke run." in text and "| tiny GAN | 16 | cpu, 2.5 min, 1,024 images |" in text
    assert "guidance 3 on 0%–100% of them" in text
    assert "| tiny diffusion | 16 | ? |" in text and "| training photos |" in text
    assert "![grids](generator_comparison/grids.png)" in text and "--model 'tiny GAN=" in text
    report = json.loads((doc.parent / "generator_comparison" / "comparison.json").read_text())
    gan_row, diffusion_row = report["generators"]["tiny GAN"], report["generators"]["tiny diffusion"]
    assert gan_row["kind"] == "GAN" and diffusion_row["kind"] == "diffusion"
    for row in (gan_row, diffusion_row):
        assert row["seconds_per_picture"] > 0 and row["diversity"] > 0 and row["frechet_features"] > 0
        assert row["detail"] > 0 and row["parameters_m"] > 0
    grids = Image.open(doc.parent / "generator_comparison" / "grids.png")
    assert grids.width == 2 * (5 * 10 + 2) + 3 * 12  # two 5 × 5 grids of 8-pixel pictures side by side
    assert "| tiny GAN |" in capsys.readouterr().out
    assert bench.main(cmd) == 0  # again: the section is replaced, not repeated
    assert doc.read_text().count(bench.BEGIN) == 1 and doc.read_text().count("| tiny GAN |") == 1
    begin, end = bench.markers("second")  # a second comparison in the same document leaves the first alone
    doc.write_text(doc.read_text() + f"\n{begin}\n{end}\n")
    before = doc.read_text().split(begin)[0]
    assert bench.main([*cmd, "--section", "second", "--out", str(tmp_path / "second")]) == 0
    text = doc.read_text()
    assert text.startswith(before) and text.count("| tiny GAN |") == 2 and text.rstrip().endswith(end)
    assert (tmp_path / "second" / "grids.png").is_file()
