"""SIB-200: topic classification of FLORES-200 sentences (7 labels, 205 language varieties).

Local layout (the official repo, github.com/dadelani/sib-200): `<data_dir>/<lang_Script>/{train,dev,
test}.tsv`, TSV with header `index_id<TAB>category<TAB>text`. `<data_dir>` may also be the repo root
(`data/annotated/` is then looked up below it). Test sets are parallel (same index_id in every language).
"""

from __future__ import annotations

from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import Example, Task, register
from xlt.tasks.formats import read_tsv
from xlt.tasks.spec import PARQUET_EXPORT, HubSource, TaskSpec, TaskType

# FLORES-200 varieties of SIB-200 (ISO 639-3 + ISO 15924 script), as the dataset names them.
_LANGS = """
ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn als_Latn amh_Ethi apc_Arab
arb_Arab arb_Latn ars_Arab ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn
bak_Cyrl bam_Latn ban_Latn bel_Cyrl bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt bos_Latn
bug_Latn bul_Cyrl cat_Latn ceb_Latn ces_Latn cjk_Latn ckb_Arab crh_Latn cym_Latn dan_Latn deu_Latn
dik_Latn dyu_Latn dzo_Tibt ell_Grek eng_Latn epo_Latn est_Latn eus_Latn ewe_Latn fao_Latn fij_Latn
fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn gaz_Latn gla_Latn gle_Latn glg_Latn grn_Latn guj_Gujr
hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn hun_Latn hye_Armn ibo_Latn ilo_Latn ind_Latn
isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn kac_Latn kam_Latn kan_Knda kas_Arab kas_Deva kat_Geor
kaz_Cyrl kbp_Latn kea_Latn khk_Cyrl khm_Khmr kik_Latn kin_Latn kir_Cyrl kmb_Latn kmr_Latn knc_Arab
knc_Latn kon_Latn kor_Hang lao_Laoo lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn ltg_Latn ltz_Latn
lua_Latn lug_Latn luo_Latn lus_Latn lvs_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Arab min_Latn
mkd_Cyrl mlt_Latn mni_Beng mos_Latn mri_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva nqo_Nkoo
nso_Latn nus_Latn nya_Latn oci_Latn ory_Orya pag_Latn pan_Guru pap_Latn pbt_Arab pes_Arab plt_Latn
pol_Latn por_Latn prs_Arab quy_Latn ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Olck scn_Latn
shn_Mymr sin_Sinh slk_Latn slv_Latn smo_Latn sna_Latn snd_Arab som_Latn sot_Latn spa_Latn srd_Latn
srp_Cyrl ssw_Latn sun_Latn swe_Latn swh_Latn szl_Latn tam_Taml taq_Latn taq_Tfng tat_Cyrl tel_Telu
tgk_Cyrl tgl_Latn tha_Thai tir_Ethi tpi_Latn tsn_Latn tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn
tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab uzn_Latn vec_Latn vie_Latn war_Latn wol_Latn xho_Latn
ydd_Hebr yor_Latn yue_Hant zho_Hans zho_Hant zsm_Latn zul_Latn
""".split()

_LABELS = ("science/technology", "travel", "politics", "sports", "health", "entertainment", "geography")
_SPLIT_FILE = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}


@register
class Sib200(Task):
    spec = TaskSpec(
        name="sib200",
        type=TaskType.CLASSIFICATION,
        description="Topic classification of FLORES-200 sentences (7 topics), parallel across languages",
        languages=tuple(_LANGS),
        source_language="eng_Latn",
        metrics=("accuracy",),
        main_metric="accuracy",
        version="1.0",
        labels=_LABELS,
        train_source="SIB-200 eng_Latn train (701) / dev (99)",
        hub=HubSource("Davlan/sib200", revision=PARQUET_EXPORT, config="{lang}", layout="parquet-export"),
        local_format="<dir>/<lang_Script>/{train,dev,test}.tsv with header index_id, category, text",
        license="CC BY-SA 4.0 (FLORES-200 text); repository Apache-2.0",
        citation="Adelani et al. 2023, SIB-200, arXiv:2309.07445",
    )

    def _root(self) -> Path:
        nested = self.data_dir / "data" / "annotated"
        return nested if nested.is_dir() else self.data_dir

    def has_local(self, split: str, language: str) -> bool:
        return (self._root() / language / _SPLIT_FILE[split]).is_file()

    def load_local(self, split: str, language: str) -> list[Example]:
        path = self._root() / language / _SPLIT_FILE[split]
        if not path.is_file():
            raise DataError(f"no {split} file for {language} (expected {path})", self.data_dir)
        return [
            Example(text=row["text"], label=row["category"], origin=f"{path}:{line}")
            for line, row in read_tsv(path, ("index_id", "category", "text"))
        ]

    def from_hub_record(self, record: dict, origin: str) -> Example:
        return Example(text=record["text"], label=record["category"], origin=origin)
