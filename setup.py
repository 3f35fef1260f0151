"""Install the aac package; every recipe stage is also a console script."""

from setuptools import find_packages, setup

STAGES = {
    "aac-make-mini-corpus": "make_mini_corpus",
    "aac-prep-data": "prep_data",
    "aac-train-tokenizer": "train_tokenizer",
    "aac-extract-feats": "extract_feats",
    "aac-merge-feats": "merge_feats",
    "aac-provenance": "provenance",
    "aac-merge-decodes": "merge_decodes",
    "aac-train": "train",
    "aac-decode": "decode",
    "aac-score": "score",
    "aac-results": "results",
    "aac-caption": "caption",
    "aac-pack": "pack",
    "aac-benchmark": "benchmark",
    "aac-install-metric-assets": "install_metric_assets",
    "aac-download-encoder": "download_encoder",
    "aac-paper-row": "paper_row",
    "aac-paper-results": "paper_results",
    "aac-scenarios": "scenarios",
    "aac-pretrain-encoder": "pretrain_encoder",
    "aac-export-encoder": "export_encoder",
    "aac-eval-retrieval": "eval_retrieval",
    "aac-eval-tagging": "eval_tagging",
    "aac-prep-tagging": "prep_tagging",
}

setup(
    name="aac",
    version="0.1.0",
    description="Recipe toolkit for automated audio captioning",
    packages=find_packages(include=["aac", "aac.*"]),
    python_requires=">=3.9",
    install_requires=[
        "torch",
        "torchaudio",
        "transformers",
        "sentencepiece",
        "kaldiio",
        "h5py",
        "pyyaml",
        "soundfile",
        "numpy",
        "tqdm",
        "matplotlib",
    ],
    extras_require={"metrics": ["aac-metrics==0.6.0", "pythonwrench==0.3.0"], "test": ["pytest"]},
    entry_points={
        "console_scripts": [f"{cmd} = aac.bin.{mod}:main" for cmd, mod in STAGES.items()]
    },
)
