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
    # Tested stacks: tools/requirements.txt (torch 2.11, transformers 4.57.6, numpy 1.26.4) and
    # tools/requirements-latest.txt (torch 2.11, transformers 5.24.0, numpy 2.4.6); the shared
    # cross-attention beam search was also checked on transformers 5.0.0 and 5.17.0. Lower
    # bounds are the tested releases (the other packages are the same on both stacks). No upper
    # bound is tighter than the next major release, so installing aac never moves a newer stack
    # down: on a transformers release outside 4.57-5.24 beam search takes HF's default path
    # (same captions, slower) with a warning (aac.model.SHARED_CROSS_ATTENTION_TESTED).
    install_requires=[
        "torch>=2.11,<3",
        "torchaudio>=2.11,<3",
        "transformers>=4.57,<6",
        "sentencepiece>=0.2.3,<1",
        "kaldiio>=2.18.1,<3",
        "h5py>=3.16,<4",
        "pyyaml>=6.0.4,<7",
        "soundfile>=0.14,<1",
        "numpy>=1.26,<3",
        "tqdm>=4.70,<5",
        "matplotlib>=3.11,<4",
    ],
    # What aac-metrics 0.6.0 imports for the metrics aac computes. aac-metrics itself goes in
    # with `pip install --no-deps aac-metrics==0.6.0` (tools/requirements-nodeps.txt): its
    # declared msclap (CLAP metrics only, never computed by aac) caps numpy<2, transformers<5.
    extras_require={
        "metrics": [
            "pythonwrench>=0.3,<0.4",
            "torchmetrics>=0.11.4",
            "sentence-transformers>=2.2.2",
            "requests",
        ],
        "test": ["pytest"],
    },
    entry_points={
        "console_scripts": [f"{cmd} = aac.bin.{mod}:main" for cmd, mod in STAGES.items()]
    },
)
