"""Intermediate-task training as a study condition: none vs text-only vs multimodal (image + text).

    pretrained encoder -> intermediate task (English) -> keep the text encoder's weights only
    -> target-task fine-tune on English -> zero-shot evaluation

A study lists its conditions (`intermediate: [none, text:digits-nli, multimodal:digits-ve,
multimodal-shuffled:digits-ve]`, see `conditions.py`); the runner asks `encoder_for_run` for the
encoder every run starts from. The stage is trained once per model and condition and cached
(`checkpoint.py`): by default once per target seed (`stage_seed: paired`), so the study's seed variance
includes the stage's; retrieval tasks embed with the same encoder, so "Tatoeba after fine-tuning on X"
is the condition `text:X` on a retrieval task. `stage_info` is what a run stores about its stage
(seed, lrs, how far the stage moved the encoder).

Modules: `conditions` (study syntax, labels, shared stage settings), `data` (multimodal tasks),
`vision` (image features: files or a frozen hub vision encoder), `fusion` (prefix and late fusion),
`stage` (training), `checkpoint` (cache, integrity check), `diagnostics` (weight change, CKA).
"""

from __future__ import annotations

from xlt.methods.intermediate.conditions import Condition, condition_from_label, parse_conditions


def encoder_for_run(cond: Condition | None, run, ref, tokenizer, cache_dir=None, runtime=None):
    """The encoder `run` starts from: pretrained for `none`, else after its intermediate stage
    (`cond`: the study's parsed condition for `run.intermediate`; None: parse the label)."""
    from xlt.methods.intermediate import checkpoint
    from xlt.models import registry
    from xlt.training.settings import Runtime

    cond = cond or condition_from_label(run.intermediate)
    if cond.kind == "none":
        return registry.load_encoder(ref)
    return checkpoint.load_encoder(cond, ref, tokenizer, run.stage_train, cond.stage_seed(run.seed), cache_dir,
                                 runtime or Runtime())


def stage_info(cond: Condition | None, run, ref, cache_dir=None) -> dict | None:
    """The run's `stage` record (`checkpoint.stage_record`), None for `none`; after `encoder_for_run`."""
    from xlt.methods.intermediate import checkpoint

    cond = cond or condition_from_label(run.intermediate)
    if cond.kind == "none":
        return None
    return checkpoint.stage_record(cond, ref, run.stage_train, cond.stage_seed(run.seed), run.seed, cache_dir)


__all__ = ["Condition", "condition_from_label", "encoder_for_run", "parse_conditions", "stage_info"]
