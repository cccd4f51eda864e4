"""What Chapter 7's model notebooks train: each model setting (:class:`Variant`, a row of a paper table), the
variants of Table 7.1 (:func:`baselines`), of Tables 7.3 / 7.4 and Fig. 7.6 (:func:`ablation_variants`) and of
Fig. 7.7 (:func:`analysis_variant`), and :class:`VariantSpec`: one variant trained under one experiment spec
(:class:`companion.ch7.config.MEPSNetExperimentConfig`) on one SHDD copy, the spec that
:func:`companion.zoo.find` looks up (``VariantSpec.zoo_entry(seed)``).

:func:`variant_key` is everything that shapes a trained variant's weights; its digest names the zoo entry and
the work-folder checkpoint. Used by :mod:`companion.ch7.training`, :mod:`companion.ch7.experiments` and
:mod:`companion.ch7.zoo` (notebooks ``07b_mepsnet_training``, ``07c_ablations``, ``07d_what_experts_learn``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from companion.ch7.config import MEPSNetExperimentConfig
from companion.ch7.shdd import clean_images
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError
from companion.models import MODELS, model_config, model_label
from companion.zoo import ZooEntry


@dataclass(frozen=True)
class Variant:
    """One model setting: ``label`` (the paper table's row), ``model`` (a MODELS key), size overrides."""

    label: str
    model: str
    overrides: dict = field(default_factory=dict)

    def kwargs(self, size: str) -> dict:
        return model_config(self.model, size, **self.overrides)


def baselines(cfg: MEPSNetExperimentConfig) -> list[Variant]:
    """The models of Table 7.1, in the table's order."""
    return [Variant(model_label(name), name) for name in cfg.models]


def analysis_variant() -> Variant:
    """The MEPSNet of ``07d_what_experts_learn`` (the profile's size)."""
    return Variant("MEPSNet", "mepsnet")


def table_overrides(variant: Variant, cfg) -> dict:
    """A variant's own settings, the row of its paper table (experts, sharing, blocks, templates), without the
    profile's ablation base (07c quick: the base where sharing matters, :data:`companion.ch7.config.ABLATIONS`),
    so that the row can be counted at the paper's size (07c's Table 7.3 parameter counts)."""
    base = dict(cfg.ablation_base)
    return {k: v for k, v in variant.overrides.items() if k not in base or base[k] != v}


def ablation_variants(cfg: MEPSNetExperimentConfig) -> dict[str, dict]:
    """The MEPSNet variants of Table 7.3, Table 7.4 and Fig. 7.6, at the profile's model size.

    Returns ``{"Table 7.3": {row label: Variant}, "Table 7.4": {...}, "blocks": {blocks per expert: Variant},
    "templates": {K: Variant}}``. Table 7.3 varies experts and sharing at the base depth; Table 7.4 keeps
    ``cfg.total_blocks`` SResidual blocks in the whole expert module (paper 36: one expert of 3 × 12, or three
    experts of 3 × 4); Fig. 7.6 sweeps the blocks per SRIR (shown as blocks per expert) and the templates K.
    """
    start = dict(cfg.ablation_base)  # the profile's ablation base (07c quick: sharing that matters)
    base = model_config("mepsnet", cfg.size, **start)
    srir = base["srir"]
    if cfg.total_blocks % (3 * srir):
        raise CompanionError(f"total_blocks={cfg.total_blocks} must split evenly over 3 experts × {srir} SRIRs")
    one, three = cfg.total_blocks // srir, cfg.total_blocks // (3 * srir)

    def mepsnet(label, **overrides):
        return Variant(label, "mepsnet", {**start, **overrides})

    return {
        "Table 7.3": {"No ME, no PS (1 expert)": mepsnet("No ME, no PS (1 expert)", experts=1, share=False),
                      "PS (1 expert)": mepsnet("PS (1 expert)", experts=1),
                      "ME+PS (3 experts)": mepsnet("ME+PS (3 experts)", experts=3),
                      "ME+PS (5 experts)": mepsnet("ME+PS (5 experts)", experts=5)},
        "Table 7.4": {"1 expert": mepsnet("1 expert", experts=1, share=False, blocks=one),
                      "3 experts": mepsnet("3 experts", experts=3, share=False, blocks=three),
                      "1 expert +PS": mepsnet("1 expert +PS", experts=1, blocks=one),
                      "3 experts +PS": mepsnet("3 experts +PS", experts=3, blocks=three)},
        "blocks": {srir * b: mepsnet(f"{srir * b} blocks per expert", blocks=b) for b in cfg.blocks_sweep},
        "templates": {k: mepsnet(f"K = {k}", templates=k) for k in cfg.templates_sweep},
    }


def model_lr(cfg: MEPSNetExperimentConfig, model: str | None) -> float:
    """The learning rate ``model`` trains with: its entry in ``cfg.model_lr``, else ``cfg.train.lr``."""
    return dict(cfg.model_lr).get(model, cfg.train.lr)


def train_config(cfg: MEPSNetExperimentConfig, seed: int, model: str | None = None) -> TrainConfig:
    """The profile's training settings with this run's seed, and ``model``'s own learning rate where the
    profile gives it one (``cfg.model_lr``; the schedule scales it like the shared one)."""
    return replace(cfg.train, seed=seed, lr=model_lr(cfg, model))


def build_key(variant: Variant, cfg: MEPSNetExperimentConfig) -> str:
    """Variants that build the same model (name and arguments) share this key, and their runs."""
    return json.dumps([variant.model, variant.kwargs(cfg.size)], sort_keys=True)


def variant_key(variant: Variant, cfg: MEPSNetExperimentConfig, seed: int, data_seed: int) -> dict:
    """Everything that shapes a trained variant's weights: model and arguments, initialisation, training
    settings and seed, loss, patches and their channel permutation, and the data (source, images and their
    split, versions, data seed). How often the loop validates or saves does not change the weights and is left out."""
    train = {k: v for k, v in asdict(train_config(cfg, seed, variant.model)).items()
             if k not in ("checkpoint_every", "val_every")}
    data = {"source": cfg.source, "references": cfg.references, "crop": cfg.reference_crop,
            "versions": cfg.versions, "seed": data_seed, "level": cfg.train_level}
    if cfg.source == "bundled":
        data["images"] = {c.stem: c.split for c in clean_images("bundled")} if not cfg.references else cfg.references
    key = {"model": variant.model, "kwargs": variant.kwargs(cfg.size), "init": MODELS[variant.model].init,
           "train": train, "loss": cfg.loss, "patch": cfg.patch_size, "data": data}
    if cfg.permute_channels:  # only when on, so the digests of runs trained before the option stay valid
        key["permute_channels"] = True
    return key


def slug(variant: Variant, cfg: MEPSNetExperimentConfig) -> str:
    """``mepsnet`` for the profile's own size (07c: its ablation base), else the settings that differ:
    ``mepsnet-experts1-share0``."""
    start = dict(cfg.ablation_base) if variant.model == "mepsnet" else {}
    base = model_config(variant.model, cfg.size, **start)
    changed = [f"{k}{int(v) if isinstance(v, bool) else v}" for k, v in sorted(variant.kwargs(cfg.size).items())
               if base.get(k) != v]
    return "-".join([variant.model, *changed])


@dataclass(frozen=True)
class VariantSpec:
    """One variant trained under one experiment spec (``experiment``: split, model sizes, recipe, seeds) on the
    SHDD copy made with ``data_seed``; :func:`companion.zoo.find` calls :meth:`zoo_entry`."""

    variant: Variant
    experiment: MEPSNetExperimentConfig
    data_seed: int = 0

    def key(self, seed: int) -> dict:
        """:func:`variant_key` of this variant trained with ``seed``."""
        return variant_key(self.variant, self.experiment, seed, self.data_seed)

    def zoo_entry(self, seed: int) -> ZooEntry:
        """The zoo entry this variant trains with ``seed``: ``ch7/<zoo group>/<slug>-seed<seed>``, keyed by
        :meth:`key` (the experiment's ``zoo_group`` says where the zoo holds its models)."""
        cfg = self.experiment
        return ZooEntry(name=f"ch7/{cfg.zoo_group}/{slug(self.variant, cfg)}-seed{seed}", model=self.variant.model,
                        config=self.variant.kwargs(cfg.size), key=self.key(seed), label=self.variant.label)
