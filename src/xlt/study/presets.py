"""Named per-model x per-task fine-tuning settings (`preset: xtreme` in a study file).

`xtreme` reproduces the English fine-tuning settings of XTREME's baseline scripts
(github.com/google-research/xtreme, scripts/train_<task>.sh, read at the commits named below). The
scripts have two branches: `xlm-roberta-large` (and XLM-100) get a smaller batch with more
accumulation and, for sentence classification, a larger learning rate; every other model (mBERT,
XLM-R base) takes the other branch. Here the large branch applies to the model names `xlmr-large` and
`xlm-roberta-large` (or a hub id / path ending in it), the other branch to everything else.

What is reproduced: epochs, lr, batch_size x grad_accum (= the scripts' per_gpu_train_batch_size x
gradient_accumulation_steps on one GPU), max_length, weight decay and warmup (the scripts' argparse
defaults where they pass none: weight_decay 0.0, warmup_steps 0; third_party/run_classify.py), and
checkpoint selection every `save_steps` on English dev (`eval_every`). What cannot be, and differs:
- QA warmup is 500 *steps* in train_qa.sh; xlt has a ratio: 0.06 = 500 / ~8,300 steps (SQuAD v1.1,
  ~88.6k windows / 32 x 3 epochs); TyDiQA-GoldP (~360 steps) never finishes XTREME's warmup, so 1.0.
- QA `--save_steps -1`: XTREME keeps the final model; xlt keeps the best epoch on English dev.
- QA `--doc_stride 128` is the step between window starts in HF's run_squad.py; xlt's QA kind
  (training/kinds/qa.py DOC_STRIDE = 128) uses 128 as the *overlap* of windows: contexts longer
  than one 384-token window are cut differently (a fixed constant there, not a setting here).
- XCOPA: XTREME-R trains on SIQA first, then COPA; xlt's xcopa task trains on COPA only.
- Retrieval (tatoeba, mewslix, lareqa): XTREME-R fine-tunes Mewsli-X and LAReQA and embeds Tatoeba
  with layer 7 (13 for large) of the encoder; xlt evaluates all three with mean-pooled embeddings and
  no task training, so only their max_length is taken.
Tasks outside the table (sib200, cldr-names, ...) keep the study's `train:`.
"""

from __future__ import annotations

# XTREME scripts (google-research/xtreme @ 091824888a60162ad9ea10d7fe67aa561615e4ca unless noted)
_CLASSIFY_BASE = {"batch_size": 8, "grad_accum": 4, "weight_decay": 0.0, "warmup_ratio": 0.0}
_CLASSIFY_LARGE = {"batch_size": 2, "grad_accum": 16, "weight_decay": 0.0, "warmup_ratio": 0.0}
_QA = {"epochs": 3.0, "lr": 3e-5, "max_length": 384, "batch_size": 4, "grad_accum": 8, "weight_decay": 0.0001}

XTREME: dict[str, tuple[dict, dict]] = {  # task -> (other models, xlm-roberta-large)
    # scripts/train_xnli.sh: LR 2e-5 (large 3e-5), EPOCH 5, MAXL 128, batch 8 x acc 4 (large 2 x 16),
    # --save_steps 100 --eval_all_checkpoints (best on English dev)
    "xnli": ({**_CLASSIFY_BASE, "epochs": 5.0, "lr": 2e-5, "max_length": 128, "eval_every": 100},
             {**_CLASSIFY_LARGE, "epochs": 5.0, "lr": 3e-5, "max_length": 128, "eval_every": 100}),
    # scripts/train_xcopa.sh (@c061466856f8e04d403b43d2562657d6ee72424c): LR 2e-5 (large 3e-5), EPOCH 5,
    # MAXL 128, batch 8 x acc 4 (large 2 x 16); after SIQA there (not here)
    "xcopa": ({**_CLASSIFY_BASE, "epochs": 5.0, "lr": 2e-5, "max_length": 128},
              {**_CLASSIFY_LARGE, "epochs": 5.0, "lr": 3e-5, "max_length": 128}),
    # scripts/train_udpos.sh: NUM_EPOCHS 10, MAX_LENGTH 128, LR 2e-5, batch 8 x acc 4 (large 2 x 16),
    # --save_steps 500 --evaluate_during_training
    "udpos": ({**_CLASSIFY_BASE, "epochs": 10.0, "lr": 2e-5, "max_length": 128, "eval_every": 500},
              {**_CLASSIFY_LARGE, "epochs": 10.0, "lr": 2e-5, "max_length": 128, "eval_every": 500}),
    # scripts/train_panx.sh: NUM_EPOCHS 10, MAX_LENGTH 128, LR 2e-5, batch 8 x acc 4 (large 2 x 16),
    # --save_steps 1000
    "panx": ({**_CLASSIFY_BASE, "epochs": 10.0, "lr": 2e-5, "max_length": 128, "eval_every": 1000},
             {**_CLASSIFY_LARGE, "epochs": 10.0, "lr": 2e-5, "max_length": 128, "eval_every": 1000}),
    # scripts/train_qa.sh (SQuAD v1.1 for xquad and mlqa, TyDiQA-GoldP English for tydiqa; every model):
    # BATCH_SIZE 4, GRAD_ACC 8, MAXL 384, LR 3e-5, NUM_EPOCHS 3.0, --doc_stride 128, --warmup_steps 500,
    # --weight_decay 0.0001 (the 2020 version @1a82bf9 had 2 epochs and batch 4 x 4)
    "xquad": ({**_QA, "warmup_ratio": 0.06}, {**_QA, "warmup_ratio": 0.06}),
    "mlqa": ({**_QA, "warmup_ratio": 0.06}, {**_QA, "warmup_ratio": 0.06}),
    "tydiqa": ({**_QA, "warmup_ratio": 1.0}, {**_QA, "warmup_ratio": 1.0}),
    # scripts/run_tatoeba.sh: MAXL 512
    "tatoeba": ({"max_length": 512}, {"max_length": 512}),
    # scripts/train_mewslix.sh (@66367fa3275ada6b285950f6dac4ccdaa2ff1649): MAX_SEQ_LEN 64
    "mewslix": ({"max_length": 64}, {"max_length": 64}),
    # scripts/train_lareqa.sh (@4fd68dc6b53796413e05dc3f3f73c2106f88ec57): MAX_QUERY_LEN 96,
    # MAX_ANSWER_LEN 256 (xlt encodes question and answer sentence separately, with one max_length)
    "lareqa": ({"max_length": 256}, {"max_length": 256}),
}

PRESETS: dict[str, dict[str, tuple[dict, dict]]] = {"xtreme": XTREME}
LARGE_MODELS = ("xlmr-large", "xlm-roberta-large")


def is_large(model: str) -> bool:
    """Whether the scripts' `xlm-roberta-large` branch applies to a study's model name."""
    return model in LARGE_MODELS or model.rstrip("/").endswith("/xlm-roberta-large")


def preset_settings(preset: str, model: str, task: str) -> dict:
    """The preset's `train:` values for `model` on `task` ({} for a task it does not cover)."""
    row = PRESETS[preset].get(task)
    if row is None:
        return {}
    return dict(row[1] if is_large(model) else row[0])
