"""Analysis of stored results: pure functions over the DataFrames of the store's read API
(`Store.scores_frame`, `Store.example_frame`, `Store.runs_frame`); nothing here opens the database.

condition  the one condition type (model / method / intermediate) and its label
results    per-language tables (mean ± std over seeds, XTREME averages, transfer gap)
xtreme     XTREME-R task, category and overall scores
families   family tables, paired comparisons, gap regression (bootstrap CIs from stats)
stats      bootstrap, permutation test, Holm (statsmodels), the mean/std/n aggregate
units      scores are [0, 1] in frames; people read points (x100), labelled
"""
