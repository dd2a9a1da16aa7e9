"""The models glade ships, installed as package data `glade.models` (`shipped:NAME` in a
recipe or seat spec names `models/NAME`).

tiny-base/: the pretrained tiny creature base. Reproduced by `glade generate
recipes/generate/base.yaml && glade train recipes/train/tiny-base.yaml` (its meta.json and
README.md say how it was made and what it measured); the quickstart LoRA-tunes the creature
adapters on it.
"""
