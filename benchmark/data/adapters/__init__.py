"""Adapters for review and click logs as users keep them, one module per format:

amazon     amazon-2018 (also the 2014 release), amazon-2023
mind       mind (MIND behaviors.tsv + news.tsv; real CTR negatives)
goodreads  goodreads (interactions JSON + optional books and genres JSON)
steam      steam (Kang & McAuley steam_reviews + optional steam_games)

The plain-text formats (MovieLens, RecBole atomic files, SASRec `user item` lines and S3-Rec
`user item item …` lines) live in benchmark/data/loaders.py. Every adapter is registered in
benchmark.data.ADAPTERS under the name above, so a plan's `datasets:` block names it as `adapter:`
with its options beside; each module's docstring lists the options.

Rules these adapters share (common.py): gzip files are read transparently; the catalogue holds the
items the interactions name (metadata files cover a whole category, so records of other items are
ignored); the first metadata record of an id counts and later repeats are ignored, their number
recorded in the source as `meta_repeats`; text fields are trimmed, runs of white space become one
space, and list-valued fields are joined (categories with ", ", description parts with " ").
"""
