"""Digit entailment: an SNLI-VE-style task built from scikit-learn's 1,797 handwritten digits (no download).

scikit-learn ships the UCI "Optical Recognition of Handwritten Digits" test set (8x8 images, 16 grey
levels, digits 0-9 written by 43 people). Every image becomes three premise/hypothesis pairs:

- `entailment`    - a statement the digit makes true: "The number is even.", "The number is greater
  than three.", "The digit is seven.", "The number is prime." (families picked uniformly, then one
  true statement of the family);
- `contradiction` - a false statement from the same families;
- `neutral`       - a statement the image cannot settle: "The writer is left-handed.", "The writer's
  favourite number is four." (number words occur here too, so "has a number word" is no shortcut).

Two twins share the images' hypotheses exactly (same pairs, same labels, same splits):

- `digits-nli` (this module, a text task): premise = an English sentence naming the digit,
  "A handwritten seven." - what a perfect caption would say;
- `digits-ve` (xlt.methods.intermediate.data, multimodal): premise = the image itself.

Splits are by image (sha1 of the index): 70 % train, 15 % dev, 15 % test, so dev/test images are
unseen. Limits: the hypotheses come from 5 fixed families plus neutral templates, so a model can learn
part of the label from the hypothesis alone (neutral templates are recognisable; "greater than one" is
more often true than "greater than eight") - the shuffled-image control measures exactly that share.
License: the UCI digits data are CC BY 4.0 (Alpaydin & Kaynak 1998); scikit-learn is BSD-3-Clause.
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache

import numpy as np

from xlt.tasks.base import Example, Task, register
from xlt.tasks.spec import TaskSpec, TaskType

LABELS = ("entailment", "neutral", "contradiction")
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VERSION = "1.0"  # bump when templates or splits change (it keys cached intermediate checkpoints)
_PREMISES = ("A handwritten {w}.", "The picture shows a handwritten {w}.", "Someone wrote the digit {w} by hand.",
             "A scanned image of the digit {w}.")
_NEUTRAL = ("The digit was written with a pencil.", "The person who wrote it is left-handed.",
            "It was written by a child.", "The writer was in a hurry.", "It was written on a Monday.",
            "The writer's favourite number is {w}.", "The writer has {w} brothers.",
            "The form had {w} other digits on it.")


def _families(d: int) -> list[list[tuple[str, bool]]]:
    """Statements about digit `d`, grouped by family, with whether `d` makes them true."""
    return [
        [("The number is even.", d % 2 == 0), ("The number is odd.", d % 2 == 1)],
        [("The number is prime.", d in (2, 3, 5, 7)), ("The number is not prime.", d not in (2, 3, 5, 7))],
        [(f"The number is greater than {WORDS[k]}.", d > k) for k in range(9)],
        [(f"The number is less than {WORDS[k]}.", d < k) for k in range(1, 10)],
        [(f"The digit is {WORDS[k]}.", d == k) for k in range(10)],
    ]


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """(images [1797, 8, 8] in 0..16, digit [1797]) as scikit-learn ships them."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images.astype(np.float32), data.target.astype(np.int64)


def split_of(index: int) -> str:
    u = int(hashlib.sha1(f"digits/{index}".encode()).hexdigest()[:12], 16) / 16**12
    return "train" if u < 0.70 else "dev" if u < 0.85 else "test"


@lru_cache(maxsize=None)
def pairs(split: str) -> tuple[tuple[int, str, str, str], ...]:
    """(image index, premise sentence, hypothesis, label) for every image of `split`, 3 pairs per image."""
    _, target = digits()
    out = []
    for i, d in enumerate(target.tolist()):
        if split_of(i) != split:
            continue
        rng = random.Random(f"digits-nli/{i}")  # str seeds are hashed with sha512: stable across runs
        premise = rng.choice(_PREMISES).format(w=WORDS[d])
        for truth in (True, False):
            family = rng.choice([f for f in _families(d) if any(t == truth for _, t in f)])
            out.append((i, premise, rng.choice([h for h, t in family if t == truth]),
                        "entailment" if truth else "contradiction"))
        out.append((i, premise, rng.choice(_NEUTRAL).format(w=rng.choice(WORDS)), "neutral"))
    return tuple(out)


@register
class DigitsNLI(Task):
    spec = TaskSpec(
        name="digits-nli",
        type=TaskType.CLASSIFICATION,
        description="Digit entailment, text twin of digits-ve: premise = a sentence naming a handwritten "
        "digit, hypothesis = a statement about the number (3 labels); English only",
        languages=("en",),
        source_language="en",
        metrics=("accuracy",),
        main_metric="accuracy",
        version=VERSION,
        labels=LABELS,
        train_source="scikit-learn digits, 70 % of the 1,797 images x 3 hypotheses (~3,800 pairs)",
        local_format="none: built from the digits shipped with scikit-learn; data_dir is ignored",
        license="CC BY 4.0 (UCI optical digits); scikit-learn BSD-3-Clause",
        citation="Alpaydin & Kaynak 1998, UCI Optical Recognition of Handwritten Digits; via scikit-learn",
    )

    def load_local(self, split: str, language: str) -> list[Example]:
        return [Example(text=p, text_pair=h, label=l, origin=f"digits:{i}")
                for i, p, h, l in pairs(split)]

    def embedded_source(self) -> str:
        import sklearn

        return f"{super().embedded_source()} scikit-learn {sklearn.__version__}"

    def hub_source(self) -> None:
        return None
