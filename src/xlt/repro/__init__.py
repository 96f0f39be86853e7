"""Reproduction artifacts: saved fine-tuned models, `xlt bundle` and `xlt verify`.

    saved.py    `runtime.save: best`: the selected checkpoint of a run (encoder + tokenizer + head + card)
    bundle.py   `xlt bundle --study S -o S.tar.gz`: everything a reviewer needs to check a study
    verify.py   `xlt verify S.tar.gz --runs K`: re-execute K runs of a bundle and compare the scores

Kept free of imports here: the run layer imports `saved` and must not pull in the study runner.
"""
