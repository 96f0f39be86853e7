"""UD-POS: universal part-of-speech tagging (17 UPOS tags) on Universal Dependencies.

Languages: `languages: all` is XTREME-R's 38 (the set its averages use); every other language with a UD
treebank (UD's file-name codes: ISO 639-1, else 639-3, as `<code>_<treebank>-ud-<split>.conllu`; 188 in
the 2025 releases' 350 treebanks) is accepted by name and found by `languages: available`. Not accepted:
the code-switching treebanks (qaf Maghrebi Arabic-French, qfn Frisian-Dutch, qtd Turkish-German, qte
Telugu-English, qti), which have no single language to place in a family; qpm (Pomak) is accepted.

Local layouts, below `data_dir`:
1. A UD release folder (e.g. ud-treebanks-v2.7/) of treebank folders `UD_<Lang>-<TB>/`, or one treebank
   folder. For language `xx` every `xx_*-ud-<split>.conllu` file there is read, in file-name order, and
   concatenated: XTREME's rule (scripts/download_data.sh takes every treebank whose file prefix is the code).
   English train is thus every English treebank present; with UD_English-EWT alone it is EWT, the source
   XTREME-R names. `files(split, lang)` lists the files a split is read from. No train file -> DataError
   naming the expected pattern (no substitute split).
2. XTREME's preprocessed download: `udpos/<split>-<lang>.tsv` (or in `data_dir` itself), `token<TAB>tag`
   lines with a blank line between sentences; test files hold tokens only (labels stripped), which
   `Task.load` refuses (no gold to score against).
   Read only when no treebank file matches.

Reading CoNLL-U, a sentence is its syntactic words with their UPOS (column 4): multiword-token lines (`3-4`)
and empty nodes (`5.1`) are skipped; forms are kept verbatim; sentences whose every form is "_" (treebanks
released without text) are dropped (XTREME drops those and also any with all forms but one "_").
XTREME differs on multiword tokens: it replaces the words of each by the fused surface form, tagged with
the UPOS of the span's syntactic head (its ud-conversion-tools, --replace_subtokens_with_fused_forms), so
token counts differ for languages with contractions (de fr es it pt ar he tr ...). It also deletes spaces
and ZWNJ inside tokens.

Metric: main_metric "f1" is XTREME's: seqeval's f1_score over the tag sequences (evaluate.py), which reads
every maximal run of identical tags as one span (tags starting with B/I/E/S, e.g. INTJ, SCONJ, SYM, get
seqeval's prefix semantics). It tracks but does not equal token accuracy, which is also reported.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from xlt.errors import XltError
from xlt.tasks.base import TaggingExample, Task, register
from xlt.tasks.conll import UPOS, first_file, read_conll_ner, read_conllu
from xlt.tasks.spec import HubSource, TaskSpec, TaskType

LANGUAGES = tuple("af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi "
                  "yo zh lt pl uk wo ro".split())
# Every other UD language (treebank file codes of the 2025 releases), code-switching treebanks excepted.
RELEASED = tuple("""
ab abq aii ajp akk aln am ang apu aqz arh arr as axm az azz bar be bej bho bm bn bor br brh bxr ca ceb ckb ckt
cop cpg cs ctn cu cy da egy eme eo ess fo frm fro ga gd gl gn gor got grc gsw gu gub gun gv gwi gya ha hbo hit
hr hsb ht hy hyw is jaa jv ka kbc kmr koi kpv krl ky la lb lij ltg lv lzh mdf mk ml mpu mt myu myv nap naq nds
ne nhi nmf no oc oge olo or orv ota otk pa pad pay pcm pro ps qpm quc ruc sa sab sah say scn sd sdh sga si sjo
sk sl sme sms sq sr ssp sv swl tn tpn tt ug urb uz vep wbp wuu xav xcl xnr xpg xum yi yrk yrl yue zza""".split())
# google/xtreme names its udpos configs by English language name; XTREME v1 lacks lt pl uk wo ro.
_HUB_NAMES = dict(zip(
    "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh".split(),
    "Afrikaans Arabic Bulgarian German Greek English Spanish Estonian Basque Persian Finnish French Hebrew Hindi "
    "Hungarian Indonesian Italian Japanese Kazakh Korean Marathi Dutch Portuguese Russian Tamil Telugu Thai "
    "Tagalog Turkish Urdu Vietnamese Yoruba Chinese".split()))


@register
class UdPos(Task):
    spec = TaskSpec(
        name="udpos",
        type=TaskType.TAGGING,
        description="Universal POS tagging (17 UPOS tags) on Universal Dependencies treebanks",
        languages=LANGUAGES,
        source_language="en",
        metrics=("f1", "accuracy"),
        main_metric="f1",
        version="1.0",
        labels=UPOS,
        category="structured prediction",
        train_source="UD English train (XTREME: all English treebanks of UD v2.7; EWT = 12,543 sentences)",
        # Commit pinned by another project (google/xtreme MLQA parquet files at this revision); config
        # udpos.<English name>: XTREME v1's 33 languages from UD v2.5 (per its former loading script).
        hub=HubSource("google/xtreme", revision="ec5f1f46e9af79639a90684a7a70a956c4998f04",
                      config="udpos.{lang}"),
        local_format="<dir>/UD_*/<lang>_*-ud-{train,dev,test}.conllu (all treebanks of a language, "
        "concatenated) or XTREME's <dir>/udpos/{train,dev,test}-<lang>.tsv",
        license="per treebank (CC BY-SA, CC BY, some CC BY-NC-SA: e.g. eu BDT, ta TTB, tr IMST)",
        citation="de Marneffe et al. 2021, Universal Dependencies, Computational Linguistics; "
        "Nivre et al. 2020, UD v2, LREC",
        released_languages=RELEASED,
    )

    def files(self, split: str, language: str) -> list[Path]:
        """The treebank files that `split` of `language` is read from (file-name order)."""
        name = f"{language}_*-ud-{split}.conllu"
        found = [*self.data_dir.glob(f"UD_*/{name}"), *self.data_dir.glob(name)]
        return sorted(found, key=lambda p: p.name)

    def _tsv_candidates(self, split: str, language: str) -> list[Path]:
        return [self.data_dir / "udpos" / f"{split}-{language}.tsv", self.data_dir / f"{split}-{language}.tsv"]

    def has_local(self, split: str, language: str) -> bool:
        return bool(self.files(split, language)) or any(p.is_file() for p in self._tsv_candidates(split, language))

    def load_local(self, split: str, language: str) -> list[TaggingExample]:
        if files := self.files(split, language):
            return [TaggingExample(s.tokens, s.tags, f"{path}:{s.line}")
                    for path in files for s in read_conllu(path) if any(t != "_" for t in s.tokens)]
        candidates = [self.data_dir / f"UD_*/{language}_*-ud-{split}.conllu", *self._tsv_candidates(split, language)]
        path = first_file(candidates, f"UD-POS {split} file for {language!r}", self.data_dir)
        return [TaggingExample(s.tokens, s.tags, f"{path}:{s.line}")
                for s in read_conll_ner(path, UPOS, tagged=None if split == "test" else True, sep="\t")]

    def load_hub(self, split: str, language: str) -> list:
        if language not in _HUB_NAMES:
            raise XltError(f"udpos: {language!r} is not in google/xtreme (XTREME v1 has 33 UD-POS languages; "
                           "lt pl uk wo ro are XTREME-R additions): pass a UD folder as data_dir")
        source = replace(self.spec.hub, config=f"udpos.{_HUB_NAMES[language]}")
        from xlt.tasks.hub import load_hub_split  # at call time, as Task.load_hub does

        records = load_hub_split(source, split, language, self.hub_split_name)
        origin = f"{source.dataset}[{source.config}/{split}]"
        return [self.from_hub_record(r, f"{origin}#{i}") for i, r in enumerate(records)]

    def from_hub_record(self, record: dict, origin: str) -> TaggingExample:
        tags = tuple(UPOS[t] if isinstance(t, int) else t for t in record["pos_tags"])  # ClassLabel ids
        return TaggingExample(tuple(record["tokens"]), tags, origin)

